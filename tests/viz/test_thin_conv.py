"""Thin convolutions (one input channel) as shifted sums fused by XLA: the batched passes' graph.

They must equal Keras's own Conv2D for every configuration they accept, read the layer's weights
as they are now, and the runner must use them only where they reproduce the plain graph.
"""

from __future__ import annotations

import itertools

import keras
import numpy as np
import pytest

from app.graph import ModelGraph, thin_conv
from app.graph.runner import GraphRunner

def _config(kernel_size=3, strides=1, dilation_rate=1, padding="valid", use_bias=True, activation="relu"):
    return dict(kernel_size=kernel_size, strides=strides, dilation_rate=dilation_rate, padding=padding, use_bias=use_bias, activation=activation)


CONFIGS = [
    *(_config(kernel_size=k, padding=p) for k in (1, 3, (5, 2)) for p in ("valid", "same")),
    *(_config(kernel_size=k, strides=s, padding=p) for k in (3, (5, 2)) for s in (2, (1, 3)) for p in ("valid", "same")),
    *(_config(dilation_rate=d, padding=p) for d in (2, (1, 3)) for p in ("valid", "same")),
    _config(use_bias=False, activation=None),
    _config(activation="tanh", padding="same"),
]


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: "-".join(str(v) for v in c.values()))
def test_a_thin_convolution_equals_keras_conv2d(config):
    rng = np.random.default_rng(0)
    conv = keras.layers.Conv2D(5, **config)
    x = rng.uniform(-1, 1, (3, 17, 12, 1)).astype("float32")  # odd sizes: "same" pads unevenly
    conv(x)
    conv.set_weights([rng.normal(size=w.shape).astype("float32") for w in conv.get_weights()])
    assert thin_conv.is_thin(conv)
    shifted = thin_conv.ShiftedConv2D(conv)
    for batch in (x, x[:1], np.concatenate([x] * 3)):  # a bucket's padding, one image, two buckets
        got = keras.ops.convert_to_numpy(shifted(batch))
        want = keras.ops.convert_to_numpy(conv(batch))
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_it_reads_the_layers_weights_at_every_call():
    conv = keras.layers.Conv2D(2, 3)
    x = np.random.default_rng(1).uniform(0, 1, (2, 8, 8, 1)).astype("float32")
    conv(x)
    shifted = thin_conv.ShiftedConv2D(conv)
    before = keras.ops.convert_to_numpy(shifted(x))
    conv.kernel.assign(conv.kernel * 2.0)
    conv.bias.assign([1.0, -1.0])
    after = keras.ops.convert_to_numpy(shifted(x))
    assert not np.allclose(before, after)
    np.testing.assert_allclose(after, keras.ops.convert_to_numpy(conv(x)), rtol=1e-5, atol=1e-5)


def test_only_plain_one_channel_convolutions_are_thin():
    def built(layer, channels):
        layer.build((None, channels, 9, 9) if getattr(layer, "data_format", "") == "channels_first" else (None, 9, 9, channels))
        return layer

    assert thin_conv.is_thin(built(keras.layers.Conv2D(4, 3), 1))
    assert not thin_conv.is_thin(built(keras.layers.Conv2D(4, 3), 3))  # RGB: Keras's own kernel
    assert not thin_conv.is_thin(built(keras.layers.Conv2D(4, 3, data_format="channels_first"), 1))
    assert not thin_conv.is_thin(built(keras.layers.DepthwiseConv2D(3), 1))
    assert not thin_conv.is_thin(built(keras.layers.Conv2DTranspose(4, 3), 1))
    assert not thin_conv.is_thin(keras.layers.Conv2D(4, 3))  # not built: no kernel to read


def test_the_seed_models_batched_pass_uses_them_and_equals_keras(convnet, keras_models, mnist):
    assert convnet.runner.fused_thin_convs
    images = (mnist[0][:37, ..., None] / 255.0).astype("float32")  # 37: padded to 40 for XLA
    expected = keras.ops.convert_to_numpy(keras_models["mnist-convnet"](images, training=False))
    got = convnet.probabilities(images)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_array_equal(got.argmax(1), expected.argmax(1))


def test_an_rgb_model_keeps_the_plain_graph():
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu")(inputs)
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.Flatten()(x))
    assert not ModelGraph(keras.Model(inputs, outputs)).runner.fused_thin_convs


def test_a_fused_graph_that_disagrees_is_not_used(monkeypatch, keras_models):
    """The runner checks the fused graph against the plain one before using it."""
    monkeypatch.setattr(thin_conv.ShiftedConv2D, "_shifted_sum", lambda self, x: self.conv(x) + 1.0)
    graph = ModelGraph(keras_models["mnist-convnet"])
    assert not graph.runner.fused_thin_convs
    images = np.random.default_rng(2).uniform(0, 1, (4, 28, 28, 1)).astype("float32")
    expected = keras.ops.convert_to_numpy(keras_models["mnist-convnet"](images, training=False))
    np.testing.assert_allclose(graph.probabilities(images), expected, rtol=1e-4, atol=1e-6)
    assert isinstance(graph.runner, GraphRunner)
