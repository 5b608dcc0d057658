"""Browser fixtures: Debian's chromium driven by Playwright, against the real server."""

from __future__ import annotations

import os
import shutil

import pytest

CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-quic",
    # Without these, chromium keeps trying to reach Google's hosts on a closed network.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # WebGL for the 3D view without a GPU: chromium's software rasteriser
    "--enable-unsafe-swiftshader",
    "--use-angle=swiftshader",
    # the camera path: a fake camera, and getUserMedia allowed without a prompt
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
]


def chromium_path() -> str:
    path = os.environ.get("CONVNET_VIS_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        pytest.fail("Debian's chromium is not installed: run the tests with scripts/test, which installs it.")
    return path


@pytest.fixture(scope="session")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser, live_server):
    """A fresh page on the app; any console error or uncaught exception fails the test."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    errors: list[str] = []
    opened.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.errors = errors
    opened.goto(live_server + "/")
    opened.wait_for_selector("[data-testid=layer]")
    blank_pad(opened)
    yield opened
    context.close()
    assert not [e for e in errors if not getattr(opened, "expected_error", None) or opened.expected_error not in e], errors


@pytest.fixture
def open_app(browser, live_server):
    """open_app(query="", width=1440, height=900, base=live_server, **context_options) -> a page on
    `base/query` (query starts with "?"), its layers attached and its first answer drawn. Any
    console error or uncaught exception in a page it opened fails the test."""
    contexts = []
    errors: list[str] = []

    def opener(query: str = "", width: int = 1440, height: int = 900, base: str = live_server, **options):
        context = browser.new_context(viewport={"width": width, "height": height}, **options)
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{base}/{query}")
        # attached, not visible: ?view=3d hides the 2D network, and may do so before its layers first show
        page.wait_for_selector("[data-testid=layer]", state="attached")
        page.wait_for_function("() => window.convnetVis.answers > 0", timeout=60_000)
        return page

    yield opener
    for context in contexts:
        context.close()
    assert not errors, errors


def blank_pad(page) -> None:
    """The page opens with an MNIST test digit on the pad; tests that draw their own start blank."""
    page.wait_for_function("() => window.convnetVis.answers > 0", timeout=30_000)
    answers = page.evaluate("window.convnetVis.answers")
    page.click("[data-testid=clear]")
    page.wait_for_function(f"() => window.convnetVis.answers > {answers}")


def unit_point(page, layer: str, unit: tuple[int, ...]) -> tuple[float, float]:
    """Viewport coordinates of the centre of a unit's cell in the 2D view: (channel, y, x) of a
    feature map or (index,) of a vector layer, from the layer canvas's own geometry."""
    return tuple(
        page.evaluate(
            """([layer, unit]) => {
                const c = document.querySelector(`[data-layer="${layer}"] canvas`);
                const r = c.getBoundingClientRect();
                const k = r.width / c.width;
                const columns = Number(c.dataset.columns);
                let x, y;
                if (unit.length === 3) {
                    const [channel, row, column] = unit;
                    const h = Number(c.dataset.mapHeight), w = Number(c.dataset.mapWidth);
                    x = (channel % columns) * (w + 1) + column;
                    y = Math.floor(channel / columns) * (h + 1) + row;
                } else {
                    x = unit[0] % columns;
                    y = Math.floor(unit[0] / columns);
                }
                return [r.left + (x + 0.5) * k, r.top + (y + 0.5) * k];
            }""",
            [layer, list(unit)],
        )
    )


def draw(page, strokes, pace: float = 0.0):
    """Draw strokes (lists of (x, y) in pad pixels, 0-280) with real mouse events."""
    import time

    box = page.locator("[data-testid=draw-canvas]").bounding_box()
    scale = box["width"] / 280
    for stroke in strokes:
        x, y = stroke[0]
        page.mouse.move(box["x"] + x * scale, box["y"] + y * scale)
        page.mouse.down()
        for (x0, y0), (x1, y1) in zip(stroke, stroke[1:]):
            for step in range(1, 9):
                t = step / 8
                page.mouse.move(box["x"] + (x0 + (x1 - x0) * t) * scale, box["y"] + (y0 + (y1 - y0) * t) * scale)
                if pace:
                    time.sleep(pace)
        page.mouse.up()


DIGITS = {
    "1": [[(140, 50), (140, 235)]],
    "7": [[(70, 65), (210, 65), (125, 235)]],
    "0": [[(140, 45), (90, 80), (75, 140), (90, 205), (140, 235), (190, 205), (205, 140), (190, 80), (140, 45)]],
}
