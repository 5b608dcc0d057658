"""Running the traced graph: one compiled forward pass per model, safe from many threads.

The `tf.function`s have a fixed input signature (any batch size), so they are traced once at load
and no request pays for tracing. The batched passes (`probabilities`) run a second trace of the
model in which convolutions of one-channel inputs are fused by XLA (`thin_conv`), when the model
has one and that graph reproduces the plain one.
"""

from __future__ import annotations

import logging

import keras
import numpy as np
import tensorflow as tf

from app.graph import thin_conv
from app.graph.trace import Head, TracedGraph, UnsupportedModel, trace

log = logging.getLogger("convnet_vis.graph")


def probabilities_of(output, head: Head):
    """Class probabilities from the model's own output, by its head."""
    if head is Head.logits:
        return tf.nn.softmax(output, axis=-1)
    if head is Head.sigmoid:
        return tf.concat([1.0 - output, output], axis=-1)
    return output  # softmax: already; multilabel: independent sigmoids, never a softmax


class GraphRunner:
    def __init__(self, traced: TracedGraph) -> None:
        self.traced = traced
        signature = [tf.TensorSpec((None, *traced.input_shape), tf.float32)]
        self._forward = tf.function(self._forward_impl, input_signature=signature)
        self.fused_thin_convs = False  # whether `probabilities` runs the thin-convolution graph
        self._probabilities = self._batched_probabilities(signature)

    def _forward_impl(self, images):
        traced = self.traced
        *features, scores = traced.all_outputs(images, training=False)
        output = features[traced.output_index]
        probabilities = probabilities_of(output, traced.head)
        return {"features": features, "scores": scores, "probabilities": probabilities, "output": output}

    def _batched_probabilities(self, signature):
        """Probabilities only, through the thin-convolution graph when there is one and it agrees."""
        head = self.traced.head

        def over(output_model):
            return tf.function(lambda images: probabilities_of(output_model(images, training=False), head), input_signature=signature)

        plain = over(self.traced.output_model)
        if not thin_conv.has_thin(self.traced):
            return plain
        try:
            fused = over(trace(self.traced.model, self.traced.input_shape[:2], call_layer=thin_conv.call_layer).output_model)
            probe = tf.random.stateless_uniform((2, *self.traced.input_shape), seed=(0, 0))
            if np.allclose(fused(probe).numpy(), plain(probe).numpy(), rtol=1e-4, atol=1e-6):
                self.fused_thin_convs = True
                return fused
            log.warning("the thin-convolution graph does not reproduce the model's output; using the plain graph")
        except (tf.errors.OpError, ValueError, TypeError, NotImplementedError) as exc:
            log.info("thin convolutions not fused (%s); using the plain graph", str(exc).splitlines()[0][:200])
        return plain

    def run(self, images: np.ndarray) -> dict:
        """All layer outputs for a batch `[N, H, W, C]`, as numpy."""
        result = self._forward(tf.convert_to_tensor(images, tf.float32))
        return keras.tree.map_structure(lambda t: t.numpy(), result)

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities only, for batched methods that need no layer outputs."""
        return self._probabilities(tf.convert_to_tensor(images, tf.float32)).numpy()

    def warm_up(self) -> None:
        blank = np.zeros((1, *self.traced.input_shape), np.float32)
        self.run(blank)
        self.probabilities(blank)

    def check_against(self, model: keras.Model) -> None:
        """The rebuilt graph must reproduce the model's own output, or the model is not served."""
        probe = np.random.default_rng(0).uniform(0, 1, (2, *self.traced.input_shape)).astype("float32")
        expected = keras.ops.convert_to_numpy(model(probe, training=False))
        got = self.run(probe)["output"]
        if not np.allclose(got, expected, rtol=1e-4, atol=1e-5):
            raise UnsupportedModel("the rebuilt layer graph does not reproduce the model's output")
