"""Score-CAM (Wang et al. 2020) against its formula on hand-set weights, computed in numpy."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from app.errors import InvalidOption
from app.graph import ModelGraph
from app.viz.scorecam import Options
from tests.viz.conftest import explain

W = np.array([[1.5, -0.5], [-1.0, 0.5]], np.float32)
B = np.array([0.2, -0.1], np.float32)


def two_channel_model() -> keras.Model:
    """x [6, 6, 1] -> A = (2x, 1 - x) by a 1x1 conv ('same': A has the input's size, so the masks
    need no resizing) -> global average -> softmax(mean(A) @ W + B)."""
    inputs = keras.Input((6, 6, 1))
    conv = keras.layers.Conv2D(2, 1, padding="same", name="conv")
    dense = keras.layers.Dense(2, activation="softmax", name="classes")
    model = keras.Model(inputs, dense(keras.layers.GlobalAveragePooling2D()(conv(inputs))))
    conv.set_weights([np.array([[[[2.0, -1.0]]]], np.float32), np.array([0.0, 1.0], np.float32)])
    dense.set_weights([W, B])
    return model


def channels(x):
    return np.concatenate([2 * x, 1 - x], axis=-1)


def probability(x, class_index):
    z = channels(x).mean(axis=(0, 1)) @ W + B
    return np.exp(z[class_index]) / np.exp(z).sum()


def score_cam_by_hand(x, class_index, low=0.0, kept=(0, 1), channel_softmax=False):
    """Wang et al.: H_k = minmax(A_k); w_k = p_c(x seen through H_k); ReLU(sum_k w_k A_k)."""
    a = channels(x)
    weights = np.zeros(2)
    for k in kept:
        mask = (a[..., k] - a[..., k].min()) / (a[..., k].max() - a[..., k].min())
        weights[k] = probability(low + (x - low) * mask[..., None], class_index)
    if channel_softmax:
        weights[list(kept)] = np.exp(weights[list(kept)]) / np.exp(weights[list(kept)]).sum()
    return np.maximum((a * weights).sum(axis=-1), 0)


@pytest.fixture(scope="module")
def graph():
    return ModelGraph(two_channel_model())


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(5).uniform(0, 1, (6, 6, 1)).astype("float32")


@pytest.mark.parametrize("class_index", [0, 1])
def test_scorecam_by_hand(graph, x, class_index):
    result = explain(graph, "scorecam", x, class_index)
    np.testing.assert_allclose(result.raw, score_cam_by_hand(x, class_index), rtol=1e-5, atol=1e-6)
    assert result.extras == {"layer": "conv", "channels": 2}


def test_scorecam_channel_softmax_is_the_papers_algorithm(graph, x):
    result = explain(graph, "scorecam", x, 0, channel_softmax=True)
    np.testing.assert_allclose(result.raw, score_cam_by_hand(x, 0, channel_softmax=True), rtol=1e-5, atol=1e-6)


def test_faster_scorecam_keeps_the_channels_of_largest_variance(graph, x):
    """2x varies four times as much as 1 - x: with max_channels=1 only channel 0 is scored."""
    result = explain(graph, "scorecam", x, 0, max_channels=1)
    np.testing.assert_allclose(result.raw, score_cam_by_hand(x, 0, kept=(0,)), rtol=1e-5, atol=1e-6)
    assert result.extras["channels"] == 1
    with pytest.raises(InvalidOption, match="max_channels must be between 1 and 2"):
        Options(max_channels=3).resolved(graph)


def test_scorecam_masks_towards_the_low_end_of_the_input_range(x):
    graph = ModelGraph(two_channel_model(), input_range=(-1.0, 1.0))
    signed = 2 * x - 1
    result = explain(graph, "scorecam", signed, 1)
    np.testing.assert_allclose(result.raw, score_cam_by_hand(signed, 1, low=-1.0), rtol=1e-5, atol=1e-6)


def test_constant_channels_are_scored_as_the_fill_everywhere():
    """Two of three channels are constant (zero weight, their own bias): their masks are empty, so
    each sees the input at the fill everywhere and weighs p_c(fill) (scored once, used for both)."""
    inputs = keras.Input((6, 6, 1))
    conv = keras.layers.Conv2D(3, 1, padding="same", name="conv")
    dense = keras.layers.Dense(2, activation="softmax", name="classes")
    model = keras.Model(inputs, dense(keras.layers.GlobalAveragePooling2D()(conv(inputs))))
    kernel, bias = np.array([[[[2.0, 0.0, 0.0]]]], np.float32), np.array([0.0, 0.3, 0.7], np.float32)
    w3, b3 = np.array([[1.5, -0.5], [-1.0, 0.5], [0.4, 0.9]], np.float32), np.array([0.2, -0.1], np.float32)
    conv.set_weights([kernel, bias])
    dense.set_weights([w3, b3])
    x = np.random.default_rng(6).uniform(0, 1, (6, 6, 1)).astype("float32")

    def p(image):
        z = (image * kernel[0, 0, 0] + bias).mean(axis=(0, 1)) @ w3 + b3
        return np.exp(z[1]) / np.exp(z).sum()

    a = x * kernel[0, 0, 0] + bias
    mask = (a[..., 0] - a[..., 0].min()) / (a[..., 0].max() - a[..., 0].min())
    weights = np.array([p(x * mask[..., None]), p(np.zeros_like(x)), p(np.zeros_like(x))])
    result = explain(ModelGraph(model), "scorecam", x, 1)
    np.testing.assert_allclose(result.raw, np.maximum((a * weights).sum(axis=-1), 0), rtol=1e-5, atol=1e-6)


def test_default_channel_cap_keeps_the_channels_of_largest_variance(graph, x, monkeypatch):
    """Unset, max_channels is DEFAULT_MAX_CHANNELS: a wider layer is scored by its channels of
    largest variance (here a cap of 1: channel 0), and max_channels = the layer's channels scores
    them all, exactly as the formula."""
    from app.viz import scorecam

    monkeypatch.setattr(scorecam, "DEFAULT_MAX_CHANNELS", 1)
    capped = explain(graph, "scorecam", x, 0)
    np.testing.assert_allclose(capped.raw, score_cam_by_hand(x, 0, kept=(0,)), rtol=1e-5, atol=1e-6)
    assert capped.extras["channels"] == 1
    whole = explain(graph, "scorecam", x, 0, max_channels=2)
    np.testing.assert_allclose(whole.raw, score_cam_by_hand(x, 0), rtol=1e-5, atol=1e-6)
    assert whole.extras["channels"] == 2
    assert scorecam.cost(graph, Options().resolved(graph)).pixel_passes < scorecam.cost(graph, Options(max_channels=2).resolved(graph)).pixel_passes
