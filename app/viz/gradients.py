"""Compiled gradients of a class score, shared by the gradient-based methods.

Each function is traced once per model (and layer) with a fixed input signature and cached on the
model's graph; the class index is a tensor argument, so changing it does not retrace.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from app.errors import InvalidOption
from app.graph import ModelGraph


def _spec(graph: ModelGraph):
    return [tf.TensorSpec((None, *graph.input_shape), tf.float32), tf.TensorSpec((), tf.int32)]


def input_gradients(graph: ModelGraph, images: np.ndarray, class_index: int) -> tuple[np.ndarray, np.ndarray]:
    """(d score / d input [N, H, W, C], score [N]) for a batch of inputs."""

    def build():
        logits_model = graph.logits_model

        @tf.function(input_signature=_spec(graph))
        def run(batch, index):
            with tf.GradientTape() as tape:
                tape.watch(batch)  # a float32 input, so the gradient is defined (trap 4)
                scores = logits_model(batch, training=False)[:, index]
            return tape.gradient(scores, batch), scores

        return run

    gradients, scores = graph.compiled("input_gradients", build)(tf.convert_to_tensor(images, tf.float32), class_index)
    return gradients.numpy(), scores.numpy()


def layer_gradients(graph: ModelGraph, layer: str, image: np.ndarray, class_index: int):
    """(A, d score / d A, logits) for layer `layer`'s output A, for a batch of inputs."""
    index = graph.nodes[layer].output_index

    def build():
        model = graph.all_outputs

        @tf.function(input_signature=_spec(graph))
        def run(batch, class_id):
            with tf.GradientTape() as tape:
                tape.watch(batch)  # records every op, also through frozen (non-trainable) layers
                *features, logits = model(batch, training=False)
                feature_map = features[index]
                tape.watch(feature_map)
                score = logits[:, class_id]
            return feature_map, tape.gradient(score, feature_map), logits

        return run

    feature_map, gradient, logits = graph.compiled(("layer_gradients", layer), build)(
        tf.convert_to_tensor(image, tf.float32), class_index
    )
    if gradient is None:
        raise InvalidOption(f"The class score does not depend differentiably on layer {layer!r}; choose another layer.")
    return feature_map.numpy(), gradient.numpy(), logits.numpy()


def warm_up(graph: ModelGraph) -> None:
    """Trace the gradient functions at load, so no request pays for it (the default layer's only)."""
    blank = np.zeros((1, *graph.input_shape), np.float32)
    graph.probabilities(blank)
    input_gradients(graph, blank, 0)
    if graph.default_gradcam_layer is not None:
        layer_gradients(graph, graph.default_gradcam_layer, blank, 0)
