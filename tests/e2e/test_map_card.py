"""The map card in Chromium: a bundled model's map is on screen without a wait; switching to a
model whose map is not computed yet clears the old map at once, shows the progress, then the map."""

from __future__ import annotations

import numpy as np
import pytest

from app.config import PROJECT_ROOT
from app.registry import ModelCard, load_served_model, serve_model
from tests.test_maps import tiny_model

pytestmark = pytest.mark.browser

# Pixels of the map canvas in a class colour (not the background #0b0d12, nor the white ring).
COLOURED = """() => {
  const canvas = document.querySelector('[data-testid=embedding]');
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let count = 0;
  for (let i = 0; i < data.length; i += 4) {
    const background = data[i] === 11 && data[i + 1] === 13 && data[i + 2] === 18;
    const white = data[i] > 240 && data[i + 1] > 240 && data[i + 2] > 240;
    if (!background && !white) count += 1;
  }
  return count;
}"""


@pytest.fixture(scope="module")
def two_models(tmp_path_factory, mnist):
    from tests.e2e.inmemory import serving

    folder = tmp_path_factory.mktemp("tiny")
    images, labels = mnist
    np.savez(folder / "tiny-reference.npz", x=images[:200], y=labels[:200])
    classes = [str(i) for i in range(10)]
    card = ModelCard(id="tiny", name="Tiny", kind="digits", classes=classes, extra={"reference": "tiny-reference.npz"})
    tiny = serve_model(tiny_model(), card, folder / "tiny.keras", "memory-tiny")
    bundled = load_served_model(PROJECT_ROOT / "models" / "mnist-convnet.keras")
    with serving({"mnist-convnet": bundled, "tiny": tiny}) as url:
        yield url


def test_the_map_card_shows_progress_on_a_cleared_canvas_then_the_map(browser, two_models):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        page.goto(f"{two_models}/?model=mnist-convnet")
        # the shipped map: drawn from the first answer, with no progress shown
        page.wait_for_selector("[data-testid=embedding][data-model=mnist-convnet]", timeout=30_000)
        assert page.is_hidden("[data-testid=map-progress]")
        assert page.inner_text("[data-testid=map-status]").startswith("3000 reference digits in dense1")
        assert page.evaluate(COLOURED) > 500

        page.select_option("#model", "tiny")
        # while the server computes tiny's map: the old map is gone, the progress is shown
        page.wait_for_function(
            "() => !document.querySelector('[data-testid=map-progress]').hidden", timeout=30_000
        )
        assert page.get_attribute("[data-testid=embedding]", "data-model") == ""
        assert page.evaluate(COLOURED) == 0
        box = page.locator("[data-testid=map-progress]").bounding_box()
        assert box and box["width"] > 50 and box["height"] > 3
        assert "computing the map" in page.inner_text("[data-testid=map-status]")
        value = page.evaluate("document.querySelector('[data-testid=map-progress]').value")
        assert 0 <= value <= 1

        # then tiny's own map, drawn from its 200 reference digits
        page.wait_for_selector("[data-testid=embedding][data-model=tiny]", timeout=300_000)
        assert page.is_hidden("[data-testid=map-progress]")
        assert page.inner_text("[data-testid=map-status]").startswith("200 reference digits in hidden")
        assert page.evaluate(COLOURED) > 100
        assert not errors, errors
    finally:
        context.close()
