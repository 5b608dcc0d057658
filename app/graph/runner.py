"""Running the traced graph: one compiled forward pass per model, safe from many threads.

The `tf.function`s have a fixed input signature (any batch size), so none is traced twice. The
forward pass and the plain probabilities are traced at load. Batches of `thin_conv.MIN_BATCH` or
more images run a second trace of the model in which convolutions of one-channel inputs are fused
by XLA (`batched_probabilities`), and Score-CAM's first pass has a compiled function per layer
(`layer_output_function`); `ModelGraph` makes these on first use (the first Score-CAM, RISE,
occlusion, faithfulness or batch of 4 or more digits to /read or a lesson's sweep: about a second).
"""

from __future__ import annotations

import logging

import keras
import numpy as np
import tensorflow as tf

from app.graph import thin_conv, xla
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
        signature = self._signature = [tf.TensorSpec((None, *traced.input_shape), tf.float32)]
        self._forward = tf.function(self._forward_impl, input_signature=signature)
        self.plain_probabilities = self._probabilities_over(traced)

    def _forward_impl(self, images):
        traced = self.traced
        *features, scores = traced.all_outputs(images, training=False)
        output = features[traced.output_index]
        probabilities = probabilities_of(output, traced.head)
        return {"features": features, "scores": scores, "probabilities": probabilities, "output": output}

    def _probabilities_over(self, traced: TracedGraph):
        """images -> class probabilities through `traced`'s output model (this model's head)."""
        head = self.traced.head
        return tf.function(lambda images: probabilities_of(traced.output_model(images, training=False), head), input_signature=self._signature)

    def batched_probabilities(self):
        """The probabilities function for batches of `thin_conv.MIN_BATCH` or more: over the
        thin-convolution graph when the model has a thin convolution and that graph reproduces
        the plain one, else `plain_probabilities`. Tracing and compiling it takes about 0.7 s, so
        `ModelGraph` makes it on first use, among its compiled functions."""
        if not thin_conv.has_thin(self.traced):
            return self.plain_probabilities
        try:
            fused = self._probabilities_over(trace(self.traced.model, self.traced.input_shape[:2], call_layer=thin_conv.Rule()))
            probe = tf.random.stateless_uniform((thin_conv.MIN_BATCH, *self.traced.input_shape), seed=(0, 0))
            if np.allclose(fused(probe).numpy(), self.plain_probabilities(probe).numpy(), rtol=1e-4, atol=1e-6):
                return fused
            log.warning("the thin-convolution graph does not reproduce the model's output; using the plain graph")
        except Exception:  # an optimisation: whatever goes wrong, the plain graph still answers
            log.exception("thin convolutions not fused; using the plain graph")
        return self.plain_probabilities

    def depthwise_trace(self) -> TracedGraph:
        """The model traced again with its grouped depthwise convolutions as depthwise ones
        (`thin_conv.Rule(fuse_thin=False)`), for the functions that differentiate through the
        model (filter patterns: ConvNeXtTiny's gradient steps were 10x slower through Keras's grouped
        convolutions); `self.traced` itself when the model has none, or when that trace does not
        reproduce the plain one's output (checked once, as `batched_probabilities` is)."""
        if not thin_conv.has_grouped_depthwise(self.traced):
            return self.traced
        try:
            rewritten = trace(self.traced.model, self.traced.input_shape[:2], call_layer=thin_conv.Rule(fuse_thin=False))
            probe = tf.random.stateless_uniform((2, *self.traced.input_shape), seed=(0, 1))
            got = rewritten.output_model(probe, training=False)
            expected = self.traced.output_model(probe, training=False)
            if np.allclose(keras.ops.convert_to_numpy(got), keras.ops.convert_to_numpy(expected), rtol=1e-4, atol=1e-5):
                return rewritten
            log.warning("the depthwise graph does not reproduce the model's output; gradients use the plain graph")
        except Exception:  # an optimisation: whatever goes wrong, the plain graph still answers
            log.exception("grouped convolutions not rewritten; gradients use the plain graph")
        return self.traced

    def run(self, images: np.ndarray) -> dict:
        """All layer outputs for a batch `[N, H, W, C]`, as numpy."""
        result = self._forward(tf.convert_to_tensor(images, tf.float32))
        return keras.tree.map_structure(lambda t: t.numpy(), result)

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities only, through the plain graph (`ModelGraph.probabilities` picks the
        batched one for big batches)."""
        return self.plain_probabilities(tf.convert_to_tensor(images, tf.float32)).numpy()

    def layer_output_function(self, index: int, layers: int):
        """A compiled function: images -> (the output at `all_outputs` index `index`, the class
        probabilities). Through XLA for a small model (`xla.concrete_function`, `layers` layers):
        for one digit on the course convnet 0.7 ms, where `run`, every layer's output, takes 1.3 ms."""
        traced = self.traced

        def build(jit_compile: bool):
            @tf.function(input_signature=self._signature, jit_compile=jit_compile)
            def layer_output(images):
                *features, _ = traced.all_outputs(images, training=False)
                return features[index], probabilities_of(features[traced.output_index], traced.head)

            return layer_output

        return xla.concrete_function(build, (tf.zeros((1, *traced.input_shape), tf.float32),), layers)

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
