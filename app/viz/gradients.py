"""Compiled gradients of a class score, shared by the gradient-based methods.

The score of class k is `graph.traced.scores_model`'s column k: the pre-activation logit, or -z
for class 0 of a one-unit sigmoid head. Each function is traced once per model (and layer) with a fixed input signature and kept in the
model's compiled functions under its own key; the class index is a tensor argument, so changing
it does not retrace.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from app.errors import InvalidOption
from app.graph import FunctionKey, ModelGraph


@dataclass(frozen=True)
class InputGradients(FunctionKey):
    pass


@dataclass(frozen=True)
class LayerGradients(FunctionKey):
    layer: str


def _spec(graph: ModelGraph):
    return [tf.TensorSpec((None, *graph.input_shape), tf.float32), tf.TensorSpec((), tf.int32)]


def input_gradients(graph: ModelGraph, images: np.ndarray, class_index: int) -> tuple[np.ndarray, np.ndarray]:
    """(d score / d input [N, H, W, C], score [N]) for a batch of inputs."""

    def build():
        scores_model = graph.traced.scores_model

        @tf.function(input_signature=_spec(graph))
        def run(batch, index):
            with tf.GradientTape() as tape:
                tape.watch(batch)  # a float32 input, so the gradient is defined (a uint8 one gives None)
                scores = scores_model(batch, training=False)[:, index]
            return tape.gradient(scores, batch), scores

        return run

    gradients, scores = graph.functions.get(InputGradients(), build)(tf.convert_to_tensor(images, tf.float32), class_index)
    return gradients.numpy(), scores.numpy()


def layer_gradients(graph: ModelGraph, layer: str, images: np.ndarray, class_index: int):
    """(A, d score / d A, every class score) for layer `layer`'s output A, for a batch of inputs."""
    index = graph.layers.get(layer).output_index

    def build():
        model = graph.traced.all_outputs

        @tf.function(input_signature=_spec(graph))
        def run(batch, class_id):
            with tf.GradientTape() as tape:
                tape.watch(batch)  # records every op, also through frozen (non-trainable) layers
                *features, scores = model(batch, training=False)
                feature_map = features[index]
                tape.watch(feature_map)
                score = scores[:, class_id]
            return feature_map, tape.gradient(score, feature_map), scores

        return run

    feature_map, gradient, scores = graph.functions.get(LayerGradients(layer), build)(
        tf.convert_to_tensor(images, tf.float32), class_index
    )
    if gradient is None:
        raise InvalidOption(f"The class score does not depend differentiably on layer {layer!r}; choose another layer.")
    return feature_map.numpy(), gradient.numpy(), scores.numpy()


def warm_up_input_gradients(graph: ModelGraph) -> None:
    input_gradients(graph, np.zeros((1, *graph.input_shape), np.float32), 0)


def warm_up_layer_gradients(graph: ModelGraph) -> None:
    """The default layer's only: other layers are traced on their first request."""
    if graph.layers.default_gradcam_layer is not None:
        layer_gradients(graph, graph.layers.default_gradcam_layer, np.zeros((1, *graph.input_shape), np.float32), 0)
