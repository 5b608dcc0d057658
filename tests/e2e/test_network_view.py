"""The network view as Harley drew it, in real headless Chromium: the whole seed network in a
1440x900 window, hover edges to every unit a unit reads, the page state in the URL, the 3D view,
the camera, and VGG16's overview within its byte budget."""

from __future__ import annotations

import io
from urllib.parse import unquote

import numpy as np
import pytest
from PIL import Image

from tests.e2e.conftest import unit_point

pytestmark = pytest.mark.browser

# Units each layer's unit reads in mnist-convnet: conv 3x3 x c_in, pool 2x2 of its channel,
# flatten one, dense all inputs.
CONVNET_FAN_IN = {"conv1": 9, "pool1": 4, "conv2": 288, "pool2": 4, "conv3": 576, "flatten": 1, "dense1": 576, "output": 64}


def edge_count(page) -> int:
    return int(page.get_attribute("[data-testid=edges]:visible", "data-count"))


def test_the_seed_network_fits_a_1440x900_window_and_opens_with_a_test_digit(open_app, client):
    page = open_app()
    boxes = page.eval_on_selector_all(
        "[data-testid=layer], [data-testid=input-layer], [data-testid=layer] .bar",
        "nodes => nodes.map(n => { const r = n.getBoundingClientRect(); return [n.dataset.layer || n.dataset.index, r.left, r.top, r.right, r.bottom]; })",
    )
    detail = client.get("/api/models/mnist-convnet").json()
    assert [b[0] for b in boxes if b[0] and not b[0].isdigit()] == ["input"] + [layer["name"] for layer in detail["layers"]]
    for name, left, top, right, bottom in boxes:
        assert left >= 0 and top >= 0 and right <= 1440 and bottom <= 900, (name, left, top, right, bottom)
    assert page.evaluate("document.querySelector('#network').scrollHeight <= document.querySelector('#network').clientHeight")
    # a 3x3 map is drawn small but cell by cell; the input large
    cells = page.eval_on_selector_all("[data-layer] canvas", "cs => Object.fromEntries(cs.map(c => [c.closest('[data-layer]').dataset.layer, c.getBoundingClientRect().width / c.width]))")
    assert cells["conv3"] >= 3 and cells["input"] > cells["conv1"]
    # the first MNIST test digit (a 7) is in, so no blank input's bias noise is shown
    assert page.inner_text("[data-testid=prediction]").strip() == "7"
    assert "draw over it" in page.inner_text("#pad-card")
    samples = page.locator("[data-testid=sample]")
    assert samples.count() == 6 and "MNIST" in page.inner_text("#samples-source")
    samples.nth(2).click()  # the test set's third digit, a 1
    page.wait_for_function("() => document.querySelector('[data-testid=prediction]').textContent.trim() === '1'")


def test_hovering_draws_edges_to_every_unit_read_and_click_pins_it(open_app):
    page = open_app()
    for layer, unit in [("conv2", (5, 5, 5)), ("dense1", (3,)), ("pool1", (2, 4, 4)), ("conv1", (0, 10, 10))]:
        page.mouse.move(*unit_point(page, layer, unit))
        page.wait_for_function(f"() => document.querySelector('[data-testid=edges]').dataset.unit === '{layer}'")
        assert edge_count(page) == CONVNET_FAN_IN[layer], layer
    page.hover("[data-layer=output] .bar[data-index='7']")
    page.wait_for_function("() => document.querySelector('[data-testid=edges]').dataset.unit === 'output'")
    assert edge_count(page) == 64
    # edges are coloured by the sign of their weight: red and blue lines on the overlay
    page.mouse.move(*unit_point(page, "conv2", (5, 5, 5)))
    page.wait_for_function("() => document.querySelector('[data-testid=info]').textContent.includes('the model computed')")
    colours = page.evaluate(
        """() => { const c = document.querySelector('[data-testid=edges]'); const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
             let red = 0, blue = 0; for (let i = 0; i < d.length; i += 4) { if (d[i] > 150 && d[i + 2] < 110 && d[i + 3] > 60) red++; if (d[i + 2] > 150 && d[i] < 130 && d[i + 3] > 60) blue++; } return [red, blue]; }"""
    )
    assert colours[0] > 50 and colours[1] > 50, colours
    page.mouse.click(*unit_point(page, "conv2", (5, 5, 5)))
    page.wait_for_function("() => decodeURIComponent(location.search).includes('unit=conv2:5,5,5')", timeout=5_000)
    page.mouse.move(5, 5)  # away: the clicked unit stays in the box, with its edges
    page.wait_for_function("() => document.querySelector('[data-testid=info]').textContent.includes('pinned')")
    assert "conv2 (Conv2D), row 5, column 5, channel 5" in page.inner_text("[data-testid=info]")
    assert edge_count(page) == 288


def test_the_url_restores_the_page_state(open_app):
    page = open_app("?model=mnist-lenet&scale=layer&unit=conv2:3,4,5&method=occlusion&class=7")
    page.wait_for_function("() => document.querySelector('[data-testid=info]').textContent.includes('the model computed')")
    assert page.input_value("#model") == "mnist-lenet"
    assert page.input_value("#scale") == "layer"
    assert page.input_value("[data-testid=explain-method]") == "occlusion"
    assert page.input_value("#explain-class") == "7"
    assert "conv2 (Conv2D), row 4, column 5, channel 3" in page.inner_text("[data-testid=info]")
    assert edge_count(page) == 5 * 5 * 6  # LeNet's conv2: 5x5 kernels over pool1's 6 channels
    page.select_option("#scale", "global")
    page.select_option("[data-testid=explain-method]", "gradcam")
    query = unquote(page.url)
    assert "scale=global" in query and "method=gradcam" in query and "unit=conv2:3,4,5" in query


def test_the_3d_view_renders_webgl_and_hover_draws_edges(open_app):
    page = open_app("?view=3d")
    canvas = page.locator("#network-3d canvas")
    page.wait_for_function("() => document.querySelector('#network-3d canvas').width > 0")
    assert page.is_checked("[data-testid=view-3d]") and page.is_hidden("#network")
    assert page.evaluate("() => !!document.querySelector('#network-3d canvas').getContext('webgl2')")
    shot = np.asarray(Image.open(io.BytesIO(canvas.screenshot())).convert("RGB")).astype(int)
    assert (shot.sum(axis=2) > 150).sum() > 2000  # the planes are drawn, not a black surface
    box = canvas.bounding_box()
    hits = {}
    for fy in np.linspace(0.25, 0.9, 12):
        point = (box["x"] + box["width"] * 0.5, box["y"] + box["height"] * fy)
        page.mouse.move(*point)
        layer = page.get_attribute("#network-3d canvas", "data-unit")
        if layer:
            hits.setdefault(layer, (point, int(page.get_attribute("#network-3d canvas", "data-count"))))
    assert len(hits) >= 3, hits
    for layer, (_, count) in hits.items():
        if layer != "input":
            assert count == CONVNET_FAN_IN[layer], (layer, count)
    # the info box follows the hovered unit, as in 2D
    layer, (point, _) = next((name, hit) for name, hit in hits.items() if name != "input")
    page.mouse.move(*point)
    page.wait_for_function(f"() => document.querySelector('[data-testid=info]').textContent.includes('{layer} (')")
    # hide that layer: the same point now reaches another layer, or none
    page.uncheck(f"#network-3d input[data-layer={layer}]")
    page.mouse.move(point[0] + 1, point[1])
    assert page.get_attribute("#network-3d canvas", "data-unit") != layer
    page.uncheck("[data-testid=view-3d]")
    assert page.is_visible("#network") and "view=3d" not in page.url


def test_the_camera_path_with_a_fake_camera(open_app):
    page = open_app()
    answers = page.evaluate("window.convnetVis.answers")
    page.click("[data-testid=camera]")
    page.wait_for_function("() => document.querySelector('#camera-video').videoWidth > 0", timeout=20_000)
    page.click("[data-testid=capture]")
    page.wait_for_function(f"() => window.convnetVis.answers > {answers}", timeout=20_000)
    assert page.inner_text("#upload-name") == "camera photo"
    page.click("#camera-stop")
    assert page.is_hidden("#camera-box")


@pytest.fixture(scope="module")
def vgg16_server():
    from tests.e2e.inmemory import serving, vgg16

    with serving({"vgg16": (vgg16(), {"name": "VGG16 (random weights)", "input_range": (0.0, 255.0)})}) as url:
        yield url


def test_vgg16_overview_draws_every_layer_within_the_byte_budget(browser, vgg16_server):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    with page.expect_response(lambda response: "/activations" in response.url, timeout=60_000) as answer:
        page.goto(vgg16_server + "/?model=vgg16")
    size = len(answer.value.body())
    assert "max_side=16" in answer.value.url and size < 8_000_000, size  # the sample picture's whole overview
    page.wait_for_function("() => window.convnetVis.answers > 0", timeout=60_000)
    layers = page.eval_on_selector_all("#overview [data-testid=layer]", "nodes => nodes.map(n => n.dataset.layer)")
    assert layers[:3] == ["block1_conv1", "block1_conv2", "block1_pool"] and layers[-1] == "predictions" and len(layers) == 20
    assert page.locator("#overview canvas").count() == len(layers)  # one canvas per layer
    assert page.is_hidden("[data-testid=draw-canvas]") and page.is_hidden("#view-switch")
    for name in layers:
        page.locator(f"#overview [data-layer={name}]").scroll_into_view_if_needed()
        page.wait_for_function(f"() => Number(document.querySelector('#overview [data-layer={name}]').dataset.drawn) > 0")
    # only the visible part of a strip is drawn: block5's 512 thumbnails do not fit one strip
    assert 0 < int(page.get_attribute("#overview [data-layer=block5_conv1]", "data-drawn")) < 512
    page.locator("#overview [data-layer=block1_conv1] .layer-open").click()
    page.wait_for_function("() => document.querySelector('[data-testid=layer-maps]').dataset.maps === '64'", timeout=30_000)
    assert page.evaluate("() => document.querySelector('[data-testid=layer-maps]').width") == 8 * 225 - 1
    # the real gradient ascent: block1_conv1's pattern needs only the model up to that layer (~6 s here)
    with page.expect_response(lambda response: "/filters/0" in response.url, timeout=120_000) as pattern_answer:
        page.locator("[data-testid=layer-maps]").click(position={"x": 5, "y": 5})
        page.wait_for_selector("#map-dialog[open]")
    pattern = pattern_answer.value.json()
    assert pattern["layer"] == "block1_conv1" and pattern["filter"] == 0 and pattern["png"].startswith("data:image/png")
    assert "block1_conv1, channel 0" in page.inner_text("#map-title")
    assert "224×224" in page.inner_text("#map-range")
    page.wait_for_selector("[data-testid=filter-pattern]")
    assert page.get_attribute("[data-testid=filter-pattern]", "src") == pattern["png"]  # the server's own picture
    assert f"{pattern['activation']:.2f}" in page.inner_text("#map-dialog")
    context.close()
    assert not errors, errors
