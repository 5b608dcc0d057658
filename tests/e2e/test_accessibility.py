"""Keyboard and assistive technology in real headless Chromium: axe-core (vendored under
tests/e2e/vendor/axe-core, see its README) finds no serious or critical violation on the page's
states at 1440x900, 1920x1080 and 390x844; a layer of the 2D view is one tab stop whose arrow and Page keys
move the unit the Unit box, the highlighted cell and a screen reader's announcement follow (the
value checked against Keras on the page's own input); the output bars are reached by Tab, named
with their class and probability.

/docs is Swagger UI's page (static/vendor/swagger-ui), not ours, so it is not checked here."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest

from tests.e2e.conftest import unit_point

pytestmark = pytest.mark.browser

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
SIZES = {"1440x900": (1440, 900), "1920x1080": (1920, 1080), "390x844": (390, 844)}
# The page's states a class meets: both bundled models (one with a unit pinned, so the Unit box's
# computation is on screen), a lesson step, projector mode on the light theme, the light theme alone.
STATES = {
    "convnet": "?model=mnist-convnet&unit=conv2:3,5,6",
    "lenet": "?model=mnist-lenet",
    "lesson": "?lesson=1",
    "projector-light": "?projector=1&theme=light",
    "light": "?theme=light",
}
BLOCKING = ("serious", "critical")


def open_page(browser, live_server, query: str, size: tuple[int, int]):
    """A page on the app at `size`; console errors are collected in page.errors.

    bypass_csp: axe is injected as an inline script, which the page's Content-Security-Policy
    (rightly) refuses; the test lifts it for its own script only."""
    context = browser.new_context(viewport={"width": size[0], "height": size[1]}, bypass_csp=True)
    page = context.new_page()
    page.errors = []
    page.on("console", lambda message: page.errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.goto(f"{live_server}/{query}")
    page.wait_for_function("() => document.body.dataset.ready && window.convnetVis.answers > 0", timeout=60_000)
    return context, page


def axe_violations(page) -> list[dict]:
    """axe.run() on the whole document: every violation with its impact and failing targets."""
    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    return page.evaluate(
        """async () => {
            // a lesson step dims the rest of the page on purpose (opacity .22, css/lesson-mode.css):
            // its contrast is not checked (known, see the README); what the step lights is
            const result = await axe.run({ exclude: [".lesson-dim"] }, { resultTypes: ["violations"] });
            return result.violations.map((v) => ({
                id: v.id, impact: v.impact, help: v.help,
                nodes: v.nodes.map((n) => ({ target: n.target.join(" "), summary: n.failureSummary })),
            }));
        }"""
    )


def report(violations: list[dict]) -> str:
    lines = []
    for v in violations:
        lines.append(f"{v['id']} ({v['impact']}): {v['help']}")
        lines += [f"    {node['target']}: {' '.join(node['summary'].split())[:240]}" for node in v["nodes"][:12]]
        if len(v["nodes"]) > 12:
            lines.append(f"    ... and {len(v['nodes']) - 12} more")
    return "\n".join(lines)


def assert_no_blocking(page, where: str) -> None:
    blocking = [v for v in axe_violations(page) if v["impact"] in BLOCKING]
    assert not blocking, f"axe-core on {where}:\n{report(blocking)}"


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("state", STATES)
def test_axe_finds_no_serious_or_critical_violation(browser, live_server, state, size):
    context, page = open_page(browser, live_server, STATES[state], SIZES[size])
    try:
        if state == "lesson":
            page.wait_for_function("() => document.querySelector('#lesson-mode').dataset.shown === '1'", timeout=60_000)
        if state == "convnet":
            page.wait_for_function("() => document.querySelector('[data-testid=info]').textContent.includes('the model computed')")
        assert_no_blocking(page, f"/{STATES[state]} at {size}")
        assert not page.errors, page.errors
    finally:
        context.close()


def test_axe_on_an_explanation_and_the_open_lessons(browser, live_server):
    """What appears later: an explanation with its faithfulness curves, and every Lessons section
    opened (its controls, tables and status lines)."""
    context, page = open_page(browser, live_server, "?model=mnist-convnet", SIZES["1440x900"])
    try:
        page.click("[data-testid=explain-run]")
        page.wait_for_selector("[data-testid=faithfulness-chart]", timeout=60_000)
        page.eval_on_selector_all("details.lesson", "all => all.forEach((d) => { d.open = true; })")
        page.wait_for_selector("[data-testid=summary-table] tbody tr", timeout=60_000)
        page.wait_for_selector("[data-testid=pool-panels] canvas", timeout=60_000)
        assert_no_blocking(page, "/ with an explanation and every lesson open")
        assert not page.errors, page.errors
    finally:
        context.close()


def tab_to(page, selector: str, limit: int = 120) -> list[str]:
    """Press Tab until `selector` has the focus; -> what each press focused (a layer's name, a
    bar's class or a tag), so the tab stops of the network can be read from it."""
    stops = []
    for _ in range(limit):
        page.keyboard.press("Tab")
        stops.append(
            page.evaluate(
                """() => { const a = document.activeElement;
                    const layer = a.closest('[data-layer]');
                    return a.classList.contains('bar') ? `bar ${a.dataset.index}` : layer ? layer.dataset.layer : `<${a.tagName.toLowerCase()}>`; }"""
            )
        )
        if page.evaluate("s => document.activeElement.matches(s)", selector):
            return stops
    raise AssertionError(f"Tab never reached {selector}: {stops}")


def highlighted_box(page) -> dict:
    """The box the edge overlay draws round the shown unit, and the overlay's colour on its left
    side, in viewport coordinates."""
    return page.evaluate(
        """() => {
            const overlay = document.querySelector('[data-testid=edges]');
            const [x, y, w, h] = overlay.dataset.box.split(',').map(Number);
            const r = overlay.getBoundingClientRect();
            const ratio = overlay.width / r.width;
            const pixel = overlay.getContext('2d').getImageData(Math.round((x - 1) * ratio), Math.round((y + h / 2) * ratio), 1, 1).data;
            return { left: r.left + x, top: r.top + y, width: w, height: h, pixel: Array.from(pixel),
                     ink: getComputedStyle(document.querySelector('#network')).color };
        }"""
    )


def page_input(page) -> np.ndarray:
    data = page.evaluate("() => { const i = window.convnetVis.answer.input; return {shape: i.shape, values: Array.from(i.values)}; }")
    return np.asarray(data["values"], np.float32).reshape(data["shape"])


def test_a_layer_is_one_tab_stop_and_the_arrow_keys_move_its_unit(browser, live_server, client, keras_models):
    context, page = open_page(browser, live_server, "?model=mnist-convnet", SIZES["1440x900"])
    try:
        stops = tab_to(page, "[data-layer=conv1] canvas")
        # Tab: from the input layer straight to conv1, no stop on the input's 784 cells
        assert stops[-2:] == ["input", "conv1"], stops
        info = page.locator("[data-testid=info]")
        page.wait_for_function("() => document.querySelector('[data-testid=info]').dataset.unit === 'conv1:0,0,0'")
        assert "row 0, column 0, channel 0" in info.inner_text()

        for key in ["ArrowRight"] * 3 + ["ArrowDown"] * 2 + ["PageDown", "]", "PageUp"]:
            page.keyboard.press(key)
        page.wait_for_function("() => document.querySelector('[data-testid=info]').dataset.unit === 'conv1:1,2,3'")
        assert "conv1 (Conv2D), row 2, column 3, channel 1" in info.inner_text()
        assert page.get_attribute("[data-layer=conv1] canvas", "data-active") == "1,2,3"
        # the highlighted cell is the one at channel 1, row 2, column 3, drawn in the theme's ink
        centre = unit_point(page, "conv1", (1, 2, 3))
        box = highlighted_box(page)
        assert box["left"] <= centre[0] <= box["left"] + box["width"] and box["top"] <= centre[1] <= box["top"] + box["height"], (box, centre)
        ink = [int(v) for v in box["ink"][box["ink"].index("(") + 1 : -1].split(",")[:3]]
        assert box["pixel"][:3] == ink and box["pixel"][3] == 255, box
        # a screen reader hears the layer, the place and the value: Keras's on the page's own input
        said = page.inner_text("[data-testid=unit-said]")
        assert said.startswith("conv1, channel 1, row 2, column 3: "), said
        conv1 = keras.Model(keras_models["mnist-convnet"].inputs, keras_models["mnist-convnet"].get_layer("conv1").output)(page_input(page)[None]).numpy()[0]
        assert float(said.rsplit(": ", 1)[1]) == pytest.approx(conv1[2, 3, 1], abs=1e-3)
        assert page.get_attribute("#unit-said", "aria-live") == "polite"

        # Home/End: the row's ends; Ctrl+End: the map's last cell; at an edge the unit stays
        height, width, channels = conv1.shape
        page.keyboard.press("End")
        page.wait_for_function(f"() => document.querySelector('[data-testid=info]').dataset.unit === 'conv1:1,2,{width - 1}'")
        page.keyboard.press("ArrowRight")
        page.keyboard.press("Control+End")
        page.wait_for_function(f"() => document.querySelector('[data-testid=info]').dataset.unit === 'conv1:1,{height - 1},{width - 1}'")
        page.keyboard.press("Home")
        page.keyboard.press("ArrowUp")
        page.wait_for_function(f"() => document.querySelector('[data-testid=info]').dataset.unit === 'conv1:1,{height - 2},0'")
        # Enter pins the unit, as a click does: the link names it
        page.keyboard.press("Enter")
        page.wait_for_function(f"() => decodeURIComponent(location.search).includes('unit=conv1:1,{height - 2},0')")

        # the next Tab leaves conv1 for pool1, whose own unit starts at its first cell
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.closest('[data-layer]').dataset.layer") == "pool1"
        page.wait_for_function("() => document.querySelector('[data-testid=info]').dataset.unit === 'pool1:0,0,0'")
        # a vector layer: the arrows move one unit, down one drawn row of units
        tab_to(page, "[data-layer=dense1] canvas")
        columns = int(page.get_attribute("[data-layer=dense1] canvas", "data-columns"))
        detail = client.get("/api/models/mnist-convnet").json()
        dense1 = next(layer for layer in detail["layers"] if layer["name"] == "dense1")["output_shape"][0]
        page.keyboard.press("ArrowRight")
        page.keyboard.press("ArrowDown")
        expected = 1 + columns if 1 + columns < dense1 else 1
        page.wait_for_function(f"() => document.querySelector('[data-testid=info]').dataset.unit === 'dense1:{expected}'")
        assert page.inner_text("[data-testid=unit-said]").startswith(f"dense1, unit {expected}: ")
        assert not page.errors, page.errors
    finally:
        context.close()


@pytest.mark.parametrize("size", SIZES)
def test_the_output_bars_are_reached_by_tab_with_their_class_and_probability(browser, live_server, size):
    context, page = open_page(browser, live_server, "?model=mnist-lenet", SIZES[size])
    try:
        stops = tab_to(page, "[data-layer] .bar[data-index='0']")
        layers = page.eval_on_selector_all("[data-layer] canvas", "cs => cs.map((c) => c.closest('[data-layer]').dataset.layer)")
        # one stop per drawn layer, in order, then the bars
        network = [stop for stop in stops if stop in layers or stop.startswith("bar")]
        assert network == layers + ["bar 0"], stops
        probabilities = page.evaluate("() => Array.from(window.convnetVis.answer.probabilities)")
        best = int(np.argmax(probabilities))
        for index in range(10):
            if index:
                page.keyboard.press("Tab")
            focused = page.evaluate("() => ({ index: document.activeElement.dataset.index, role: document.activeElement.getAttribute('role'), label: document.activeElement.getAttribute('aria-label') })")
            percent = probabilities[index] * 100
            text = f"{percent:.0f}%" if probabilities[index] >= 0.995 else f"{percent:.1f}%"
            assert focused["index"] == str(index) and focused["role"] == "button"
            assert focused["label"] == f"{text} {index}: class {index}" + (", the prediction" if index == best else ""), focused
            # the Unit box follows the focused bar
            page.wait_for_function(f"() => document.querySelector('[data-testid=info]').dataset.unit === 'output:{index}'")
        page.keyboard.press("Enter")
        page.wait_for_function("() => decodeURIComponent(location.search).includes('unit=output:9')")
        assert not page.errors, page.errors
    finally:
        context.close()
