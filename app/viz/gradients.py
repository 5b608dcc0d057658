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
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import keras
import numpy as np
import tensorflow as tf

from app.errors import InvalidOption
from app.graph import FunctionKey, ModelGraph
from app.graph.runner import probabilities_of
from app.viz.base import Target, check_class

TOP = -1  # the class index tensor's value for "each image's own top-1 class"


@dataclass(frozen=True)
class InputGradients(FunctionKey):
    pass


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


def _compiled(graph: ModelGraph, key: FunctionKey, build: Callable) -> Callable:
    return graph.functions.get(key, lambda: build().get_concrete_function())


def _call(function: Callable, images: np.ndarray, class_index: int | None, graph: ModelGraph):
    check_class(graph, class_index)
    index = TOP if class_index is None else int(class_index)
    return function(tf.convert_to_tensor(images, tf.float32), tf.constant(index, tf.int32))


def input_gradients(graph: ModelGraph, images: np.ndarray, class_index: int | None) -> GradientPass:
    """d score / d input [N, H, W, C] for a batch, with the scores and the prediction."""

    def build():
        traced = graph.traced
        model = keras.Model(traced.input_tensor, [traced.output_model.outputs[0], traced.scores_model.outputs[0]])

        @tf.function(input_signature=_spec(graph))
        def run(batch, class_id):
            with tf.GradientTape() as tape:
                tape.watch(batch)  # a float32 input, so the gradient is defined (a uint8 one gives None)
                output, scores = model(batch, training=False)
                probabilities = probabilities_of(output, traced.head)
                classes = _chosen_classes(probabilities, class_id)
                score = tf.gather(scores, classes, batch_dims=1)
            return tape.gradient(score, batch), score, probabilities, classes

        return run

    outputs = _call(_compiled(graph, InputGradients(), build), images, class_index, graph)
    return GradientPass(*(t.numpy() for t in outputs))


def layer_gradients(graph: ModelGraph, layer: str, images: np.ndarray, class_index: int | None) -> GradientPass:
    """d score / d A for layer `layer`'s output A, with A itself and the prediction."""
    index = graph.layers.get(layer).output_index

    def build():
        traced = graph.traced
        model = traced.all_outputs

        @tf.function(input_signature=_spec(graph))
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
