"""Convolutions of a one-channel input as their kh x kw shifted, scaled copies, fused by XLA.

A Conv2D over a grayscale image (the first layer of every MNIST model) is slow in TensorFlow's CPU
kernels: with one input channel there is no channel dimension to vectorise over. On the course
convnet, conv1 with its bias and ReLU took 3.1 ms for a batch of 64 digits; the same sum written
as 9 shifted copies of the input, each times one kernel tap, and compiled by XLA into one loop,
took 1.0 ms; the whole model's batch of 56 went from 6.7 to 5.4 ms (in process, interleaved
runs on the project's 2-core VM). TensorFlow's own XLA compilation of the layer is no faster:
it keeps the convolution.

The batched forward passes (Score-CAM's masked inputs, RISE, occlusion, the faithfulness curves)
are made of such batches, so `GraphRunner.probabilities` runs a graph traced with `call_layer`
below; every other function keeps Keras's own layer. The replacement reads the original layer's
variables at every call (nothing is copied) and applies its bias and activation; the runner
checks it against the plain graph once before using it.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from app.graph.trace import TracedGraph

BUCKET = 8


def is_thin(layer) -> bool:
    """A plain float32 Conv2D over one input channel (not a subclass, not quantised)."""
    return (
        type(layer) is keras.layers.Conv2D
        and layer.data_format == "channels_last"
        and layer.groups == 1
        and layer.padding in ("valid", "same")
        and layer.compute_dtype == "float32"
        and getattr(layer, "quantization_mode", None) is None
        and layer.built
        and int(layer.kernel.shape[2]) == 1
    )


def has_thin(traced: TracedGraph) -> bool:
    return any(is_thin(node.layer) for node in traced.nodes.values())


def _same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow's "SAME": the output is ceil(size / stride); the odd pixel of padding goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


class ShiftedConv2D(keras.layers.Layer):
    """`conv` (a thin Conv2D) computed as sum over taps (i, j) of x shifted by (i, j) times K[i, j]."""

    def __init__(self, conv: keras.layers.Conv2D) -> None:
        super().__init__(name=f"{conv.name}_shifted", dtype=conv.dtype_policy)
        self.conv = conv
        self._compiled = tf.function(self._shifted_sum, jit_compile=True)

    def call(self, inputs):
        # XLA compiles once per batch size: batches are padded to a multiple of BUCKET (one image
        # stays one), so Score-CAM's 40 to 64 masked inputs are a few shapes, not 25.
        count = tf.shape(inputs)[0]
        padded = tf.where(count == 1, 1, (count + BUCKET - 1) // BUCKET * BUCKET)
        inputs = tf.pad(inputs, [(0, padded - count), (0, 0), (0, 0), (0, 0)])
        return self._compiled(inputs)[:count]

    def compute_output_spec(self, inputs):
        return self.conv.compute_output_spec(inputs)

    def _shifted_sum(self, x):
        conv = self.conv
        (kh, kw), (sh, sw), (dh, dw) = conv.kernel_size, conv.strides, conv.dilation_rate
        if conv.padding == "same":
            pads = [_same_padding(int(x.shape[axis]), k, s, d) for axis, k, s, d in ((1, kh, sh, dh), (2, kw, sw, dw))]
            x = tf.pad(x, [(0, 0), *pads, (0, 0)])
        height, width = int(x.shape[1]), int(x.shape[2])
        out_h, out_w = (height - (kh - 1) * dh - 1) // sh + 1, (width - (kw - 1) * dw - 1) // sw + 1
        kernel = tf.convert_to_tensor(conv.kernel)  # [kh, kw, 1, filters]
        total = None
        for i in range(kh):
            for j in range(kw):
                shifted = x[:, i * dh : i * dh + (out_h - 1) * sh + 1 : sh, j * dw : j * dw + (out_w - 1) * sw + 1 : sw, :]
                term = shifted * kernel[i, j, 0]  # [n, out_h, out_w, 1] * [filters]
                total = term if total is None else total + term
        if conv.use_bias:
            total = total + conv.bias
        return conv.activation(total)


def call_layer(layer, args: list, kwargs: dict):
    """A tracing rule (`app.graph.trace`): thin convolutions shifted and summed, the rest as they are."""
    if is_thin(layer) and not kwargs:
        return ShiftedConv2D(layer)(*args)
    return layer(*args, **kwargs)
