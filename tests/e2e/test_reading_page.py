"""The page in real headless Chromium: an upload's preprocessing steps, and reading a number."""

import numpy as np
import pytest

from tests import digit_images as pictures
from tests.e2e.conftest import DIGITS, draw
from tests.e2e.test_page import wait_for_prediction

pytestmark = pytest.mark.browser


def test_an_upload_shows_how_it_became_the_models_input(page, mnist, tmp_path):
    """The five steps appear under "what the model sees"; the last is the 28x28 field."""
    images, labels = mnist
    path = tmp_path / "scan.jpg"
    path.write_bytes(pictures.scan(images[4], np.random.default_rng(0)))
    page.set_input_files("[data-testid=upload]", str(path))
    wait_for_prediction(page, str(labels[4]))
    steps = page.locator("[data-testid=preprocessing-steps] li")
    steps.first.wait_for()
    assert [steps.nth(i).get_attribute("data-step") for i in range(steps.count())] == ["ink", "threshold", "crop", "box", "field"]
    size = page.eval_on_selector("[data-step=field] img", "img => [img.naturalWidth, img.naturalHeight]")
    assert size == [28, 28]
    assert "28x28" in page.inner_text("[data-step=field]")
    draw(page, DIGITS["1"])  # a drawing is not an upload: the steps go away
    page.wait_for_selector("[data-testid=preprocessing-steps]", state="hidden")


def test_reading_a_number_and_opening_a_digit_in_the_network(page, mnist, tmp_path):
    images, labels = mnist
    picks = [21, 8, 40]
    truth = "".join(str(labels[i]) for i in picks)
    path = tmp_path / "number.jpg"
    path.write_bytes(pictures.number_row([images[i] for i in picks], np.random.default_rng(3), "photo"))
    page.set_input_files("[data-testid=read-upload]", str(path))
    page.wait_for_function(
        "truth => document.querySelector('[data-testid=read-text]')?.textContent === truth", arg=truth, timeout=10_000
    )
    assert page.locator("[data-testid=read-box]").count() == len(truth)
    lefts = page.eval_on_selector_all("[data-testid=read-box]", "boxes => boxes.map(b => b.getBoundingClientRect().left)")
    assert lefts == sorted(lefts)
    # the boxes lie over the picture
    picture = page.locator(".read-figure img").bounding_box()
    for box in page.locator("[data-testid=read-box]").all():
        rect = box.bounding_box()
        assert picture["x"] - 1 <= rect["x"] and rect["x"] + rect["width"] <= picture["x"] + picture["width"] + 1
    page.locator("[data-testid=read-digit]").nth(1).click()
    wait_for_prediction(page, truth[1])
