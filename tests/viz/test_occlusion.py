"""Occlusion against a brute-force loop of the contract's definition and a model with a known focus."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from app.errors import InvalidOption
from app.graph import ModelGraph
from app.viz import occlusion
from tests.viz.conftest import digit, explain


def brute_force_occlusion(model, x, class_index, patch, stride, fill):
    """One Keras forward pass per patch position, straight from the contract's definition."""
    height, width, _ = x.shape
    p = model.predict(x[None], verbose=0)[0, class_index]
    rows, cols = range(0, height - patch + 1, stride), range(0, width - patch + 1, stride)
    grid = np.zeros((len(rows), len(cols)))
    total, count = np.zeros((height, width)), np.zeros((height, width))
    for i, y in enumerate(rows):
        for j, xx in enumerate(cols):
            occluded = x.copy()
            occluded[y : y + patch, xx : xx + patch, :] = fill
            grid[i, j] = p - model(occluded[None], training=False)[0, class_index].numpy()
            total[y : y + patch, xx : xx + patch] += grid[i, j]
            count[y : y + patch, xx : xx + patch] += 1
    return grid, np.where(count > 0, total / np.maximum(count, 1), 0)


@pytest.mark.parametrize("patch,stride,fill", [(4, 2, 0.0), (5, 3, 0.5), (7, 7, 1.0)])
def test_occlusion_equals_brute_force(lenet, keras_models, mnist, patch, stride, fill):
    x = digit(mnist, 4)
    result = explain(lenet, "occlusion", x, 4, patch=patch, stride=stride, fill=fill)
    grid, heatmap = brute_force_occlusion(keras_models["mnist-lenet"], x, 4, patch, stride, fill)
    np.testing.assert_allclose(result.raw, grid, atol=1e-5)
    np.testing.assert_allclose(result.heatmap, heatmap, atol=1e-5)
    assert (result.extras["patch"], result.extras["stride"], result.extras["fill"]) == (patch, stride, fill)


def test_occlusion_finds_the_only_region_a_model_looks_at():
    """A model whose score reads pixels [8:12, 16:20] only: occlusion is non-zero exactly there."""
    inputs = keras.Input((24, 24, 1))
    dense = keras.layers.Dense(2, name="scores")
    outputs = keras.layers.Softmax()(dense(keras.layers.Flatten()(inputs)))
    model = keras.Model(inputs, outputs)
    kernel = np.zeros((576, 2), np.float32)
    mask = np.zeros((24, 24), bool)
    mask[8:12, 16:20] = True
    kernel[mask.ravel(), 0] = 1.0
    dense.set_weights([kernel, np.zeros(2, np.float32)])
    result = explain(ModelGraph(model), "occlusion", np.ones((24, 24, 1), np.float32), 0, patch=4, stride=4)
    grid = result.raw.copy()
    assert grid[2, 4] > 0.4
    grid[2, 4] = 0
    np.testing.assert_allclose(grid, 0, atol=1e-6)
    assert (result.heatmap[mask] > 0.4).all() and np.abs(result.heatmap[~mask]).max() < 1e-6


def test_defaults_follow_the_input_size_and_range(convnet):
    resolved = occlusion.Options().resolved(convnet)
    assert (resolved.patch, resolved.stride, resolved.fill) == (4, 2, 0.0)
    rows, cols = occlusion.positions(28, 28, resolved.patch, resolved.stride)
    assert len(rows) * len(cols) == 169


@pytest.mark.parametrize(
    "options", [{"patch": 29}, {"patch": 4, "stride": 29}, {"fill": float("nan")}, {"patch": 1, "stride": 1, "fill": float("inf")}]
)
def test_options_that_do_not_fit_the_model(convnet, options):
    with pytest.raises(InvalidOption):
        occlusion.Options(**options).resolved(convnet)
