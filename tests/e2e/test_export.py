"""Pictures for slides (issue 27, item 3): every view downloads as a PNG at twice its size on screen,
not blank, with its labels drawn and its cells in their on-screen colours; the 2D network as SVG too,
one rect per unit drawn; file names say the model, the view and the unit."""

from __future__ import annotations

import functools
import io
import xml.etree.ElementTree as ElementTree

import numpy as np
import pytest
from PIL import Image

from tests.e2e.conftest import unit_point

pytestmark = pytest.mark.browser

VIEWPORTS = [(1440, 900), (1920, 1080), (390, 844)]
SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture
def open_page(open_app):
    """open_app with downloads accepted: every picture here is a download."""
    return functools.partial(open_app, accept_downloads=True)


def download(page, view: str) -> tuple[str, bytes]:
    """Click a view's download button -> (suggested file name, the file's bytes)."""
    with page.expect_download(timeout=30_000) as info:
        page.click(f"[data-testid=download][data-view='{view}']")
    got = info.value
    with open(got.path(), "rb") as file:
        return got.suggested_filename, file.read()


def css_size(page, selector: str) -> tuple[float, float]:
    return tuple(page.evaluate(f"() => {{ const r = document.querySelector({selector!r}).getBoundingClientRect(); return [r.width, r.height]; }}"))


def wait_for_settled_size(page, selector: str) -> None:
    """Until the element's size has not changed for half a second: a dialog still filling in (its
    pictures arriving one by one on a busy machine) would be pictured at an earlier size."""
    page.wait_for_function(
        """(selector) => {
            const r = document.querySelector(selector).getBoundingClientRect();
            const size = `${r.width}x${r.height}`, now = performance.now();
            const last = window.__settled || {};
            if (last.selector !== selector || last.size !== size) { window.__settled = {selector, size, since: now}; return false; }
            return now - last.since > 500;
        }""",
        arg=selector,
        polling=100,
    )


def assert_picture_of(page, data: bytes, selector: str, min_colours: int = 20) -> np.ndarray:
    """The PNG is 2x the element's css size and not blank: many colours, many pixels off the background."""
    image = Image.open(io.BytesIO(data))
    width, height = css_size(page, selector)
    assert image.size == (round(width * 2), round(height * 2)), (selector, image.size, width, height)
    pixels = np.asarray(image.convert("RGB")).astype(int)
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) >= min_colours, (selector, len(colours))
    background = pixels[1, 1]
    off = np.any(np.abs(pixels - background) > 24, axis=2).mean()
    assert off > 0.01, (selector, off)
    return pixels


@pytest.mark.parametrize("width,height", VIEWPORTS)
def test_the_2d_network_downloads_as_a_png_at_2x_with_its_cells_and_labels(open_page, width, height):
    page = open_page("", width, height)
    page.mouse.move(1, 1)
    name, data = download(page, "network")
    assert name == "mnist-convnet_network_2d.png"
    pixels = assert_picture_of(page, data, "#network", min_colours=100)
    # a known cell: the colour on screen (the layer canvas's pixel) at the same place in the picture
    x, y = unit_point(page, "conv1", (0, 10, 10))
    on_screen = page.evaluate(
        """() => { const c = document.querySelector('[data-layer=conv1] canvas'); const r = c.getBoundingClientRect();
             const n = document.querySelector('#network').getBoundingClientRect();
             return { cell: Array.from(c.getContext('2d').getImageData(10, 10, 1, 1).data).slice(0, 3), left: n.left, top: n.top }; }"""
    )
    px, py = round((x - on_screen["left"]) * 2), round((y - on_screen["top"]) * 2)
    assert np.abs(pixels[py, px] - np.array(on_screen["cell"])).max() <= 2, (pixels[py, px], on_screen["cell"])
    # the labels are drawn: the conv1 name's box holds text-coloured pixels
    label = page.evaluate(
        """() => { const r = document.querySelector('[data-layer=conv1] .layer-name').getBoundingClientRect();
             const n = document.querySelector('#network').getBoundingClientRect();
             return [r.left - n.left, r.top - n.top, r.right - n.left, r.bottom - n.top]; }"""
    )
    left, top, right, bottom = (round(v * 2) for v in label)
    box = pixels[top:bottom, left:right]
    assert np.any(np.abs(box - pixels[1, 1]) > 80, axis=2).sum() > 20, "the layer's name is not in the picture"


def test_the_2d_network_downloads_as_svg_with_one_rect_per_unit(open_page, client):
    page = open_page()
    page.mouse.move(1, 1)
    name, data = download(page, "network-svg")
    assert name == "mnist-convnet_network_2d.svg"
    root = ElementTree.fromstring(data)
    detail = client.get("/api/models/mnist-convnet").json()
    groups = {group.get("data-layer"): group for group in root.iter(f"{SVG}g")}
    assert list(groups) == ["input"] + [layer["name"] for layer in detail["layers"]]
    for layer in [{"name": "input", "output_shape": detail["input_shape"]}, *detail["layers"]]:
        units = int(np.prod(layer["output_shape"]))
        rects = [rect for rect in groups[layer["name"]].iter(f"{SVG}rect") if rect.get("class") == "unit"]
        assert len(rects) == units, (layer["name"], len(rects), units)
        texts = [text.text for text in groups[layer["name"]].iter(f"{SVG}text")]
        assert layer["name"] in texts
    assert "7" in [text.text for text in groups["output"].iter(f"{SVG}text")]  # the class labels


@pytest.mark.parametrize("width,height", [(1440, 900), (390, 844)])
def test_the_3d_network_downloads_at_2x_and_is_not_blank(open_page, width, height):
    page = open_page("?view=3d", width, height)
    page.wait_for_selector("#network-3d canvas")
    page.wait_for_function("() => document.querySelector('#network-3d canvas').width > 0")
    name, data = download(page, "network")
    assert name == "mnist-convnet_network_3d.png"
    assert_picture_of(page, data, "#network-3d")


def test_the_unit_box_names_the_model_and_the_unit(open_page):
    page = open_page("?model=mnist-lenet&unit=conv1:3,9,14")
    page.wait_for_function("() => document.querySelector('[data-testid=info]').dataset.unit === 'conv1:3,9,14'")
    page.wait_for_selector("[data-testid=computation]")
    name, data = download(page, "unit")
    assert name == "mnist-lenet_unit_conv1-3-9-14.png"
    pixels = assert_picture_of(page, data, ".card:has(#info)", min_colours=8)
    assert np.any(np.abs(pixels - pixels[4, 4]) > 80, axis=2).sum() > 200  # its text is drawn


def test_each_card_view_downloads_as_a_png_at_2x(open_page):
    page = open_page()
    # kernel lab
    page.click("[data-testid=lesson-kernel] summary")
    page.select_option("[data-testid=kernel-preset]", "sobel_x")
    page.wait_for_function("() => window.convnetVisLessons.views.kernel.answer && window.convnetVisLessons.views.kernel.answer.kernel[0][0] === -1")
    name, data = download(page, "kernel-lab")
    assert name.startswith("mnist-convnet_kernel-lab_") and "sobel_x" in name
    assert_picture_of(page, data, "[data-lesson=kernel] .lesson-figures")
    # pooling lab
    page.click("[data-testid=lesson-pool] summary")
    page.wait_for_selector("[data-testid=own-pooling]")
    name, data = download(page, "pool-lab")
    assert name.startswith("mnist-convnet_pool-lab_")
    assert_picture_of(page, data, "[data-lesson=pool] > .lesson-figures")
    # the invariance sweep
    page.click("[data-testid=lesson-invariance] summary")
    page.wait_for_function("() => document.querySelector('[data-testid=invariance-bars]').dataset.top")
    page.wait_for_function("() => !window.convnetVisLessons.views.invariance.busy")
    page.click("[data-testid=sweep-run]")
    page.wait_for_function("() => window.convnetVisLessons.views.invariance.sweepAnswer", timeout=60_000)
    name, data = download(page, "invariance-sweep")
    assert name == "mnist-convnet_invariance-sweep_rotate.png"
    assert_picture_of(page, data, "[data-iv=plot]")
    # an explanation overlay
    page.click("[data-testid=explain-run]")
    page.wait_for_selector("[data-testid=explain-overlay]", timeout=60_000)
    page.wait_for_function("() => Array.from(document.querySelectorAll('#explain-result img')).every(i => i.complete)")
    name, data = download(page, "explain")
    assert name == "mnist-convnet_explain_gradcam-class-top.png"
    pixels = assert_picture_of(page, data, "#explain-result")
    # the faithfulness chart (an inline SVG) is drawn too: its curves and frame
    left, top, right, bottom = page.evaluate(
        """() => { const r = document.querySelector('#explain-result .faithfulness-chart').getBoundingClientRect();
             const n = document.querySelector('#explain-result').getBoundingClientRect();
             return [r.left - n.left, r.top - n.top, r.right - n.left, r.bottom - n.top].map(v => Math.round(v * 2)); }"""
    )
    chart = pixels[top:bottom, left:right]
    assert np.any(np.abs(chart - pixels[1, 1]) > 60, axis=2).sum() > 300
    # the map card, with its reference digits
    page.wait_for_function("() => document.querySelector('[data-testid=embedding]').dataset.point", timeout=60_000)
    name, data = download(page, "map-card")
    assert name == "mnist-convnet_map-card.png"
    assert_picture_of(page, data, "#map-card")


def test_the_filter_atlas_and_an_enlarged_map_download(open_page):
    page = open_page("?model=mnist-lenet")
    page.select_option("[data-testid=atlas-layer]", "conv1")
    page.click("[data-testid=atlas-run]")
    page.wait_for_selector("[data-testid=atlas]", timeout=90_000)
    page.wait_for_function("() => document.querySelector('[data-testid=atlas]').complete")
    name, data = download(page, "filter-atlas")
    assert name == "mnist-lenet_filter-atlas_conv1.png"
    assert_picture_of(page, data, "#atlas-result")
    page.evaluate("() => window.scrollTo(0, 0)")
    page.mouse.click(*unit_point(page, "conv1", (2, 5, 5)))
    page.click("[data-testid=enlarge]")
    page.wait_for_selector("#map-dialog[open] canvas.kernel")
    page.wait_for_selector("[data-testid=filter-pattern]", timeout=30_000)
    page.wait_for_function("() => Array.from(document.querySelectorAll('#map-dialog img')).every(i => i.complete)")
    wait_for_settled_size(page, "#map-dialog")
    name, data = download(page, "map")
    assert name == "mnist-lenet_map_conv1-channel-2.png"
    assert_picture_of(page, data, "#map-dialog")


def test_a_pinned_units_edges_are_in_the_picture_and_its_name(open_page):
    page = open_page("?unit=conv2:5,5,5")
    page.wait_for_function("() => document.querySelector('[data-testid=edges]').dataset.count === '288'", timeout=30_000)
    name, data = download(page, "network")
    assert name == "mnist-convnet_network_2d_conv2-5-5-5.png"
    pixels = assert_picture_of(page, data, "#network", min_colours=100)
    # the edges: blue lines (negative weights) between conv1 and conv2; the maps' colour scale has
    # no blue, so blue pixels there are edges
    top, bottom = page.evaluate(
        """() => { const n = document.querySelector('#network').getBoundingClientRect();
             const a = document.querySelector('[data-layer=conv1]').getBoundingClientRect();
             const b = document.querySelector('[data-layer=conv2]').getBoundingClientRect();
             return [(a.top - n.top) * 2, (b.bottom - n.top) * 2]; }"""
    )
    band = pixels[round(top) : round(bottom)]
    blue = ((band[..., 2] > 150) & (band[..., 0] < 130)).sum()
    assert blue > 100, blue
    # the view on screen is back at the screen's own resolution
    assert page.evaluate("() => document.querySelector('[data-testid=edges]').width") == page.evaluate("() => document.querySelector('#network').scrollWidth")
