"""Screenshots of each Lessons view and of lesson mode for the README (docs/img/lessons-*.png,
docs/img/lesson-mode-*.png), from the real page.

    .venv/bin/python scripts/lesson_screenshots.py

Starts the server on the bundled models, draws a 6 in Debian's chromium, opens each view and
saves it; then lesson mode as a class sees it: a step at 1440x900, projector mode on the light
theme at 1920x1080 and a step on a phone (390x844). Not a test: it asserts nothing, it only
pictures the views.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.server import running_server  # noqa: E402
from tests.e2e.conftest import blank_pad, unit_point  # noqa: E402

OUT = ROOT / "docs" / "img"
SIX = [[(175, 45), (120, 85), (90, 150), (95, 210), (140, 238), (185, 212), (192, 170), (150, 142), (100, 165)]]
ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]


def draw(page, strokes) -> None:
    box = page.locator("[data-testid=draw-canvas]").bounding_box()
    scale = box["width"] / 280
    for stroke in strokes:
        page.mouse.move(box["x"] + stroke[0][0] * scale, box["y"] + stroke[0][1] * scale)
        page.mouse.down()
        for (x0, y0), (x1, y1) in zip(stroke, stroke[1:]):
            for step in range(1, 9):
                t = step / 8
                page.mouse.move(box["x"] + (x0 + (x1 - x0) * t) * scale, box["y"] + (y0 + (y1 - y0) * t) * scale)
        page.mouse.up()


# (file name, link, lesson step, window): lesson mode as the README shows it
LESSON_MODE_SHOTS = [
    ("lesson-mode-step.png", "/?model=mnist-convnet", 4, (1440, 900)),
    ("lesson-mode-projector.png", "/?model=mnist-convnet&projector=1&theme=light&font=22", 7, (1920, 1080)),
    ("lesson-mode-phone.png", "/?model=mnist-lenet", 4, (390, 844)),
]


def lesson_mode(browser, url: str) -> None:
    for name, link, step, (width, height) in LESSON_MODE_SHOTS:
        page = browser.new_page(viewport={"width": width, "height": height})
        page.goto(url + link)  # draw first, then open the step on the drawing
        page.wait_for_selector("[data-testid=layer]")
        blank_pad(page)
        draw(page, SIX)
        page.wait_for_function("() => document.querySelector('[data-testid=prediction]').textContent.trim() === '6'")
        page.evaluate("() => window.scrollTo(0, 0)")
        page.click("[data-testid=lesson-start]")
        page.select_option("[data-lm=jump]", str(step))
        page.wait_for_function(f"() => document.querySelector('#lesson-mode').dataset.shown === '{step}'", timeout=60_000)
        page.wait_for_timeout(600)  # the dimming's fade
        page.screenshot(path=OUT / name)
        page.close()


def main() -> None:
    from playwright.sync_api import sync_playwright

    OUT.mkdir(parents=True, exist_ok=True)
    chromium = os.environ.get("CONVNET_VIS_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    with running_server(ROOT / "models") as url, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(url + "/")
        page.wait_for_selector("[data-testid=layer]")
        blank_pad(page)
        draw(page, SIX)
        page.wait_for_function("() => document.querySelector('[data-testid=prediction]').textContent.trim() === '6'")

        # the convolution step, opened from the unit box as a teacher would
        page.mouse.click(*unit_point(page, "conv1", (2, 11, 14)))  # pins the unit
        page.locator("#info [data-testid=how]").click()
        page.wait_for_function("() => window.convnetVisLessons.convStep.data")
        page.click("[data-testid=step-reset]")
        for _ in range(300):
            page.evaluate("window.convnetVisLessons.convStep.step()")
        shots = {"step": "[data-testid=lesson-step]"}
        page.locator(shots["step"]).screenshot(path=OUT / "lessons-step.png")

        page.click("[data-testid=lesson-kernel] summary")
        page.select_option("[data-testid=kernel-preset]", "sobel_x")
        page.wait_for_function("() => window.convnetVisLessons.views.kernel.answer?.kernel[0][0] === -1")
        page.locator("[data-testid=lesson-kernel]").screenshot(path=OUT / "lessons-kernel.png")
        page.click("[data-testid=lesson-kernel] summary")

        page.click("[data-testid=lesson-pool] summary")
        page.wait_for_selector("[data-testid=own-pooling]")
        page.locator("[data-testid=lesson-pool]").screenshot(path=OUT / "lessons-pool.png")
        page.click("[data-testid=lesson-pool] summary")

        page.click("[data-testid=lesson-invariance] summary")
        page.locator("[data-iv=rotate]").fill("150")
        page.wait_for_function("() => !window.convnetVisLessons.views.invariance.busy")
        page.select_option("[data-testid=sweep-transform]", "rotate")
        page.fill("[data-iv=start]", "0")
        page.fill("[data-iv=stop]", "360")
        page.click("[data-testid=sweep-run]")
        page.wait_for_function("() => window.convnetVisLessons.views.invariance.sweepAnswer")
        page.wait_for_timeout(300)
        page.locator("[data-testid=lesson-invariance]").screenshot(path=OUT / "lessons-invariance.png")
        page.click("[data-testid=lesson-invariance] summary")

        page.click("[data-testid=lesson-summary] summary")
        page.wait_for_selector("[data-testid=total-params]")
        page.locator("[data-testid=lesson-summary]").screenshot(path=OUT / "lessons-summary.png")
        lesson_mode(browser, url)
        browser.close()
    print("saved", ", ".join(sorted(p.name for p in OUT.glob("lesson*-*.png"))))


if __name__ == "__main__":
    main()
