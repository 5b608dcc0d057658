"""Compiled functions through XLA (`app.graph.xla`): used where it compiles and pays, never wrong."""

import numpy as np
import tensorflow as tf

from app.graph import LayerOutputFunction, xla
from app.viz import gradients


def _build(body):
    def build(jit_compile: bool):
        return tf.function(body, input_signature=[tf.TensorSpec((None,), tf.float32)], jit_compile=jit_compile)

    return build


def _is_xla(function) -> bool:
    return function.function_def.attr["_XlaMustCompile"].b


def test_a_function_xla_compiles_is_kept_compiled():
    function = xla.concrete_function(_build(lambda x: tf.reduce_sum(x * x)), [tf.zeros((1,))], layers=8)
    assert _is_xla(function)
    assert float(function(tf.constant([3.0, 4.0]))) == 25.0


def test_an_op_without_an_xla_kernel_falls_back_to_the_plain_graph():
    # strings have no XLA kernel: XLA fails on the probe call, not when tracing
    function = xla.concrete_function(_build(lambda x: tf.strings.length(tf.strings.as_string(x))), [tf.zeros((1,))], layers=8)
    assert not _is_xla(function)
    np.testing.assert_array_equal(function(tf.constant([1.5, 20.0])).numpy(), [len("1.500000"), len("20.000000")])


def test_big_models_are_not_compiled_by_xla():
    function = xla.concrete_function(_build(lambda x: x + 1), [tf.zeros((1,))], layers=xla.MAX_LAYERS + 1)
    assert not _is_xla(function)


def test_the_seed_models_gradients_run_through_xla_and_equal_the_plain_graph(convnet, mnist):
    """XLA sums in its own order: equal to the plain graph's gradients to float32 precision."""
    layer = convnet.layers.default_gradcam_layer
    images = (mnist[0][:4, ..., None] / 255.0).astype("float32")
    compiled = gradients.layer_gradients(convnet, layer, images, None)
    assert _is_xla(convnet.functions.get(gradients.LayerGradients(layer), None))
    model = convnet.traced.all_outputs
    index = convnet.layers.get(layer).output_index
    x = tf.constant(images)
    with tf.GradientTape() as tape:
        *features, scores = model(x, training=False)
        score = tf.gather(scores, compiled.classes, batch_dims=1)
    feature_map = features[index]
    expected = tape.gradient(score, feature_map).numpy()
    np.testing.assert_allclose(compiled.feature_map, feature_map.numpy(), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(compiled.gradient, expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(compiled.score, score.numpy(), rtol=1e-5, atol=1e-5)


def test_the_flat_call_answers_as_the_public_call_with_captured_variables():
    weights = tf.Variable([2.0, 3.0])
    function = tf.function(lambda x: (x * weights, tf.reduce_sum(x)), input_signature=[tf.TensorSpec((2,), tf.float32)])
    concrete = function.get_concrete_function()
    call = xla.flat_call(concrete)
    x = tf.constant([1.0, -1.0])
    for values in ([2.0, 3.0], [4.0, 5.0]):  # the captured variable's current value, not a copy
        weights.assign(values)
        product, total = call(x)
        np.testing.assert_array_equal(product.numpy(), concrete(x)[0].numpy())
        np.testing.assert_array_equal(product.numpy(), [values[0], -values[1]])
        assert float(total) == 0.0


def test_a_layers_compiled_output_equals_its_output_in_the_full_run(convnet, branched, mnist):
    """`layer_output` (Score-CAM's first pass) is `run`'s, for one layer: the first, a pooling, the
    default Grad-CAM layer and the last of the seed model, every layer of a branched one."""
    images = (mnist[0][:3, ..., None] / 255.0).astype("float32")
    branched_batch = np.random.default_rng(0).uniform(0, 1, (2, *branched.input_shape)).astype("float32")
    cases = ((convnet, images, ["conv1", "pool2", convnet.layers.default_gradcam_layer, "output"]), (branched, branched_batch, branched.layers.names))
    for graph, batch, names in cases:
        result = graph.run(batch)
        for name in names:
            feature, probabilities = graph.layer_output(name, batch)
            np.testing.assert_allclose(feature, graph.feature(result, name), rtol=1e-5, atol=1e-5, err_msg=name)
            np.testing.assert_allclose(probabilities, result["probabilities"], rtol=1e-5, atol=1e-6, err_msg=name)
    assert _is_xla(convnet.functions.get(LayerOutputFunction(convnet.layers.default_gradcam_layer), None))
