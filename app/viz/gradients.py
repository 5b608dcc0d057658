"""Compiled gradients of a class score, shared by the gradient-based methods.

The score of class k is `graph.traced.scores_model`'s column k: the pre-activation logit, or -z
for class 0 of a one-unit sigmoid head. Each function is traced once per model (and layer) with a
fixed input signature and kept in the model's compiled functions under its own key; the class
index is a tensor argument, so changing it does not retrace.

One call answers everything a one-pass explanation needs: the gradient, the score, the model's
probabilities and, when no class was asked for (`class_index=None`), each image's top-1 class,
chosen inside the call. Explaining the top class therefore costs one call into TensorFlow, not a
prediction followed by a gradient. The concrete function is called directly: the polymorphic
`tf.function` would match the signature again on every call.

`guided=True` differentiates through guided ReLUs (Springenberg et al. 2015, "Striving for
Simplicity: The All Convolutional Net", eq. 5 / figure 1): a ReLU passes the gradient back only
where both its input and the incoming gradient are positive. The served model is not touched
(Keras 3 trap 3: setting an activation changes `model(x)` but not traced functions): the model is
traced a second time with every ReLU activation replaced by a linear twin of its layer, sharing
its weights' values, followed by a `tf.custom_gradient` ReLU.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from app.errors import InvalidOption
from app.graph import FunctionKey, ModelGraph, xla
from app.graph.runner import probabilities_of
from app.graph.trace import TracedGraph, trace
from app.viz.base import Target, check_class

TOP = -1  # the class index tensor's value for "each image's own top-1 class"


@dataclass(frozen=True)
class InputGradients(FunctionKey):
    guided: bool = False


@dataclass(frozen=True)
class LayerGradients(FunctionKey):
    layer: str


@dataclass
class GradientPass:
    """One compiled pass over a batch: the score's gradient and the prediction, per image."""

    gradient: np.ndarray  # d score / d (input or the layer's output)
    score: np.ndarray  # [N]: the differentiated score
    probabilities: np.ndarray  # [N, classes]
    classes: np.ndarray  # [N]: the class differentiated
    feature_map: np.ndarray | None = None  # layer gradients: the layer's output

    @property
    def target(self) -> Target:
        """The first image's class and probabilities (a method's one input)."""
        return Target(int(self.classes[0]), self.probabilities[0])


def _spec(graph: ModelGraph):
    return [tf.TensorSpec((None, *graph.input_shape), tf.float32), tf.TensorSpec((), tf.int32)]


def _chosen_classes(probabilities, class_id):
    top = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
    return tf.where(class_id < 0, top, tf.fill(tf.shape(top), class_id))


def _compiled(graph: ModelGraph, key: FunctionKey, build: Callable[[bool], Callable]) -> Callable:
    """`build(jit_compile)`'s concrete function, through XLA where it compiles, made once per key."""

    def make() -> Callable:
        probe = (tf.zeros((1, *graph.input_shape), tf.float32), tf.constant(TOP, tf.int32))
        return xla.concrete_function(build, probe, len(graph.layers.names))

    return graph.functions.get(key, make)


@functools.lru_cache(maxsize=1024)
def _class_tensor(index: int) -> tf.Tensor:
    """The class index argument, made once per value (an eager constant is immutable)."""
    return tf.constant(index, tf.int32)


def _call(function: Callable, images: np.ndarray, class_index: int | None, graph: ModelGraph):
    check_class(graph, class_index)
    index = TOP if class_index is None else int(class_index)
    return function(tf.convert_to_tensor(images, tf.float32), _class_tensor(index))


@tf.custom_gradient
def _guided_relu(x):
    def backward(upstream):
        return upstream * tf.cast(x > 0, upstream.dtype) * tf.cast(upstream > 0, upstream.dtype)

    return tf.nn.relu(x), backward


class GuidedReLU(keras.layers.Layer):
    """ReLU forward; backward, only the positive gradient where the input is positive."""

    def call(self, inputs):
        return _guided_relu(inputs)


def _is_plain_relu(layer) -> bool:
    if isinstance(layer, keras.layers.ReLU):
        config = layer.get_config()
        return config["max_value"] is None and not config["negative_slope"] and not config["threshold"]
    return isinstance(layer, keras.layers.Activation) and layer.activation is keras.activations.relu


def _guided_call(layer, args: list, kwargs: dict):
    """A tracing rule (`app.graph.trace`): ReLUs become guided ReLUs, every other layer is called as is."""
    if _is_plain_relu(layer):
        return GuidedReLU()(*args)
    if getattr(layer, "activation", None) is keras.activations.relu and layer.weights:
        twin = type(layer).from_config({**layer.get_config(), "activation": "linear", "name": None})
        preactivation = twin(*args, **kwargs)
        twin.set_weights(layer.get_weights())
        return GuidedReLU()(preactivation)
    return layer(*args, **kwargs)


def guided_trace(graph: ModelGraph) -> TracedGraph:
    """The model traced again with guided ReLUs (built once per model, by the function that uses it)."""
    return trace(graph.model, graph.input_shape[:2], call_layer=_guided_call)


def input_gradients(graph: ModelGraph, images: np.ndarray, class_index: int | None, guided: bool = False) -> GradientPass:
    """d score / d input [N, H, W, C] for a batch, with the scores and the prediction; through
    guided ReLUs with `guided=True`."""

    def build(jit_compile: bool):
        traced = guided_trace(graph) if guided else graph.traced
        model = keras.Model(traced.input_tensor, [traced.output_model.outputs[0], traced.scores_model.outputs[0]])

        @tf.function(input_signature=_spec(graph), jit_compile=jit_compile)
        def run(batch, class_id):
            with tf.GradientTape() as tape:
                tape.watch(batch)  # a float32 input, so the gradient is defined (a uint8 one gives None)
                output, scores = model(batch, training=False)
                probabilities = probabilities_of(output, traced.head)
                classes = _chosen_classes(probabilities, class_id)
                score = tf.gather(scores, classes, batch_dims=1)
            return tape.gradient(score, batch), score, probabilities, classes

        return run

    outputs = _call(_compiled(graph, InputGradients(guided), build), images, class_index, graph)
    return GradientPass(*(t.numpy() for t in outputs))


def layer_gradients(graph: ModelGraph, layer: str, images: np.ndarray, class_index: int | None) -> GradientPass:
    """d score / d A for layer `layer`'s output A, with A itself and the prediction."""
    index = graph.layers.get(layer).output_index

    def build(jit_compile: bool):
        traced = graph.traced
        model = traced.all_outputs

        @tf.function(input_signature=_spec(graph), jit_compile=jit_compile)
        def run(batch, class_id):
            with tf.GradientTape() as tape:
                tape.watch(batch)  # records every op, also through frozen (non-trainable) layers
                *features, scores = model(batch, training=False)
                feature_map = features[index]
                tape.watch(feature_map)
                probabilities = probabilities_of(features[traced.output_index], traced.head)
                classes = _chosen_classes(probabilities, class_id)
                score = tf.gather(scores, classes, batch_dims=1)
            return feature_map, tape.gradient(score, feature_map), score, probabilities, classes

        return run

    feature_map, gradient, score, probabilities, classes = _call(
        _compiled(graph, LayerGradients(layer), build), images, class_index, graph
    )
    if gradient is None:  # decided while tracing: the layer does not feed the score
        raise InvalidOption(f"The class score does not depend differentiably on layer {layer!r}; choose another layer.")
    return GradientPass(gradient.numpy(), score.numpy(), probabilities.numpy(), classes.numpy(), feature_map.numpy())


def warm_up_input_gradients(graph: ModelGraph) -> None:
    input_gradients(graph, np.zeros((1, *graph.input_shape), np.float32), None)


def warm_up_layer_gradients(graph: ModelGraph) -> None:
    """The default layer's only: other layers are traced on their first request."""
    if graph.layers.default_gradcam_layer is not None:
        layer_gradients(graph, graph.layers.default_gradcam_layer, np.zeros((1, *graph.input_shape), np.float32), None)
