"""Take the README's screenshots (docs/img/) in Debian's chromium at 1440x900: the 2D view with a
hovered conv2 unit's edges, the 3D view, and the overview of VGG16 (random weights) at 224x224.

    python scripts/screenshots.py
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from bench.server import running_server  # noqa: E402
from tests.e2e.conftest import CHROMIUM_ARGS, chromium_path, unit_point  # noqa: E402
from tests.e2e.inmemory import serving, vgg16  # noqa: E402

OUT = ROOT / "docs" / "img"


def open_page(browser, url):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    page.goto(url)
    page.wait_for_selector("[data-testid=layer]")
    page.wait_for_function("() => window.convnetVis.answers > 0", timeout=60_000)
    return page


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        with running_server() as url:
            page = open_page(browser, url + "/?model=mnist-convnet")
            page.wait_for_function("() => document.querySelector('#map-status').textContent.includes('t-SNE')", timeout=120_000)
            page.mouse.move(*unit_point(page, "conv2", (9, 5, 4)))
            page.wait_for_function("() => document.querySelector('[data-testid=info]').textContent.includes('the model computed')")
            page.screenshot(path=OUT / "network-2d.png")
            page.close()
            page = open_page(browser, url + "/?model=mnist-convnet&view=3d&unit=conv2:9,5,4")
            page.wait_for_timeout(1500)
            page.screenshot(path=OUT / "network-3d.png")
            page.close()
        with serving({"vgg16": (vgg16(), {"name": "VGG16 (random weights)", "input_range": (0.0, 255.0)})}) as url:
            page = open_page(browser, url + "/?model=vgg16")
            page.wait_for_timeout(1000)
            page.screenshot(path=OUT / "vgg16-overview.png")
            page.close()
        browser.close()


if __name__ == "__main__":
    main()
