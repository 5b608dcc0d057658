"""Dense layers as Harley draws them (issue 27, item 5): every dense unit at least 8 css px, so a
mouse can hover and a finger tap it, at a laptop's, a projector's and a phone's size; a dense unit's
edges only its strongest contributions, with their count said; the Unit box names a dense unit's
inputs by map, row and column, in Keras's own Flatten order."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from tests.e2e.conftest import unit_point

pytestmark = pytest.mark.browser

VIEWPORTS = [(1440, 900), (1920, 1080), (390, 844)]


def dense_layers(client, model: str) -> list[dict]:
    detail = client.get(f"/api/models/{model}").json()
    return [layer for layer in detail["layers"] if layer["kind"] == "dense" and layer["class_name"] == "Dense"]


@pytest.mark.parametrize("width,height", VIEWPORTS)
@pytest.mark.parametrize("model", ["mnist-convnet", "mnist-lenet"])
def test_every_dense_unit_is_big_enough_to_hover_and_hovering_names_it(open_app, client, model, width, height):
    page = open_app(f"?model={model}", width, height)
    for layer in dense_layers(client, model):
        name = layer["name"]
        if page.locator(f"[data-layer='{name}'] canvas").count() == 0:
            continue  # the output as probability bars: those are tested with the page
        canvas = page.locator(f"[data-layer='{name}'] canvas")
        canvas.scroll_into_view_if_needed()
        box = page.evaluate(
            f"""() => {{ const c = document.querySelector("[data-layer='{name}'] canvas"); const r = c.getBoundingClientRect();
                 return {{ cell: r.width / c.width, cellY: r.height / c.height, left: r.left, right: r.right, units: Number(c.dataset.units) }}; }}"""
        )
        assert box["cell"] >= 8 and box["cellY"] >= 8, (name, box)
        assert box["units"] == layer["output_shape"][0]
        assert box["left"] >= 0 and box["right"] <= width, (name, box)  # wrapped into rows, not cut off
        for index in sorted({0, box["units"] // 2, box["units"] - 1}):
            page.mouse.move(*unit_point(page, name, (index,)))
            page.wait_for_function(
                f"() => document.querySelector('[data-testid=info]').textContent.includes('{name} (Dense), unit {index}')", timeout=10_000
            )


def keras_flatten_positions(shape: tuple[int, int, int]) -> list[tuple[int, int, int]]:
    """(row, column, map) of each output of Keras's Flatten on a (rows, columns, maps) input."""
    numbered = np.arange(int(np.prod(shape)), dtype="float32").reshape((1, *shape))
    flat = keras.ops.convert_to_numpy(keras.layers.Flatten()(numbered))[0].astype(int)
    return [tuple(int(v) for v in np.unravel_index(source, shape)) for source in flat]


@pytest.mark.parametrize("model", ["mnist-convnet", "mnist-lenet"])
def test_a_dense_unit_names_its_inputs_by_map_row_and_column_and_draws_its_strongest_edges(open_app, client, model):
    page = open_app(f"?model={model}")
    detail = client.get(f"/api/models/{model}").json()
    by_name = {layer["name"]: layer for layer in detail["layers"]}
    first = next(layer for layer in dense_layers(client, model) if by_name[layer["inbound"][0]]["class_name"] == "Flatten")
    flatten = by_name[first["inbound"][0]]
    source = by_name[flatten["inbound"][0]]
    positions = keras_flatten_positions(tuple(source["output_shape"]))
    fan_in = flatten["output_shape"][0]

    page.mouse.click(*unit_point(page, first["name"], (3,)))
    page.wait_for_function("() => document.querySelectorAll('[data-testid=info] .contributions li[data-map]').length === 5", timeout=15_000)
    items = page.eval_on_selector_all(
        "[data-testid=info] .contributions li",
        "items => items.map(li => [Number(li.dataset.input), Number(li.dataset.map), Number(li.dataset.row), Number(li.dataset.column), li.textContent])",
    )
    for index, channel, row, column, text in items:
        assert (row, column, channel) == positions[index], (index, text)
        assert text.startswith(f"{source['name']} map {channel}, row {row}, column {column}:"), text
        assert "input " not in text

    # its edges: the strongest 24 of its inputs drawn, the count of all it reads kept
    page.wait_for_function(f"() => document.querySelector('[data-testid=edges]').dataset.unit === '{first['name']}'")
    assert page.get_attribute("[data-testid=edges]", "data-count") == str(fan_in)
    assert page.get_attribute("[data-testid=edges]", "data-drawn") == "24"
    # a conv unit still draws every edge
    page.mouse.click(*unit_point(page, first["name"], (3,)))  # unpin
    conv = next(layer for layer in detail["layers"] if layer["class_name"] == "Conv2D")
    page.mouse.move(*unit_point(page, conv["name"], (0, 5, 5)))
    page.wait_for_function(f"() => document.querySelector('[data-testid=edges]').dataset.unit === '{conv['name']}'")
    assert page.get_attribute("[data-testid=edges]", "data-drawn") == page.get_attribute("[data-testid=edges]", "data-count")


def test_the_3d_view_draws_a_dense_units_strongest_edges_too(open_app):
    page = open_app("?model=mnist-convnet&view=3d&unit=dense1:3")
    page.wait_for_function(
        "() => { const c = document.querySelector('#network-3d canvas'); return c && c.dataset.unit === 'dense1' && c.dataset.drawn === '24'; }", timeout=30_000
    )
    assert page.get_attribute("#network-3d canvas", "data-count") == "576"
