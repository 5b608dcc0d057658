"""The explanation panel in real headless Chromium: the guided methods' warning, the faithfulness
curves under a map, and every method compared on the drawn input."""

import pytest

from app.viz.methods import METHODS
from tests.e2e.conftest import DIGITS, draw

pytestmark = pytest.mark.browser


def draw_seven(page):
    draw(page, DIGITS["7"])
    page.wait_for_function(
        "() => document.querySelector('[data-testid=prediction]').textContent.trim().startsWith('7')", timeout=10_000
    )


def test_guided_methods_show_their_warning_with_the_map(page):
    draw_seven(page)
    assert page.locator("[data-testid=explain-warning]").is_hidden()  # Grad-CAM: no warning
    page.select_option("[data-testid=explain-method]", "guided_backprop")
    warning = page.locator("[data-testid=explain-warning]")
    assert warning.is_visible() and "Adebayo" in warning.inner_text()
    page.click("[data-testid=explain-run]")
    page.wait_for_selector("[data-testid=explain-overlay]")
    # printed once, above the map, which carries its mark
    assert warning.is_visible() and "Adebayo" in warning.inner_text()
    assert "Adebayo" in page.get_attribute("#explain-result figcaption abbr", "title")


def test_a_map_comes_with_its_deletion_and_insertion_curves(page):
    draw_seven(page)
    page.click("[data-testid=explain-run]")
    chart = page.wait_for_selector("[data-testid=faithfulness-chart]")
    assert page.locator("[data-testid=faithfulness-chart] polyline").count() == 2
    text = chart.inner_text()
    assert "deletion AUC" in text and "insertion AUC" in text
    # 21 points (the default 20 steps) on each curve
    points = page.get_attribute("polyline[data-curve=deletion]", "points")
    assert len(points.split()) == 21
    page.uncheck("#explain-faithfulness")
    page.click("[data-testid=explain-run]")
    page.wait_for_function("() => !document.querySelector('[data-testid=faithfulness-chart]')")


def test_compare_methods_ranks_every_method_by_deletion(page):
    draw_seven(page)
    page.click("[data-testid=explain-compare]")
    page.wait_for_selector("[data-testid=ranking]", timeout=120_000)
    rows = page.eval_on_selector_all(
        "[data-testid=ranking] tbody tr", "rows => rows.map(r => [r.dataset.method, r.dataset.deletion])"
    )
    assert sorted(name for name, _ in rows) == sorted(METHODS)
    deletions = [float(value) for _, value in rows]
    assert deletions == sorted(deletions) and all(0 <= d <= 1 for d in deletions)
