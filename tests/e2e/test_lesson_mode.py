"""Lesson mode and projector mode in real Chromium, asserting what a person in the room sees: the
step a link names, its text from static/lessons/course.json, the part of the page it lights in
view above the lesson panel with the rest dimmed, the arrow keys, the values its setup shows
(checked against Keras on the page's own input), label sizes and colour contrast in projector
mode, on both bundled models at 1440x900, 1920x1080 and 390x844."""

from __future__ import annotations

import json
import re
from pathlib import Path

import keras
import numpy as np
import pytest

pytestmark = pytest.mark.browser

COURSE = json.loads((Path(__file__).resolve().parents[2] / "static" / "lessons" / "course.json").read_text())
STEPS = COURSE["steps"]
MODELS = ("mnist-convnet", "mnist-lenet")
VIEWPORTS = {"1440x900": (1440, 900), "1920x1080": (1920, 1080), "390x844": (390, 844)}

# the opacity of a node as seen: its own times every ancestor's
EFFECTIVE_OPACITY = """node => { let o = 1; for (let n = node; n && n.nodeType === 1; n = n.parentElement) o *= Number(getComputedStyle(n).opacity); return o; }"""


def open_page(browser, live_server, query: str, viewport: tuple[int, int]):
    context = browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = context.new_page()
    page.errors = []
    page.on("console", lambda message: page.errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.goto(f"{live_server}/{query}")
    page.wait_for_selector("[data-testid=layer]")
    page.wait_for_function("() => window.convnetVis.answers > 0", timeout=60_000)
    return context, page


def wait_for_step(page, number: int) -> None:
    page.wait_for_function(f"() => document.querySelector('#lesson-mode').dataset.shown === '{number}'", timeout=60_000)


def resolve(reference: str, detail: dict) -> list[str]:
    """The layers a step's `layer:` reference names, read from the model's layer list here (the
    page's lesson.js resolves it on its own)."""
    drawn = [layer for layer in detail["layers"] if not layer["is_container"]]
    if reference in ("input", "output"):
        return ["input"] if reference == "input" else [drawn[-1]["name"]]
    kind, which = reference.split(".")
    names = [layer["name"] for layer in drawn if layer["kind"] == kind]
    return names if which == "all" else [names[int(which)]]


def expected_targets(step: dict, detail: dict) -> list[str]:
    """What the step lights, as the test names elements: a layer's name, or the selector."""
    names = []
    for reference in step["show"]:
        names += resolve(reference[6:], detail) if reference.startswith("layer:") else [reference]
    return names


def are_lit(page, names: list[str]) -> list[bool]:
    """Whether each named part (a layer's name or a CSS selector) is lit."""
    return page.evaluate(
        """names => names.map(name => {
            const node = /^[a-z][a-z0-9_]*$/.test(name) ? document.querySelector(`#network [data-layer="${name}"]`) : document.querySelector(name);
            return Boolean(node && node.classList.contains('lesson-focus'));
        })""",
        names,
    )


def blur(page) -> None:
    page.evaluate("document.activeElement && document.activeElement.blur()")


def first_target_in_view(page) -> dict:
    """The first lit part's box against the window's room above the lesson panel."""
    return page.evaluate(
        """() => {
            const r = document.querySelector('.lesson-focus').getBoundingClientRect();
            const room = innerHeight - document.querySelector('#lesson-mode').getBoundingClientRect().height;
            return {top: r.top, bottom: r.bottom, height: r.height, room};
        }"""
    )


def page_input(page) -> np.ndarray:
    data = page.evaluate("() => { const i = window.convnetVis.answer.input; return {shape: i.shape, values: Array.from(i.values)}; }")
    return np.asarray(data["values"], np.float32).reshape(data["shape"])


def layer_output(model, name: str, image: np.ndarray) -> np.ndarray:
    return keras.Model(model.inputs, model.get_layer(name).output)(image[None]).numpy()[0]


@pytest.mark.parametrize("size", VIEWPORTS)
@pytest.mark.parametrize("model_id", MODELS)
def test_walk_the_course_with_the_arrow_keys(browser, live_server, client, model_id, size):
    """Every step, from a link to step 1 and then the right arrow: its text, its lit part in view
    above the panel, the rest dimmed, the link naming it, and no sideways scrolling."""
    detail = client.get(f"/api/models/{model_id}").json()
    width, height = VIEWPORTS[size]
    context, page = open_page(browser, live_server, f"?model={model_id}&lesson=1", (width, height))
    try:
        assert 8 <= len(STEPS) <= 12
        for number, step in enumerate(STEPS, start=1):
            if number > 1:
                blur(page)
                page.keyboard.press("ArrowRight")
            wait_for_step(page, number)
            assert page.inner_text("[data-testid=lesson-title]") == step["title"]
            assert page.inner_text("[data-testid=lesson-look]") == step["look"]
            assert page.inner_text("[data-testid=lesson-ask]") == step["ask"]
            assert page.inner_text("[data-testid=lesson-count]").startswith(f"Step {number} of {len(STEPS)}")
            assert re.search(rf"[?&]lesson={number}(&|$)", page.url), page.url
            expected = expected_targets(step, detail)
            assert all(are_lit(page, expected)), (number, expected, are_lit(page, expected))
            assert page.locator(".lesson-focus").count() == len(expected)

            box = first_target_in_view(page)
            assert box["top"] >= -1 and box["top"] < box["room"], (number, box)
            if box["height"] <= box["room"]:
                assert box["bottom"] <= box["room"] + 1, (number, box)
            # lit parts at full strength, and the parts beside them dimmed to a quarter or less
            page.wait_for_function(
                f"() => [...document.querySelectorAll('.lesson-dim')].every(n => ({EFFECTIVE_OPACITY})(n) < 0.3)"
            )
            assert page.locator(".lesson-dim").count() >= 3
            lit = page.eval_on_selector_all(".lesson-focus", f"nodes => nodes.map({EFFECTIVE_OPACITY})")
            assert lit and all(opacity == 1 for opacity in lit), lit
            assert page.evaluate(f"() => ({EFFECTIVE_OPACITY})(document.querySelector('#lesson-mode'))") == 1

            overflow = page.evaluate("document.documentElement.scrollWidth")
            assert overflow <= width, (number, overflow)
        blur(page)
        page.keyboard.press("ArrowRight")  # past the last step: stays
        assert page.locator("#lesson-mode").get_attribute("data-step") == str(len(STEPS))
        assert page.locator("[data-testid=lesson-next]").is_disabled()
        assert not page.errors, page.errors
    finally:
        context.close()


@pytest.fixture(scope="module")
def step_page(browser, live_server):
    context, page = open_page(browser, live_server, "?model=mnist-convnet&lesson=3", (1440, 900))
    wait_for_step(page, 3)
    yield page
    errors = page.errors
    context.close()
    assert not errors, errors


def go_to(page, number: int) -> None:
    page.select_option("[data-lm=jump]", str(number))
    wait_for_step(page, number)


def test_a_step_link_opens_that_step_with_its_setup(step_page, keras_models):
    """?lesson=3 opens step 3: the convolution step on the conv1 cell the drawing excites most."""
    page = step_page
    assert page.inner_text("[data-testid=lesson-title]") == STEPS[2]["title"]
    assert page.locator("[data-testid=lesson-step]").evaluate("d => d.open")
    conv1 = layer_output(keras_models["mnist-convnet"], "conv1", page_input(page))
    shown = float(page.locator("[data-testid=step-sum]").get_attribute("data-value"))
    assert shown == pytest.approx(conv1.max(), abs=1e-4)
    assert conv1.max() > 0.1  # a real feature on the test digit, not an empty map


def test_relu_step_shows_no_negative_values(step_page):
    page = step_page
    go_to(page, 5)
    assert page.locator("[data-kl=relu]").is_checked()
    assert page.locator("[data-testid=kernel-preset]").input_value() == "sobel_x"
    page.wait_for_function("() => window.convnetVisLessons.views.kernel.answer?.kernel[0][0] === -1")
    values = page.evaluate(
        """async () => { const {decodeArray} = await import('/static/js/api.js');
           return Array.from(decodeArray(window.convnetVisLessons.views.kernel.answer.feature_map).data); }"""
    )
    assert min(values) == 0 and max(values) > 0.5
    go_to(page, 2)  # step 2 is the same lab without ReLU: the signed edges come back
    assert not page.locator("[data-kl=relu]").is_checked()
    page.wait_for_function(
        """async () => { const {decodeArray} = await import('/static/js/api.js');
           const a = window.convnetVisLessons.views.kernel.answer;
           return a && a.activation !== 'relu' && Math.min(...decodeArray(a.feature_map).data) < -0.5; }"""
    )


def test_receptive_field_step_pins_the_strongest_conv2_unit(step_page, keras_models):
    page = step_page
    go_to(page, 7)
    unit = re.search(r"[?&]unit=([^&]+)", page.url).group(1).replace("%3A", ":").replace("%2C", ",")
    layer, numbers = unit.split(":")
    channel, y, x = map(int, numbers.split(","))
    assert layer == "conv2"
    conv2 = layer_output(keras_models["mnist-convnet"], "conv2", page_input(page))
    assert conv2[y, x, channel] == pytest.approx(conv2.max(), abs=1e-4)
    page.wait_for_function("() => document.querySelector('[data-testid=edges]').dataset.unit === 'conv2'")
    assert int(page.get_attribute("[data-testid=edges]", "data-count")) > 0
    assert page.get_attribute("[data-testid=info]", "data-unit") == f"conv2:{channel},{y},{x}"


def test_explanation_and_filter_steps_pick_their_method_and_layer(step_page):
    page = step_page
    go_to(page, 10)
    assert page.locator("[data-testid=explain-method]").input_value() == "gradcam"
    assert page.locator("#explain").evaluate("n => n.classList.contains('lesson-focus')")
    go_to(page, 11)
    assert page.locator("[data-testid=atlas-layer]").input_value() == "conv1"


def test_keys_buttons_and_leaving(step_page):
    page = step_page
    go_to(page, 4)
    page.click("[data-testid=lesson-prev]")
    wait_for_step(page, 3)
    blur(page)
    page.keyboard.press("PageDown")  # a presenter remote's "next"
    wait_for_step(page, 4)
    page.keyboard.press("ArrowLeft")
    wait_for_step(page, 3)
    # an arrow key in a field belongs to the field, not to the lesson
    page.focus("[data-cs=channel]")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowLeft")
    page.wait_for_timeout(300)
    assert page.locator("#lesson-mode").get_attribute("data-step") == "3"
    go_to(page, 1)
    assert page.locator("[data-testid=lesson-prev]").is_disabled()
    page.click("[data-testid=lesson-close]")
    assert page.locator("#lesson-mode").is_hidden()
    assert page.locator(".lesson-dim, .lesson-focus").count() == 0
    assert "lesson=" not in page.url
    page.click("[data-testid=lesson-start]")
    wait_for_step(page, 1)
    assert "lesson=1" in page.url


def test_another_model_keeps_the_step_and_lights_its_layers(step_page):
    """Step 8 lights the dense layers of whichever model is open (runs last on this page)."""
    page = step_page
    go_to(page, 8)
    page.select_option("#model", "mnist-lenet")
    page.wait_for_function(
        """() => document.body.dataset.ready === 'mnist-lenet'
                 && ['dense1', 'dense2', 'output'].every(n => document.querySelector(`#network [data-layer=${n}]`)?.classList.contains('lesson-focus'))"""
    )
    assert page.inner_text("[data-testid=lesson-title]") == STEPS[7]["title"]
    assert page.locator(".lesson-focus").count() == 4  # flatten, dense1, dense2 and the output
    assert "lesson=8" in page.url and "model=mnist-lenet" in page.url


# -- projector mode --------------------------------------------------------------------------------

LABELS = ".network .layer-name, .network .layer-kind, .network .layer-shape, .network .bar-label, .network .bar-value"


def label_sizes(page) -> list[float]:
    return page.eval_on_selector_all(LABELS, "nodes => nodes.filter(n => n.getClientRects().length).map(n => parseFloat(getComputedStyle(n).fontSize))")


def luminance(css: str) -> float:
    r, g, b = (int(v) / 255 for v in re.findall(r"\d+(?:\.\d+)?", css)[:3])
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in (r, g, b)]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    """WCAG 2 contrast ratio of two CSS rgb() colours."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@pytest.mark.parametrize("model_id", MODELS)
def test_projector_mode_at_1920x1080(browser, live_server, model_id):
    context, page = open_page(browser, live_server, f"?model={model_id}&projector=1", (1920, 1080))
    try:
        sizes = label_sizes(page)
        assert len(sizes) >= 9 + 20  # every layer's name, kind and shape, and the ten bars' labels and values
        assert min(sizes) >= 18, sizes
        # no label is cut: each fits its row
        clipped = page.eval_on_selector_all(".network .layer-label", "nodes => nodes.filter(n => n.scrollHeight > n.clientHeight + 1).map(n => n.textContent)")
        assert not clipped, clipped
        # the network fills the screen: beside the pad, down to the bottom, every layer in it
        box = page.locator("#network").bounding_box()
        assert box["width"] >= 0.75 * 1920 and box["y"] + box["height"] >= 1080 - 24 and box["height"] >= 0.9 * 1080
        bottom = page.eval_on_selector_all("#network [data-testid=layer]", "nodes => Math.max(...nodes.map(n => n.getBoundingClientRect().bottom))")
        assert bottom <= box["y"] + box["height"]
        # the bars are tall enough to show a probability: the top class's bar fills most of its track
        fill = page.evaluate("() => { const b = document.querySelector('.bar.best'); return [b.querySelector('.bar-fill').getBoundingClientRect().height, b.querySelector('.bar-track').getBoundingClientRect().height]; }")
        assert fill[1] >= 40 and fill[0] > 0.5 * fill[1], fill
        assert "font=" not in page.url and page.locator("[data-testid=font-size]").input_value() == "22"

        # the font control, in the Room menu: the labels and the link follow
        page.click("[data-testid=room] summary")
        page.locator("[data-testid=font-size]").fill("30")
        page.wait_for_function("() => parseFloat(getComputedStyle(document.querySelector('.network .layer-name')).fontSize) === 30")
        assert "font=30" in page.url
        assert min(label_sizes(page)) == 30
        clipped = page.eval_on_selector_all(".network .layer-label", "nodes => nodes.filter(n => n.scrollHeight > n.clientHeight + 1).length")
        assert clipped == 0
        assert page.evaluate("document.documentElement.scrollWidth") <= 1920
        assert not page.errors, page.errors
    finally:
        context.close()


@pytest.mark.parametrize("theme", ["dark", "light"])
def test_theme_contrast_and_link(browser, live_server, theme):
    """Labels and the lesson text against what is behind them: at least 7:1 (WCAG AAA) in projector mode."""
    context, page = open_page(browser, live_server, f"?projector=1&font=10&theme={theme}&lesson=1", (1920, 1080))
    try:
        wait_for_step(page, 1)
        assert min(label_sizes(page)) == 18  # font=10 is raised to the projector's smallest size
        assert page.locator("[data-testid=theme]").input_value() == theme
        stage = page.evaluate("getComputedStyle(document.querySelector('#network')).backgroundColor")
        colours = page.eval_on_selector_all(LABELS, "nodes => [...new Set(nodes.map(n => getComputedStyle(n).color))]")
        assert colours
        for colour in colours:
            assert contrast(colour, stage) >= 7, (colour, stage)
        panel = page.evaluate("getComputedStyle(document.querySelector('#lesson-mode')).backgroundColor")
        for selector in ("[data-testid=lesson-look]", "[data-testid=lesson-title]"):
            assert contrast(page.evaluate(f"getComputedStyle(document.querySelector('{selector}')).color"), panel) >= 7
        assert luminance(stage) > 0.9 if theme == "light" else luminance(stage) < 0.01
        # the other theme from the Room menu: the page and its link follow
        other = "dark" if theme == "light" else "light"
        page.click("[data-testid=room] summary")
        page.select_option("[data-testid=theme]", other)
        assert f"theme={other}" in page.url or (other == "dark" and "theme=" not in page.url)
        assert page.evaluate("document.documentElement.dataset.theme") == other
        # leaving projector mode keeps the theme and drops the big labels
        page.uncheck("[data-testid=projector]")
        assert "projector=" not in page.url
        assert max(label_sizes(page)) < 18
        assert not page.errors, page.errors
    finally:
        context.close()
