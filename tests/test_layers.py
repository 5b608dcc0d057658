"""Layer facts: one lookup with one wording, the layers methods pick, and receptive fields."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from app.errors import InvalidOption, NotFound
from app.graph import LayerNeed, ModelGraph
from app.graph.dominators import dominator_chain
from tests import tiny_models


@pytest.fixture(scope="module")
def convnet(keras_models):
    return ModelGraph(keras_models["mnist-convnet"])


@pytest.fixture(scope="module")
def lenet(keras_models):
    return ModelGraph(keras_models["mnist-lenet"])


def test_one_lookup_one_wording(convnet):
    with pytest.raises(NotFound, match=r"Unknown layer 'nope'\. Layers with a spatial \[h, w, c\] output: conv1, pool1"):
        convnet.layers.get("nope", LayerNeed.spatial)
    with pytest.raises(InvalidOption, match=r"Layer 'dense1' \(Dense, output \[64\]\) has no spatial \[h, w, c\] output\. Choose one of: conv1"):
        convnet.layers.get("dense1", LayerNeed.spatial)
    with pytest.raises(InvalidOption, match="has no weights. Choose one of: conv1, conv2"):
        convnet.layers.get("flatten", LayerNeed.weights)
    assert convnet.layers.get("dense1", LayerNeed.channels).class_name == "Dense"
    assert convnet.layers.select(["conv3", "conv1", "conv3"]) == ["conv1", "conv3"]


def test_roles(convnet, lenet):
    assert convnet.layers.default_gradcam_layer == "conv3" and convnet.layers.last_conv == "conv3"
    assert convnet.layers.last_hidden == "dense1"
    # the last convolution, not the pool after it (Selvaraju et al. 2017; keras.io; tf-keras-vis)
    assert lenet.layers.last_conv == "conv2" and lenet.layers.default_gradcam_layer == "conv2"
    nested = ModelGraph(tiny_models.nested_rgb())
    assert nested.layers.last_conv == "base/conv_b" and nested.layers.last_hidden == "drop"
    assert nested.layers.default_gradcam_layer == "base/conv_b"
    assert nested.layers.kind("base") == "model" and nested.layers.kind("gap") == "global_pool"
    # branches: not the last convolution ("right", one side of the Add) but the concatenation
    # both branches and the stem's pooled copy reach the classifier through
    branched = ModelGraph(tiny_models.branched())
    assert branched.layers.last_conv == "right" and branched.layers.default_gradcam_layer == "concat"


def test_dominators_of_a_hand_drawn_graph():
    """in -> a -> {b -> d, c} -> e -> f, with a constant k feeding e: every path to f passes a, e, f."""
    inbound = {"a": ["in"], "b": ["a"], "c": ["a"], "d": ["b"], "k": [], "e": ["d", "c", "k"], "f": ["e"]}
    assert dominator_chain(inbound, "in", "f") == ["in", "a", "e", "f"]
    assert dominator_chain(inbound, "in", "d") == ["in", "a", "b", "d"]
    assert dominator_chain(inbound, "in", "k") == []
    # a skip from the input past everything: only the ends dominate
    assert dominator_chain({**inbound, "f": ["e", "in"]}, "in", "f") == ["in", "f"]


def test_kinds(convnet):
    assert [convnet.layers.kind(n) for n in convnet.layers.names] == [
        "conv", "pool", "conv", "pool", "conv", "flatten", "dense", "dense"
    ]


def test_receptive_fields_of_the_course_convnet(convnet):
    """3x3 convs and 2x2 pools (Araujo et al. 2019, eqs. 1-2): r_l = r_{l-1} + (k - 1) j_{l-1}, j_l = j_{l-1} s."""
    fields = {name: convnet.layers.receptive_field(name) for name in ("conv1", "pool1", "conv2", "pool2", "conv3")}
    assert [f.size for f in fields.values()] == [(3, 3), (4, 4), (8, 8), (10, 10), (18, 18)]
    assert [f.jump for f in fields.values()] == [(1, 1), (2, 2), (2, 2), (4, 4), (4, 4)]
    assert all(f.start == (0, 0) for f in fields.values())
    assert convnet.layers.receptive_field("dense1") is None


def test_same_padding_starts_the_field_outside_the_input(lenet):
    """LeNet's conv1 is 5x5 with "same" padding: unit (0, 0) reads rows -2..2."""
    assert lenet.layers.receptive_field("conv1").start == (-2, -2)
    assert lenet.layers.receptive_field("conv2").size == (5 + 1 + 4 * 2, 5 + 1 + 4 * 2)


def test_receptive_field_is_where_the_gradient_is():
    """Independent check: with ones for kernels and linear activations, d unit / d input is non-zero
    exactly on the unit's receptive field (clipped to the input)."""
    inputs = keras.Input((20, 20, 1))
    x = keras.layers.Conv2D(1, 3, padding="same", name="a")(inputs)
    x = keras.layers.AveragePooling2D(2, name="b")(x)
    x = keras.layers.Conv2D(1, 3, strides=2, dilation_rate=1, name="c")(x)
    outputs = keras.layers.Dense(2)(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    for layer in model.layers[1:4:2]:
        layer.set_weights([np.ones_like(w) if w.ndim > 1 else np.zeros_like(w) for w in layer.get_weights()])
    graph = ModelGraph(model)
    field = graph.layers.receptive_field("c")
    import tensorflow as tf

    probe = tf.Variable(np.random.default_rng(0).uniform(0.5, 1, (1, 20, 20, 1)).astype("float32"))
    with tf.GradientTape() as tape:
        unit = graph.traced.all_outputs(probe)[graph.layers.get("c").output_index][0, 1, 2, 0]
    reads = np.abs(tape.gradient(unit, probe).numpy()[0, ..., 0]) > 0
    top, left = field.start[0] + 1 * field.jump[0], field.start[1] + 2 * field.jump[1]
    expected = np.zeros((20, 20), bool)
    expected[max(top, 0) : top + field.size[0], max(left, 0) : left + field.size[1]] = True
    np.testing.assert_array_equal(reads, expected)
