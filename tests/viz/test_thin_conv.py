"""Thin convolutions (one input channel) as shifted sums fused by XLA: the batched passes' graph.

They must equal Keras's own Conv2D for every configuration they accept, read the layer's weights
as they are now, and the runner must use them only where they reproduce the plain graph.
"""

from __future__ import annotations

import logging

import keras
import numpy as np
import pytest

from app.graph import ModelGraph, thin_conv


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


POOLED = [
    (_config(), 2),
    (_config(kernel_size=(5, 2), padding="same"), (3, 2)),  # uneven windows; 17 rows: the last 2 dropped
    (_config(strides=2, padding="same"), 2),
    (_config(strides=(1, 2), activation=None), 2),
    (_config(dilation_rate=2), 2),
    (_config(use_bias=False), 3),
]


@pytest.mark.parametrize("config, pool_size", POOLED, ids=lambda c: "-".join(str(v) for v in c.values()) if isinstance(c, dict) else str(c))
def test_a_thin_convolution_with_its_max_pool_equals_keras(config, pool_size):
    rng = np.random.default_rng(3)
    conv, pool = keras.layers.Conv2D(4, **config), keras.layers.MaxPooling2D(pool_size)
    x = rng.uniform(-1, 1, (5, 17, 13, 1)).astype("float32")
    conv(x)
    conv.set_weights([rng.normal(size=w.shape).astype("float32") for w in conv.get_weights()])
    assert thin_conv.is_tiling_max_pool(pool)
    got = keras.ops.convert_to_numpy(thin_conv.ShiftedConv2D(conv, pool)(x))
    want = keras.ops.convert_to_numpy(pool(conv(x)))
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-5)


def test_the_rule_folds_a_max_pool_only_where_it_may(keras_models):
    """conv1 + pool1 of the seed model fold; after tanh (a pool before it would still be right, but
    the rule keeps to relu and linear), after a wide input, or with overlapping windows, they do not."""
    from app.graph.trace import trace

    def fused_layers(model):
        traced = trace(model, call_layer=thin_conv.Rule())
        return [(layer.conv.name, layer.pool.name if layer.pool else None) for layer in traced.output_model.layers if isinstance(layer, thin_conv.ShiftedConv2D)]

    def model(activation="relu", channels=1, pool_size=2, pool_strides=None):
        inputs = keras.Input((12, 12, channels))
        pool = keras.layers.MaxPooling2D(pool_size, strides=pool_strides, name="pool")
        x = pool(keras.layers.Conv2D(3, 3, activation=activation, name="conv")(inputs))
        return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(x)))

    assert fused_layers(keras_models["mnist-convnet"]) == [("conv1", "pool1")]
    assert fused_layers(model()) == [("conv", "pool")]
    assert fused_layers(model(activation=None)) == [("conv", "pool")]
    assert fused_layers(model(activation="tanh")) == [("conv", None)]
    assert fused_layers(model(channels=3)) == []
    assert fused_layers(model(pool_size=3, pool_strides=2)) == [("conv", None)]
    assert not thin_conv.is_tiling_max_pool(keras.layers.MaxPooling2D(2, padding="same"))
    assert not thin_conv.is_tiling_max_pool(keras.layers.AveragePooling2D(2))


def test_a_batch_over_64_is_padded_to_a_multiple_of_64_and_cut_back():
    conv = keras.layers.Conv2D(3, 3, activation="relu")
    x = np.random.default_rng(4).uniform(0, 1, (70, 9, 9, 1)).astype("float32")
    want = keras.ops.convert_to_numpy(conv(x))
    got = keras.ops.convert_to_numpy(thin_conv.ShiftedConv2D(conv)(x))
    assert got.shape == want.shape == (70, 7, 7, 3)
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
    assert convnet.fuses_thin_convs
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
    assert not ModelGraph(keras.Model(inputs, outputs)).fuses_thin_convs


def test_a_fused_graph_that_disagrees_is_not_used(monkeypatch, keras_models, caplog):
    """The runner checks the fused graph against the plain one before using it."""
    shifted_sum = thin_conv.ShiftedConv2D._shifted_sum
    monkeypatch.setattr(thin_conv.ShiftedConv2D, "_shifted_sum", lambda self, x: shifted_sum(self, x) + 0.5)  # right shape, wrong values
    with caplog.at_level(logging.WARNING, logger="convnet_vis.graph"):
        graph = ModelGraph(keras_models["mnist-convnet"])
        assert not graph.fuses_thin_convs
    assert "does not reproduce" in caplog.text
    images = np.random.default_rng(2).uniform(0, 1, (4, 28, 28, 1)).astype("float32")
    expected = keras.ops.convert_to_numpy(keras_models["mnist-convnet"](images, training=False))
    np.testing.assert_allclose(graph.probabilities(images), expected, rtol=1e-4, atol=1e-6)


def test_a_fused_graph_that_fails_to_build_is_not_used(monkeypatch, keras_models, caplog):
    """Whatever goes wrong while building it, the plain graph answers, and it is not tried again."""
    calls = []

    def broken(self, *args):
        calls.append(1)
        raise RuntimeError("broken on purpose")

    monkeypatch.setattr(thin_conv.ShiftedConv2D, "__init__", broken)
    graph = ModelGraph(keras_models["mnist-convnet"])
    images = np.random.default_rng(2).uniform(0, 1, (8, 28, 28, 1)).astype("float32")
    expected = keras.ops.convert_to_numpy(keras_models["mnist-convnet"](images, training=False))
    with caplog.at_level(logging.WARNING, logger="convnet_vis.graph"):
        np.testing.assert_allclose(graph.probabilities(images), expected, rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(graph.probabilities(images), expected, rtol=1e-4, atol=1e-6)
    assert not graph.fuses_thin_convs and len(calls) == 1
    assert "broken on purpose" in caplog.text


@pytest.mark.parametrize("strides,padding", [(1, "same"), (1, "valid"), (2, "same"), (2, "valid")])
def test_a_grouped_depthwise_convolution_equals_keras_conv2d(strides, padding):
    """ConvNeXt's 7x7 Conv2D with groups = filters = input channels, as a depthwise convolution."""
    rng = np.random.default_rng(0)
    conv = keras.layers.Conv2D(6, 7, strides=strides, padding=padding, groups=6, activation="relu")
    x = rng.uniform(-1, 1, (3, 15, 13, 6)).astype("float32")
    conv(x)
    conv.set_weights([rng.normal(size=w.shape).astype("float32") for w in conv.get_weights()])
    assert thin_conv.is_grouped_depthwise(conv) and not thin_conv.is_thin(conv)
    np.testing.assert_allclose(thin_conv.DepthwiseConv2D(conv)(x), conv(x), rtol=1e-5, atol=1e-5)


def test_grouped_convolutions_of_several_channels_per_group_stay_as_they_are():
    conv = keras.layers.Conv2D(8, 3, groups=4)
    conv(np.zeros((1, 5, 5, 8), np.float32))
    assert not thin_conv.is_grouped_depthwise(conv)


def test_the_batched_graph_of_a_convnext_block_runs_depthwise_and_equals_the_model():
    inputs = keras.Input((12, 12, 3))
    x = keras.layers.Conv2D(8, 2, strides=2, name="stem")(inputs)
    y = keras.layers.Conv2D(8, 7, padding="same", groups=8, name="dw")(x)
    y = keras.layers.LayerNormalization(epsilon=1e-6)(y)
    y = keras.layers.Dense(16, activation="gelu")(y)
    y = keras.layers.Dense(8)(y)
    x = keras.layers.Add()([x, y])
    outputs = keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x))
    keras.utils.set_random_seed(0)
    model = keras.Model(inputs, outputs)
    graph = ModelGraph(model, input_range=(0.0, 1.0))
    assert graph.fuses_thin_convs
    images = np.random.default_rng(1).uniform(0, 1, (8, 12, 12, 3)).astype("float32")
    expected = keras.ops.convert_to_numpy(keras.ops.softmax(model(images, training=False)))
    np.testing.assert_allclose(graph.probabilities(images), expected, rtol=1e-5, atol=1e-6)
