"""The page on a phone (390x844, touch) in real Chromium, on both bundled models with lesson mode
off and on, asserting what a student holding it sees: nothing wider than the screen, layer labels
neither overlapping nor cut, the pad and the first layers of the network on screen together while
a finger draws, a tapped unit's details on screen, and the 3D view within the screen."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import DIGITS, unit_point

pytestmark = pytest.mark.browser

WIDTH, HEIGHT = 390, 844
MODELS = ("mnist-convnet", "mnist-lenet")
LESSON = {"lesson off": "", "lesson on": "&lesson=4"}

# The part of the window a person can see: above the lesson panel when it is open.
ROOM = """() => { const panel = document.querySelector('#lesson-mode');
    return panel.hidden ? innerHeight : panel.getBoundingClientRect().top; }"""


@pytest.fixture(params=[(m, l) for m in MODELS for l in LESSON], ids=lambda p: f"{p[0]}-{p[1].replace(' ', '-')}")
def phone(request, open_app):
    model_id, lesson = request.param
    page = open_app(f"?model={model_id}{LESSON[lesson]}", WIDTH, HEIGHT, is_mobile=True, has_touch=True, device_scale_factor=2)
    page.wait_for_selector("[data-testid=layer]")
    if lesson == "lesson on":
        page.wait_for_function("() => document.querySelector('#lesson-mode').dataset.shown === '4'", timeout=60_000)
    page.model_id = model_id
    return page


def box(page, selector: str) -> dict:
    return page.eval_on_selector(selector, "n => { const r = n.getBoundingClientRect(); return {left: r.left, top: r.top, right: r.right, bottom: r.bottom}; }")


def test_nothing_reaches_past_the_screen(phone):
    """No sideways scrolling, and no visible element (the Lessons summary table included, opened)
    reaching past the right edge, even inside a scrolling box."""
    phone.evaluate("document.querySelector('[data-testid=lesson-summary]').open = true")
    phone.wait_for_selector("[data-testid=total-params]")
    assert phone.evaluate("document.documentElement.scrollWidth") <= WIDTH
    beyond = phone.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .filter((n) => n.checkVisibility() && n.getBoundingClientRect().width > 0 && n.getBoundingClientRect().right > innerWidth + 0.5)
            .map((n) => n.tagName + (n.id ? '#' + n.id : '') + ' ' + Math.round(n.getBoundingClientRect().right))"""
    )
    assert beyond == [], beyond


def test_layer_labels_neither_overlap_nor_are_cut(phone):
    labels = phone.evaluate(
        """() => [...document.querySelectorAll('#network .layer-label')].map((label) => ({
            layer: label.parentElement.dataset.layer,
            // cut: a line of the label's text reaching under the layer's picture (its canvas or bars)
            cut: [...label.querySelectorAll('span')].filter((s) => [...s.getClientRects()].some((r) => r.right > label.nextElementSibling.getBoundingClientRect().left + 0.5)).map((s) => s.className),
            boxes: [...label.querySelectorAll('span')].flatMap((s) => [...s.getClientRects()]).map((r) => [r.left, r.top, r.right, r.bottom]),
            row: (() => { const r = label.parentElement.getBoundingClientRect(); return [r.top, r.bottom]; })(),
        }))"""
    )
    assert len(labels) >= 8
    cut = [(label["layer"], label["cut"]) for label in labels if label["cut"]]
    assert cut == [], cut
    overlaps = []
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            for p in a["boxes"]:
                for q in b["boxes"]:
                    if p[0] < q[2] and q[0] < p[2] and p[1] < q[3] and q[1] < p[3]:
                        overlaps.append((a["layer"], b["layer"]))
    assert overlaps == [], sorted(set(overlaps))
    # every label's text lies within its own layer's row
    outside = [label["layer"] for label in labels if any(r[1] < label["row"][0] - 0.5 or r[3] > label["row"][1] + 0.5 for r in label["boxes"])]
    assert outside == [], outside


def test_pad_and_network_on_screen_together_while_drawing(phone):
    """Scrolled down to the network as a student would, the whole pad and the first layers (the
    input and the first convolution) are on screen, apart, above the lesson panel; a finger's
    stroke on the pad changes the answer and moves neither."""
    phone.evaluate("document.querySelector('#network').scrollIntoView({block: 'start', behavior: 'instant'})")
    phone.wait_for_timeout(200)
    room = phone.evaluate(ROOM)
    first_conv = phone.evaluate("() => [...document.querySelectorAll('#network [data-layer]')].find(n => n.dataset.layer.startsWith('conv')).dataset.layer")

    def seen():
        return {"pad": box(phone, "#pad"), "input": box(phone, "[data-testid=input-layer]"), "conv": box(phone, f'#network [data-layer="{first_conv}"]')}

    before = seen()
    pad = before["pad"]
    assert pad["top"] >= -0.5 and pad["bottom"] <= room + 0.5 and pad["right"] <= WIDTH, (before, room)
    assert pad["bottom"] - pad["top"] >= 150  # big enough to draw on with a finger
    for part in ("input", "conv"):
        assert before[part]["top"] >= pad["bottom"] - 0.5 and before[part]["bottom"] <= room + 0.5, (part, before, room)

    answers = phone.evaluate("window.convnetVis.answers")
    scale = (pad["right"] - pad["left"]) / 280
    stroke = DIGITS["7"][0]
    phone.mouse.move(pad["left"] + stroke[0][0] * scale, pad["top"] + stroke[0][1] * scale)
    phone.mouse.down()
    for x, y in stroke[1:]:
        phone.mouse.move(pad["left"] + x * scale, pad["top"] + y * scale, steps=8)
    during = seen()
    phone.mouse.up()
    phone.wait_for_function(f"() => window.convnetVis.answers > {answers}")
    assert during == before
    assert seen() == before


def test_a_tapped_unit_shows_its_details_on_screen(phone):
    phone.evaluate("document.querySelector('#network').scrollIntoView({block: 'start', behavior: 'instant'})")
    phone.wait_for_timeout(200)
    x, y = unit_point(phone, "conv1", (0, 10, 10))
    phone.touchscreen.tap(x, y)
    # the page state pins the tapped unit (a touch lands on whole css pixels, and conv1's cells are
    # about 1.3 px on a phone, so the column may be its neighbour), and the Unit box shows that unit
    phone.wait_for_function("() => /^conv1:0,(9|10|11),(9|10|11)$/.test(new URLSearchParams(location.search).get('unit'))")
    phone.wait_for_timeout(300)
    pinned = phone.evaluate("new URLSearchParams(location.search).get('unit')")
    assert phone.get_attribute("#info", "data-unit") == pinned
    info = box(phone, "#info")
    pad = box(phone, "#pad")
    room = phone.evaluate(ROOM)
    # the details' first lines are on screen, not under the pad or the lesson panel
    top = max(0, pad["bottom"]) if pad["bottom"] > 0 and pad["top"] < info["top"] else 0
    assert top - 0.5 <= info["top"] and info["top"] + 40 <= room, (info, pad, room)
    assert "conv1" in phone.inner_text("#info")


@pytest.mark.parametrize("model_id", MODELS)
def test_the_3d_view_fits_the_screen(browser, live_server, model_id):
    context = browser.new_context(viewport={"width": WIDTH, "height": HEIGHT}, is_mobile=True, has_touch=True)
    page = context.new_page()
    try:
        page.goto(f"{live_server}/?model={model_id}&view=3d")
        page.wait_for_selector("#network-3d canvas", timeout=60_000)
        page.wait_for_function("() => document.body.dataset.ready")
        page.evaluate("document.querySelector('#network-3d').scrollIntoView({block: 'start', behavior: 'instant'})")
        page.wait_for_timeout(200)
        canvas = box(page, "#network-3d canvas")
        assert canvas["left"] >= 0 and canvas["right"] <= WIDTH, canvas
        assert canvas["bottom"] - canvas["top"] <= HEIGHT, canvas  # the whole view on one screen
        assert page.evaluate("document.documentElement.scrollWidth") <= WIDTH
    finally:
        context.close()
