"""The defects a class hits (issue 27, item 8), each as a person sees it: bars that fill, the newest
drawing answered when the server returns, a pad that stays put, stale explanations marked, the
convolution step beside the network, a blank pad asking for a drawing, an upload replacing the pad's
digit, one warning, curves with axes, thumbnails big enough to see, a legend for signed maps,
padding in words, and the class labels on screen at 150% zoom."""

from __future__ import annotations

import io
import re

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tests.e2e.conftest import DIGITS, draw, unit_point

pytestmark = pytest.mark.browser

DESKTOP = {"width": 1440, "height": 900}
PROJECTOR = {"width": 1920, "height": 1080}
PHONE = {"width": 390, "height": 844}
SERVER_GONE = ("ERR_CONNECTION_REFUSED", "Failed to load resource", "Failed to fetch", "WebSocket connection")


def open_page(browser, url: str, viewport=DESKTOP, scale: float = 1, allowed_errors: tuple[str, ...] = ()):
    """A page on `url` once its model, engine and first input are in; console errors are collected."""
    context = browser.new_context(viewport=viewport, device_scale_factor=scale)
    page = context.new_page()
    page.errors = []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" and not any(a in m.text for a in allowed_errors) else None)
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.goto(url)
    page.wait_for_selector("body[data-ready]", timeout=60_000)
    page.wait_for_function("() => window.convnetVis.answers > 0", timeout=60_000)
    return context, page


@pytest.fixture
def opened(browser, live_server):
    """open(query, viewport=..., scale=...) -> page; every context is closed after the test and no
    console error is allowed."""
    contexts = []

    def open_(query: str = "", **options):
        context, page = open_page(browser, f"{live_server}/{query}", **options)
        contexts.append((context, page))
        return page

    yield open_
    for context, page in contexts:
        errors = list(page.errors)
        context.close()
        assert not errors, errors


def answers(page) -> int:
    return page.evaluate("window.convnetVis.answers")


def draw_digit(page, digit: str) -> None:
    """Clear the pad and draw `digit`; returns once the view shows the drawing's answer."""
    before = answers(page)
    page.click("[data-testid=clear]")
    draw(page, DIGITS[digit])
    page.wait_for_function(f"() => window.convnetVis.answers > {before + 1}", timeout=20_000)
    page.wait_for_timeout(150)  # the pen's last move answered too


def clear_pad(page) -> None:
    before = answers(page)
    page.click("[data-testid=clear]")
    page.wait_for_function(f"() => window.convnetVis.answers > {before}", timeout=20_000)


def box(page, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()


def in_viewport(rect: dict, viewport: dict, slack: float = 1) -> bool:
    return (
        rect["x"] >= -slack and rect["y"] >= -slack
        and rect["x"] + rect["width"] <= viewport["width"] + slack
        and rect["y"] + rect["height"] <= viewport["height"] + slack
    )


def pad_pixels(page) -> np.ndarray:
    return np.array(page.evaluate(
        """() => { const c = document.querySelector('[data-testid=draw-canvas]');
                   return Array.from(c.getContext('2d').getImageData(0, 0, c.width, c.height).data.filter((_, i) => i % 4 === 0)); }"""
    ))


# --- the invariance explorer's bars ------------------------------------------------------------

def test_invariance_bars_fill_in_proportion_to_the_probabilities(opened):
    page = opened("?model=mnist-convnet")
    draw_digit(page, "7")
    with page.expect_response(lambda r: "/sweep" in r.url and r.request.method == "POST") as sweep:
        page.click("[data-testid=lesson-invariance] summary")
    probabilities = sweep.value.json()["probabilities"][0]
    page.wait_for_selector("[data-testid=invariance-bars] .bar")
    page.locator("[data-testid=invariance-bars]").scroll_into_view_if_needed()
    bars = page.eval_on_selector_all(
        "[data-testid=invariance-bars] .bar",
        """bars => bars.map(b => { const t = b.querySelector('.bar-track').getBoundingClientRect();
                                   const f = b.querySelector('.bar-fill').getBoundingClientRect();
                                   return [t.width, t.height, f.width, f.height, f.left - t.left]; })""",
    )
    assert len(bars) == 10
    for (track_w, track_h, fill_w, fill_h, offset), p in zip(bars, probabilities):
        assert track_w >= 100, f"a bar's track is {track_w:.0f} px wide"
        assert fill_h >= track_h - 1 and fill_h >= 6, f"a bar's fill is {fill_h:.1f} px tall in a {track_h:.1f} px track"
        assert abs(fill_w - p * track_w) <= 2 and abs(offset) <= 1, f"p = {p:.3f}: fill {fill_w:.1f} of {track_w:.1f} px"
    best = int(np.argmax(probabilities))
    assert bars[best][2] >= 0.5 * bars[best][0]  # the drawn 7's bar is visibly the longest


# --- the server's outage and return -------------------------------------------------------------

@pytest.mark.parametrize("engine", ["server", "browser"])
def test_after_the_server_returns_the_newest_drawing_is_answered_and_the_pad_stays_put(browser, engine):
    """With the view computed on the server (engine=server), a drawing made while it is away goes
    out when it returns; in both cases the outage's notices never move the pad."""
    import tempfile

    from bench.server import Server

    cache = tempfile.mkdtemp(prefix="convnet-vis-cache-")
    server = Server(cache=cache)
    server.wait_healthy()
    context = None
    try:
        context, page = open_page(browser, f"{server.url}/?model=mnist-convnet&engine={engine}", allowed_errors=SERVER_GONE)
        computed_in = "live" if engine == "server" else "browser"
        page.wait_for_selector(f"[data-testid=computed-in][data-computed-in={computed_in}]")
        draw_digit(page, "1")
        page.wait_for_function("() => document.querySelector('[data-testid=prediction]').textContent.trim() === '1'", timeout=20_000)
        pad_before = box(page, "[data-testid=draw-canvas]")
        server.stop()

        # a stroke with the server gone: the pad stays where the pen is, during and after the stroke
        page.click("[data-testid=clear]")
        pad = page.locator("[data-testid=draw-canvas]").bounding_box()
        stroke = DIGITS["7"][0]
        page.mouse.move(pad["x"] + stroke[0][0], pad["y"] + stroke[0][1])
        page.mouse.down()
        moved = []
        for (x0, y0), (x1, y1) in zip(stroke, stroke[1:]):
            for step in range(1, 17):
                t = step / 16
                page.mouse.move(pad["x"] + x0 + (x1 - x0) * t, pad["y"] + y0 + (y1 - y0) * t)
                page.wait_for_timeout(40)
                moved.append(box(page, "[data-testid=draw-canvas]")["y"] - pad_before["y"])
        page.mouse.up()
        away = "[data-testid=server-away]:not([hidden])" if engine == "browser" else "[data-testid=computed-in]:not([data-computed-in=live])"
        page.wait_for_selector(away, timeout=15_000)
        page.wait_for_timeout(500)
        moved.append(box(page, "[data-testid=draw-canvas]")["y"] - pad_before["y"])
        assert max(abs(m) for m in moved) < 1, f"the pad moved by {max(moved, key=abs):.0f} px during the outage"
        drawn = page.evaluate("window.convnetVis.drawing.rows()")

        server = Server(cache=cache, port=server.port)
        server.wait_healthy()
        # Keras's answer for the drawing on the pad, from the server that came back
        expected = page.evaluate(
            """async (pixels) => {
                const r = await fetch('/api/models/mnist-convnet/predict?preprocess=digit', {
                    method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({ pixels }) });
                return (await r.json()).prediction.top[0].label;
            }""",
            drawn,
        )
        assert expected == "7"
        page.wait_for_function(
            "label => document.querySelector('[data-testid=prediction]').textContent.trim() === label", arg=expected, timeout=30_000
        )
        assert page.inner_text("[data-testid=prediction]").strip() == expected
        assert box(page, "[data-testid=draw-canvas]")["y"] == pytest.approx(pad_before["y"], abs=1)
        assert not page.errors, page.errors
    finally:
        if context is not None:
            context.close()
        server.stop()


# --- explanations made for an earlier input ---------------------------------------------------

def test_an_explanation_for_an_earlier_drawing_is_marked_stale(opened):
    page = opened("?model=mnist-convnet")
    draw_digit(page, "7")
    page.click("[data-testid=explain-run]")
    page.wait_for_selector("[data-testid=explain-overlay]")
    page.wait_for_selector("[data-testid=explain-run]:not([disabled])")
    assert page.locator("[data-testid=explain-stale]").is_hidden()
    assert float(page.eval_on_selector("#explain-result figure", "f => getComputedStyle(f).opacity")) == 1

    draw_digit(page, "1")
    stale = page.locator("[data-testid=explain-stale]")
    stale.wait_for(state="visible", timeout=5_000)
    assert "earlier" in stale.inner_text()
    assert in_viewport(stale.bounding_box(), DESKTOP) or stale.bounding_box()["height"] >= 10
    assert float(page.eval_on_selector("#explain-result figure", "f => getComputedStyle(f).opacity")) <= 0.6
    # explaining again makes it current
    page.click("[data-testid=explain-run]")
    page.wait_for_function("() => document.querySelector('[data-testid=explain-stale]').hidden", timeout=30_000)
    assert float(page.eval_on_selector("#explain-result figure", "f => getComputedStyle(f).opacity")) == 1


# --- "how was this computed?" -------------------------------------------------------------------

@pytest.mark.parametrize("viewport", [DESKTOP, PROJECTOR], ids=["1440x900", "1920x1080"])
def test_how_was_this_computed_opens_beside_the_network_with_the_units_place(opened, viewport):
    page = opened("?model=mnist-convnet", viewport=viewport)
    draw_digit(page, "7")
    page.mouse.click(*unit_point(page, "conv1", (2, 9, 14)))  # pinned
    page.wait_for_selector("[data-testid=how]")
    scroll_before = page.evaluate("window.scrollY")
    page.click("[data-testid=how]")
    page.wait_for_function("() => document.querySelector('[data-testid=step-sum]').textContent.length > 0", timeout=20_000)
    page.wait_for_timeout(300)
    scrolled = page.evaluate("window.scrollY") - scroll_before
    assert abs(scrolled) < 50, f"the page scrolled {scrolled} px away from the network"
    panel = box(page, "[data-testid=lesson-step]")
    assert in_viewport(panel, viewport), f"the step view is at {panel} in a {viewport} window"
    # the network stays in view beside it: most of its width and its first layers
    network = box(page, "#network")
    visible = max(0, min(network["x"] + network["width"], panel["x"]) - max(network["x"], 0))
    assert visible >= 0.5 * network["width"], f"only {visible:.0f} of the network's {network['width']:.0f} px are beside the step view"
    conv1 = box(page, "[data-layer=conv1] canvas")
    assert in_viewport(conv1, viewport) and conv1["x"] + conv1["width"] <= panel["x"] + 1
    fields = [page.input_value(f"[data-testid=lesson-step] [data-cs={name}]") for name in ("channel", "row", "col")]
    assert fields == ["2", "9", "14"], f"Channel/Row/Column read {fields}"
    assert re.search(r"row 9, column 14", page.inner_text("[data-testid=lesson-step]")), page.inner_text("[data-testid=lesson-step]")
    # stepping moves the fields with the window
    page.click("[data-testid=step-next]")
    assert [page.input_value(f"[data-testid=lesson-step] [data-cs={name}]") for name in ("row", "col")] == ["9", "15"]
    # closing puts it back under the Lessons heading
    page.click("[data-testid=step-undock]")
    assert page.evaluate("window.scrollY") - scroll_before == 0
    assert not in_viewport(box(page, "[data-testid=lesson-step]"), viewport)


# --- a blank pad --------------------------------------------------------------------------------

@pytest.mark.parametrize("model_id, viewport", [("mnist-lenet", DESKTOP), ("mnist-convnet", DESKTOP), ("mnist-lenet", PHONE)], ids=["lenet", "convnet", "lenet-390x844"])
def test_a_blank_pad_asks_for_a_drawing_instead_of_predicting(opened, model_id, viewport):
    page = opened(f"?model={model_id}", viewport=viewport)
    assert re.fullmatch(r"\d", page.inner_text("[data-testid=prediction]").strip())  # the sample digit
    clear_pad(page)
    shown = page.inner_text(".prediction-box")
    assert "draw a digit" in shown.lower(), shown
    assert page.locator("#prediction-detail").bounding_box()["width"] <= viewport["width"]
    assert "%" not in shown and not re.search(r"\d", page.inner_text("[data-testid=prediction]")), shown
    draw_digit(page, "7")
    assert page.inner_text("[data-testid=prediction]").strip() == "7"
    assert "%" in page.inner_text(".prediction-box")


# --- an upload ----------------------------------------------------------------------------------

def digit_png() -> bytes:
    """A photo-like 4: dark ink on light paper, as a student would upload it."""
    image = Image.new("L", (200, 240), 235)
    pen = ImageDraw.Draw(image)
    pen.line([(120, 30), (40, 150), (160, 150)], fill=20, width=18)
    pen.line([(125, 90), (125, 215)], fill=20, width=18)
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1440x900", "390x844"])
def test_an_upload_replaces_the_pads_digit_and_hint(opened, viewport):
    page = opened("?model=mnist-convnet", viewport=viewport)
    assert "MNIST test set" in page.inner_text(".pad-hint")
    assert pad_pixels(page).max() > 200  # the sample digit is on the pad
    before = answers(page)
    page.set_input_files("[data-testid=upload]", files=[{"name": "four.png", "mimeType": "image/png", "buffer": digit_png()}])
    page.wait_for_function(f"() => window.convnetVis.answers > {before}", timeout=30_000)
    page.wait_for_timeout(200)
    assert pad_pixels(page).max() < 10, "the old digit is still on the pad"
    hint = page.inner_text(".pad-hint")
    assert "MNIST" not in hint and "four.png" in hint, hint
    assert page.locator("[data-testid=preprocessing-steps]").is_visible()
    # drawing again makes the pad the input once more
    draw_digit(page, "1")
    assert "four.png" not in page.inner_text(".pad-hint")
    assert page.inner_text("[data-testid=prediction]").strip() == "1"


# --- the explanation panel --------------------------------------------------------------------------

def test_guided_gradcams_warning_is_shown_once(opened):
    page = opened("?model=mnist-convnet")
    draw_digit(page, "7")
    page.select_option("[data-testid=explain-method]", "guided_gradcam")
    page.click("[data-testid=explain-run]")
    page.wait_for_selector("[data-testid=explain-overlay]")
    shown = page.eval_on_selector_all(
        "#explain *", "nodes => nodes.filter(n => n.children.length === 0 && n.offsetParent && n.textContent.includes('Adebayo')).length"
    )
    assert shown == 1, f"the warning is printed {shown} times"


def test_faithfulness_curves_have_labelled_axes(opened):
    page = opened("?model=mnist-convnet")
    draw_digit(page, "7")
    page.click("[data-testid=explain-run]")
    page.wait_for_selector("[data-testid=faithfulness-chart]")
    chart = page.locator("[data-testid=faithfulness-chart] svg")
    frame = chart.bounding_box()
    labels = chart.evaluate(
        """svg => [...svg.querySelectorAll('text')].map(t => { const r = t.getBoundingClientRect();
                    return [t.dataset.axis || '', t.textContent, r.left, r.top, r.width, r.height]; })"""
    )
    axes = {axis: [text for a, text, *_ in labels if a == axis] for axis in ("x", "y")}
    assert any("pixels" in text for text in axes["x"]), labels
    assert any("probability" in text for text in axes["y"]), labels
    assert {"0", "1"} <= set(axes["y"]) and {"0%", "100%"} <= set(axes["x"]), labels
    for _, text, left, top, width, height in labels:  # inside the chart and readable
        assert height >= 9 and width > 0, (text, height)
        assert frame["x"] - 1 <= left and left + width <= frame["x"] + frame["width"] + 1, text
        assert frame["y"] - 1 <= top and top + height <= frame["y"] + frame["height"] + 1, text


def test_method_comparison_thumbnails_are_big_enough_to_see(opened):
    page = opened("?model=mnist-lenet")
    draw_digit(page, "7")
    page.click("[data-testid=explain-compare]")
    page.wait_for_selector("[data-testid=ranking]", timeout=300_000)
    sizes = page.eval_on_selector_all("[data-testid=ranking] img", "imgs => imgs.map(i => [i.getBoundingClientRect().width, i.getBoundingClientRect().height])")
    assert sizes
    assert min(w for w, _ in sizes) >= 48 and min(h for _, h in sizes) >= 48, sizes
    table = box(page, "[data-testid=ranking]")
    card = box(page, "#explain")
    assert table["x"] + table["width"] <= card["x"] + card["width"] + 1, "the ranking overflows its card"


def decode(array: dict) -> np.ndarray:
    """An API array (app/encoding.py): a list, or base64 float32."""
    import base64

    if isinstance(array["data"], list):
        return np.array(array["data"], np.float32)
    assert array["dtype"] == "float32", array["dtype"]
    return np.frombuffer(base64.b64decode(array["data"]), "<f4")


# --- the kernel lab ----------------------------------------------------------------------------

def test_kernel_labs_signed_output_has_a_colour_legend(opened):
    page = opened("?model=mnist-convnet")
    draw_digit(page, "7")
    with page.expect_response(lambda r: "/kernel?" in r.url and r.request.method == "POST") as response:
        page.click("[data-testid=lesson-kernel] summary")
    answer = response.value.json()
    values = decode(answer["feature_map"])
    assert values.min() < 0 < values.max()  # the edge kernel's output is signed
    legend = page.locator("[data-testid=kernel-legend]")
    legend.wait_for(state="visible")
    result = page.locator("[data-testid=kernel-result]").bounding_box()
    key = legend.bounding_box()
    assert key["width"] >= 0.8 * result["width"] and key["height"] >= 10
    assert abs(key["x"] - result["x"]) <= 40 and 0 <= key["y"] - (result["y"] + result["height"]) <= 40  # right under the map
    # blue-white-red about 0: the ends are ±max|value|, and the key says where this map runs
    ends = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", legend.locator(".map-key-labels").inner_text())]
    bound = max(-values.min(), values.max())
    assert ends == pytest.approx([-bound, 0, bound], abs=0.002), legend.inner_text()
    said = [float(n) for n in re.findall(r"-?\d+(?:\.\d+)?", legend.locator(".map-key-note").inner_text())]
    assert said == pytest.approx([0, values.min(), values.max()], abs=0.002), legend.inner_text()
    # the key's ends are the scale's colours: blue at the left, red at the right, white in the middle
    colours = legend.locator("canvas").evaluate(
        "c => [0, c.width >> 1, c.width - 1].map(x => Array.from(c.getContext('2d').getImageData(x, 5, 1, 1).data.slice(0, 3)))"
    )
    (r0, g0, b0), middle, (r1, g1, b1) = colours
    assert b0 > r0 + 100 and r1 > b1 + 100 and min(middle) > 230, colours


@pytest.mark.parametrize("padding, words", [("valid", "no padding"), ("same", "1 row of zeros above and 1 below")])
def test_kernel_labs_formula_says_the_padding_in_words(opened, padding, words):
    page = opened("?model=mnist-convnet")
    page.click("[data-testid=lesson-kernel] summary")
    page.wait_for_function("() => document.querySelector('[data-testid=kernel-formula]').textContent.length > 0", timeout=20_000)
    with page.expect_response(lambda r: "/kernel?" in r.url):
        page.select_option("[data-testid=kernel-padding]", padding)
    page.wait_for_function("w => document.querySelector('[data-testid=kernel-formula]').textContent.includes(w)", arg=words, timeout=10_000)
    formula = page.inner_text("[data-testid=kernel-formula]")
    assert "0/0" not in formula and not re.search(r"\d/\d", formula), formula


# --- the class labels at 150% zoom ------------------------------------------------------------

@pytest.mark.parametrize(
    "viewport, scale",
    [({"width": 960, "height": 600}, 1.5), (DESKTOP, 1), (PROJECTOR, 1)],
    ids=["1440x900-at-150%", "1440x900", "1920x1080"],
)
def test_the_class_labels_are_on_screen(opened, viewport, scale):
    page = opened("?model=mnist-convnet", viewport=viewport, scale=scale)
    labels = page.eval_on_selector_all(
        "[data-testid=layer][data-name=output] .bar-label", "ls => ls.map(l => { const r = l.getBoundingClientRect(); return [l.textContent, r.top, r.bottom, r.height]; })"
    )
    assert len(labels) == 10
    for text, top, bottom, height in labels:
        assert top >= 0 and bottom <= viewport["height"], f"class {text} is at {top:.0f}-{bottom:.0f} px in a {viewport['height']} px window"
        assert height >= 10
