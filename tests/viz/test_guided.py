"""Guided Backprop (Springenberg et al. 2015) and Guided Grad-CAM (Selvaraju et al. 2017) against a
forward and guided backward pass written out in numpy, on hand-set weights; the served model is
left as it was."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from app.graph import ModelGraph
from tests.viz.conftest import explain

RNG = np.random.default_rng(0)  # weights for which the guided rule matters for both classes
KERNEL = RNG.normal(0, 1, (2, 2, 1, 2)).astype("float32")
CONV_BIAS = np.array([0.1, -0.2], np.float32)
W2 = RNG.normal(0, 0.5, (18, 3)).astype("float32")
B2 = np.array([0.05, -0.1, 0.2], np.float32)
W3 = RNG.normal(0, 1, (3, 2)).astype("float32")
B3 = np.array([0.0, 0.1], np.float32)


def hand_model(relu_as: str) -> keras.Model:
    """x [4, 4, 1] -> conv 2x2 (2 channels) -> ReLU -> flatten -> dense 3 -> ReLU -> dense 2 softmax.
    The ReLUs are the layers' activations ("fused") or their own ReLU / Activation layers."""
    fused = relu_as == "fused"
    inputs = keras.Input((4, 4, 1))
    conv = keras.layers.Conv2D(2, 2, activation="relu" if fused else None, name="conv")
    hidden = keras.layers.Dense(3, activation="relu" if fused else None, name="hidden")
    tensor = conv(inputs)
    tensor = tensor if fused else keras.layers.ReLU(name="conv_relu")(tensor)
    tensor = hidden(keras.layers.Flatten()(tensor))
    tensor = tensor if fused else keras.layers.Activation("relu", name="hidden_relu")(tensor)
    output = keras.layers.Dense(2, activation="softmax", name="classes")
    model = keras.Model(inputs, output(tensor))
    conv.set_weights([KERNEL, CONV_BIAS])
    hidden.set_weights([W2, B2])
    output.set_weights([W3, B3])
    return model


def by_hand(x, class_index, guided):
    """d z_c / d x, with every ReLU's backward rule plain or guided."""

    def relu_backward(upstream, preactivation):
        passed = upstream * (preactivation > 0)
        return passed * (upstream > 0) if guided else passed

    z1 = np.zeros((3, 3, 2))
    for i in range(3):
        for j in range(3):
            z1[i, j] = np.tensordot(x[i : i + 2, j : j + 2, :], KERNEL, axes=3) + CONV_BIAS
    z2 = np.maximum(z1, 0).ravel() @ W2 + B2
    g_z2 = relu_backward(W3[:, class_index].astype(np.float64), z2)
    g_z1 = relu_backward((W2 @ g_z2).reshape(3, 3, 2), z1)
    g_x = np.zeros_like(x, dtype=np.float64)
    for i in range(3):
        for j in range(3):
            g_x[i : i + 2, j : j + 2, :] += (KERNEL * g_z1[i, j]).sum(axis=-1)
    return g_x


@pytest.fixture(scope="module")
def x():
    return np.random.default_rng(2).uniform(0, 1, (4, 4, 1)).astype("float32")


@pytest.mark.parametrize("relu_as", ["fused", "layers"])
@pytest.mark.parametrize("class_index", [0, 1])
def test_guided_backprop_by_hand(x, relu_as, class_index):
    model = hand_model(relu_as)
    graph = ModelGraph(model)
    result = explain(graph, "guided_backprop", x, class_index)
    expected = by_hand(x, class_index, guided=True)
    np.testing.assert_allclose(result.raw, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(result.heatmap, np.abs(expected[..., 0]) / np.abs(expected).max(), rtol=1e-5, atol=1e-6)
    plain = by_hand(x, class_index, guided=False)
    assert not np.allclose(plain, expected), "the weights must make the guided rule matter"
    # the served model is untouched: the plain gradient is still the plain gradient
    np.testing.assert_allclose(explain(graph, "gradient", x, class_index, absolute=False).raw, plain[..., 0], rtol=1e-5, atol=1e-6)
    if relu_as == "fused":
        assert model.get_layer("conv").activation is keras.activations.relu


def test_guided_gradcam_by_hand(x):
    graph = ModelGraph(hand_model("fused"))
    result = explain(graph, "guided_gradcam", x, 1)
    gradcam = explain(graph, "gradcam", x, 1)
    np.testing.assert_allclose(result.raw, by_hand(x, 1, guided=True) * gradcam.heatmap[..., None], rtol=1e-5, atol=1e-6)
    assert result.extras == {"layer": "conv"}
