"""RISE (Petsiuk et al. 2018): eq. 6 on hand-set weights, computed per mask in numpy; the masks'
own properties; and a per-mask Keras loop on the convnet."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from app.graph import ModelGraph
from app.viz.resize import bilinear_matrix
from app.viz.rise import MaskSampler, Options
from tests.viz.conftest import digit, explain


def region_model():
    """Softmax over (sum of x[2:6, 3:7] - 8, 0) on a 12x12 input, with the weights set by hand."""
    inputs = keras.Input((12, 12, 1))
    dense = keras.layers.Dense(2, activation="softmax", name="classes")
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    region = np.zeros((12, 12), bool)
    region[2:6, 3:7] = True
    kernel = np.zeros((144, 2), np.float32)
    kernel[region.ravel(), 0] = 1.0
    dense.set_weights([kernel, np.array([-8.0, 0.0], np.float32)])
    return model, region


def test_rise_by_hand():
    """S = sum_i p_c(x * M_i) M_i / (N p), with p_c written out for the hand-set model."""
    model, region = region_model()
    x = np.random.default_rng(4).uniform(0.3, 1.0, (12, 12, 1)).astype("float32")
    options = Options(masks=300, cell=4, probability=0.4, seed=9)
    result = explain(ModelGraph(model), "rise", x, 0, **options.model_dump())
    masks = MaskSampler.draw(12, 12, options).masks(0, 300)
    logit = (x[..., 0][None] * masks)[:, region].sum(axis=1) - 8.0
    probability = 1 / (1 + np.exp(-logit))  # softmax over (z, 0)
    expected = (probability[:, None, None] * masks).sum(axis=0) / (300 * 0.4)
    np.testing.assert_allclose(result.raw, expected, rtol=1e-5, atol=1e-6)
    assert result.extras == {"masks": 300, "cell": 4, "probability": 0.4, "seed": 9}
    # the region the model reads is where the map is highest
    assert region.ravel()[result.heatmap.argmax()] and result.heatmap[region].mean() > result.heatmap[~region].mean() + 0.2


def test_masks_are_smooth_shifted_binary_grids():
    options = Options(masks=2000, cell=7, probability=0.3, seed=1)
    sampler = MaskSampler.draw(28, 28, options)
    masks = sampler.masks(0, 2000)
    assert masks.shape == (2000, 28, 28) and masks.min() >= 0 and masks.max() <= 1
    assert set(np.unique(sampler.grids)) == {0.0, 1.0}
    assert (sampler.shifts >= 0).all() and (sampler.shifts < 4).all()  # up to one cell of ceil(28 / 7) = 4 px
    assert masks.mean() == pytest.approx(0.3, abs=0.01)
    np.testing.assert_array_equal(MaskSampler.draw(28, 28, options).masks(100, 110), masks[100:110])
    # bilinear weights: each row sums to 1, and cell centres map onto the cells
    matrix = bilinear_matrix(7, 32)
    np.testing.assert_allclose(matrix.sum(axis=1), 1.0)
    all_kept = MaskSampler.draw(28, 28, Options(masks=5, probability=1.0)).masks(0, 5)
    np.testing.assert_allclose(all_kept, 1.0)


def test_rise_equals_a_per_mask_keras_loop(convnet, keras_models, mnist):
    x = digit(mnist, 11)
    options = Options(masks=64, seed=3)
    result = explain(convnet, "rise", x, 6, **options.model_dump())
    masks = MaskSampler.draw(28, 28, options).masks(0, 64)
    model = keras_models["mnist-convnet"]
    total = np.zeros((28, 28))
    for mask in masks:
        total += float(model(x[None] * mask[None, ..., None], training=False)[0, 6]) * mask
    np.testing.assert_allclose(result.raw, total / (64 * 0.5), rtol=1e-4, atol=1e-6)


def test_with_every_cell_kept_the_map_is_the_class_probability(convnet, mnist):
    x = digit(mnist, 2)
    result = explain(convnet, "rise", x, 1, masks=4, probability=1.0)
    p = float(convnet.probabilities(x[None])[0, 1])
    np.testing.assert_allclose(result.raw, np.full((28, 28), p), rtol=1e-5)
