"""Grad-CAM and Grad-CAM++ against hand-computed values and against the papers' formulas."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from app.graph import ModelGraph
from tests import tiny_models
from tests.viz.conftest import digit, explain


def box_model() -> keras.Model:
    """x [6, 6, 1] -> A = 3x3 box sum + 0.5 (a conv of ones) -> GAP -> logits (mean A, -mean A)."""
    inputs = keras.Input((6, 6, 1))
    conv = keras.layers.Conv2D(1, 3, name="conv")
    dense = keras.layers.Dense(2, name="scores")
    outputs = dense(keras.layers.GlobalAveragePooling2D()(conv(inputs)))
    model = keras.Model(inputs, outputs)
    conv.set_weights([np.ones((3, 3, 1, 1), np.float32), np.array([0.5], np.float32)])
    dense.set_weights([np.array([[1.0, -1.0]], np.float32), np.zeros(2, np.float32)])
    return model


@pytest.fixture(scope="module")
def box():
    x = (np.arange(36, dtype=np.float32).reshape(6, 6, 1) / 36.0) - 0.45
    a = np.array([[x[i : i + 3, j : j + 3].sum() + 0.5 for j in range(4)] for i in range(4)], np.float32)
    return ModelGraph(box_model()), x, a


def test_gradcam_by_hand(box):
    """d S_0 / d A = 1/16 everywhere, so raw = ReLU(A / 16) for class 0 and ReLU(-A / 16) for class 1."""
    graph, x, a = box
    np.testing.assert_allclose(explain(graph, "gradcam", x, 0).raw, np.maximum(a, 0) / 16, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(explain(graph, "gradcam", x, 1).raw, np.maximum(-a, 0) / 16, rtol=1e-5, atol=1e-7)


def test_gradcam_plus_plus_by_hand(box):
    """Eq. 19 with a constant gradient g = +-1/16: alpha = g^2 / (2 g^2 + sum(A) g^3), w = 16 alpha ReLU(g)."""
    graph, x, a = box
    for class_index, g in ((0, 1 / 16), (1, -1 / 16)):
        alpha = g**2 / (2 * g**2 + a.sum() * g**3)
        expected = np.maximum(16 * alpha * max(g, 0.0) * a, 0)
        raw = explain(graph, "gradcam++", x, class_index).raw
        np.testing.assert_allclose(raw, expected, rtol=1e-5, atol=1e-7)


def test_gradcam_plus_plus_normalised_alpha_by_hand(box):
    """With alpha divided by its spatial sum (tf-keras-vis), a constant gradient g gives alpha = 1/16,
    w = ReLU(g): Grad-CAM's map for class 0 and nothing for class 1."""
    graph, x, a = box
    result = explain(graph, "gradcam++", x, 0, normalise_alpha=True)
    np.testing.assert_allclose(result.raw, np.maximum(a, 0) / 16, rtol=1e-5, atol=1e-7)
    assert result.extras["normalise_alpha"] is True
    np.testing.assert_array_equal(explain(graph, "gradcam++", x, 1, normalise_alpha=True).raw, np.zeros((4, 4), np.float32))


def sequential_logit_and_map(model, x, layer_name, class_index):
    """Reference: call the layers one by one under a tape; the logit is the last Dense without softmax."""
    x = tf.convert_to_tensor(x[None], tf.float32)
    with tf.GradientTape() as tape:
        tensor, feature_map = x, None
        for layer in model.layers[:-1]:
            tensor = layer(tensor, training=False)
            if layer.name == layer_name:
                feature_map = tensor
        last = model.layers[-1]
        logit = (tf.matmul(tensor, last.kernel) + last.bias)[0, class_index]
    return feature_map[0].numpy(), tape.gradient(logit, feature_map)[0].numpy()


def reference_gradcam(feature_map, gradient):
    weights = gradient.mean(axis=(0, 1))  # Selvaraju et al. eq. 1
    return np.maximum((feature_map * weights).sum(axis=-1), 0)  # eq. 2


def correlation(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


@pytest.mark.parametrize("layer", ["conv3", "conv2", "pool1"])
def test_gradcam_matches_the_paper(convnet, keras_models, mnist, layer):
    model = keras_models["mnist-convnet"]
    x = digit(mnist, 0)
    top = int(np.argmax(model.predict(x[None], verbose=0)))
    for class_index in (top, (top + 3) % 10):
        result = explain(convnet, "gradcam", x, class_index, layer=layer)
        expected = reference_gradcam(*sequential_logit_and_map(model, x, layer, class_index))
        assert result.raw.shape == expected.shape and result.extras["layer"] == layer
        if expected.max() > 0:
            assert correlation(result.raw, expected) >= 0.99
        np.testing.assert_allclose(result.raw, expected, rtol=1e-4, atol=1e-5 * max(1.0, float(expected.max())))


def test_gradcam_plus_plus_matches_the_paper(convnet, keras_models, mnist):
    feature_map, g = sequential_logit_and_map(keras_models["mnist-convnet"], digit(mnist, 1), "conv2", 2)
    g, a = g.astype(np.float64), feature_map.astype(np.float64)
    denominator = 2 * g**2 + a.sum(axis=(0, 1)) * g**3  # Chattopadhyay et al. eq. 19
    alpha = np.divide(g**2, denominator, out=np.zeros_like(g), where=denominator != 0)
    weights = (alpha * np.maximum(g, 0)).sum(axis=(0, 1))
    expected = np.maximum((a * weights).sum(axis=-1), 0)
    assert correlation(explain(convnet, "gradcam++", digit(mnist, 1), 2, layer="conv2").raw, expected) >= 0.99


def test_gradcam_equals_cam_for_global_average_pooling():
    """For conv -> GAP -> Dense, Grad-CAM is the class activation map (Zhou et al. 2016) / (h * w)."""
    keras.utils.set_random_seed(4)
    inputs = keras.Input((12, 12, 1))
    features = keras.layers.Conv2D(5, 3, activation="relu", name="features")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    outputs = keras.layers.Dense(3, activation="softmax", name="classes")(pooled)
    model = keras.Model(inputs, outputs)
    graph = ModelGraph(model)
    x = np.random.default_rng(0).uniform(0, 1, (12, 12, 1)).astype("float32")
    feature_map = keras.Model(inputs, features)(x[None])[0].numpy()
    kernel = model.get_layer("classes").kernel.numpy()
    for class_index in range(3):
        cam = np.maximum(feature_map @ kernel[:, class_index], 0)
        np.testing.assert_allclose(explain(graph, "gradcam", x, class_index).raw * 100, cam, rtol=1e-4, atol=1e-6)


def test_gradcam_inside_a_nested_base():
    model = tiny_models.nested_rgb()
    graph = ModelGraph(model)
    base = model.get_layer("base")
    x = np.random.default_rng(2).uniform(0, 1, (64, 48, 3)).astype("float32")
    with tf.GradientTape() as tape:
        feature_map = base(x[None], training=False)
        tensor = feature_map
        for name in ("gap", "drop", "logits"):
            tensor = model.get_layer(name)(tensor, training=False)
        score = tensor[0, 2]
    expected = reference_gradcam(feature_map[0].numpy(), tape.gradient(score, feature_map)[0].numpy())
    result = explain(graph, "gradcam", x, 2)
    assert result.extras["layer"] == "base/conv_b"
    assert correlation(result.raw, expected) >= 0.99
    assert explain(graph, "gradcam", x, 2, layer="base/conv_a").raw.shape == (62, 46)


def test_layercam_by_hand(box):
    """Jiang et al. eq. 5 with d S_0 / d A = 1/16 and d S_1 / d A = -1/16: ReLU(A) / 16, and nothing."""
    graph, x, a = box
    np.testing.assert_allclose(explain(graph, "layercam", x, 0).raw, np.maximum(a, 0) / 16, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(explain(graph, "layercam", x, 1).raw, np.zeros((4, 4), np.float32))


def test_layercam_matches_the_paper(convnet, keras_models, mnist):
    feature_map, g = sequential_logit_and_map(keras_models["mnist-convnet"], digit(mnist, 2), "conv1", 1)
    expected = np.maximum((np.maximum(g, 0) * feature_map).sum(axis=-1), 0)
    raw = explain(convnet, "layercam", digit(mnist, 2), 1, layer="conv1").raw
    np.testing.assert_allclose(raw, expected, rtol=1e-4, atol=1e-6)
