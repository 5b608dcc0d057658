"""Convolutions of a one-channel input as their kh x kw shifted, scaled copies, fused by XLA.

A Conv2D over a grayscale image (the first layer of every MNIST model) is slow in TensorFlow's CPU
kernels: with one input channel there is no channel dimension to vectorise over. On the course
convnet, conv1 with its bias and ReLU took 3.1 ms for a batch of 64 digits; the same sum written
as 9 shifted copies of the input, each times one kernel tap, and compiled by XLA into one loop,
took 1.0 ms. The whole model's batch of 56 went from 6.7 to 5.4 ms, and folding pool1 in took it
from 4.6 to 4.0 ms in another run (in process, interleaved runs on the project's 2-core VM).
TensorFlow's own XLA compilation of the layer is no faster: it keeps the convolution.

The batched forward passes (Score-CAM's masked inputs, RISE, occlusion, the faithfulness curves)
are made of such batches, so `GraphRunner.batched_probabilities` traces the model with `Rule`;
every other function keeps Keras's own layers. The replacement reads the original layers'
variables at every call (nothing is copied) and applies their bias and activation; the runner
checks it against the plain graph once before using it.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from app.graph.trace import TracedGraph, call_as_is

BUCKET, LARGE_BATCH = 8, 64
# Under 4 images the fused layer's own launch costs more than it saves (course convnet, in process:
# 1 image 0.95 vs 1.05 ms, 4 images 1.49 vs 1.46 ms, 8 images 2.18 vs 1.89 ms, plain vs fused).
MIN_BATCH = 4


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


def is_grouped_depthwise(layer) -> bool:
    """A plain float32 Conv2D with one group per input channel and one filter per group
    (ConvNeXt's 7x7 convolutions): TensorFlow's CPU kernels have no grouped convolution, so Keras
    compiles it through XLA, about 10x slower than the depthwise convolution it is."""
    return (
        type(layer) is keras.layers.Conv2D
        and layer.data_format == "channels_last"
        and layer.groups > 1
        and layer.padding in ("valid", "same")
        and layer.compute_dtype == "float32"
        and getattr(layer, "quantization_mode", None) is None
        and layer.built
        and int(layer.kernel.shape[2]) == 1
        and layer.groups == layer.filters
        and tuple(layer.strides)[0] == tuple(layer.strides)[1]
        and tuple(layer.dilation_rate) == (1, 1)
    )


def has_thin(traced: TracedGraph) -> bool:
    return has_grouped_depthwise(traced) or any(is_thin(node.layer) for node in traced.nodes.values())


def has_grouped_depthwise(traced: TracedGraph) -> bool:
    return any(is_grouped_depthwise(node.layer) for node in traced.nodes.values())


def _same_padding(size: int, kernel: int, stride: int, dilation: int) -> tuple[int, int]:
    """TensorFlow's "SAME": the output is ceil(size / stride); the odd pixel of padding goes after."""
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def is_tiling_max_pool(layer) -> bool:
    """A MaxPooling2D whose windows tile the input (stride = size, no padding)."""
    return (
        type(layer) is keras.layers.MaxPooling2D
        and layer.data_format == "channels_last"
        and layer.padding == "valid"
        and tuple(layer.strides) == tuple(layer.pool_size)
    )


def _commutes_with_max(activation) -> bool:
    """max(f(z + b)) = f(max(z) + b) for a non-decreasing f: pooling may come before it."""
    return activation in (keras.activations.relu, keras.activations.linear)


class ShiftedConv2D(keras.layers.Layer):
    """`conv` (a thin Conv2D) computed as the sum over its taps (i, j) of the input shifted by
    (i, j) times K[i, j]; with `pool` (a tiling max-pool right after it), the maximum over each
    window's positions is taken before the bias and activation, so the convolution's full-size
    output is never written (the course convnet's conv1 + pool1 on 56 digits: 0.56 ms less)."""

    def __init__(self, conv: keras.layers.Conv2D, pool: keras.layers.MaxPooling2D | None = None) -> None:
        super().__init__(name=f"{conv.name}_shifted" + (f"_{pool.name}" if pool else ""), dtype=conv.dtype_policy)
        self.conv, self.pool = conv, pool
        self._compiled = tf.function(self._shifted_sum, jit_compile=True)

    def call(self, inputs):
        # XLA compiles once per batch size (70 to 100 ms each here): batches are padded to a
        # multiple of 8 up to 64 and of 64 above, so Score-CAM's 40 to 64 masked inputs are a few
        # shapes, not 25, and occlusion's 256 a few more. Only this layer sees the padding.
        count = tf.shape(inputs)[0]
        step = tf.where(count <= LARGE_BATCH, BUCKET, LARGE_BATCH)
        inputs = tf.pad(inputs, [(0, (-count) % step), (0, 0), (0, 0), (0, 0)])
        return self._compiled(inputs)[:count]

    def compute_output_spec(self, inputs):
        spec = self.conv.compute_output_spec(inputs)
        return self.pool.compute_output_spec(spec) if self.pool is not None else spec

    def _shifted_sum(self, x):
        conv = self.conv
        (kh, kw), (sh, sw), (dh, dw) = conv.kernel_size, conv.strides, conv.dilation_rate
        if conv.padding == "same":
            pads = [_same_padding(int(x.shape[axis]), k, s, d) for axis, k, s, d in ((1, kh, sh, dh), (2, kw, sw, dw))]
            x = tf.pad(x, [(0, 0), *pads, (0, 0)])
        height, width = int(x.shape[1]), int(x.shape[2])
        out_h, out_w = (height - (kh - 1) * dh - 1) // sh + 1, (width - (kw - 1) * dw - 1) // sw + 1
        kernel = tf.convert_to_tensor(conv.kernel)  # [kh, kw, 1, filters]

        def outputs_at(row: int, col: int, row_step: int, col_step: int, rows: int, cols: int):
            """The convolution at input offsets row + r * row_step, col + c * col_step."""
            total = None
            for i in range(kh):
                for j in range(kw):
                    top, left = row + i * dh, col + j * dw
                    shifted = x[:, top : top + (rows - 1) * row_step + 1 : row_step, left : left + (cols - 1) * col_step + 1 : col_step, :]
                    term = shifted * kernel[i, j, 0]  # [n, rows, cols, 1] * [filters]
                    total = term if total is None else total + term
            return total

        if self.pool is None:
            total = outputs_at(0, 0, sh, sw, out_h, out_w)
        else:  # output (P y + p, P x + q) of the convolution starts at input (P y + p) * stride
            ph, pw = self.pool.pool_size
            total = None
            for p in range(ph):
                for q in range(pw):
                    window = outputs_at(p * sh, q * sw, ph * sh, pw * sw, out_h // ph, out_w // pw)
                    total = window if total is None else tf.maximum(total, window)
        if conv.use_bias:
            total = total + conv.bias
        return conv.activation(total)


class DepthwiseConv2D(keras.layers.Layer):
    """A Conv2D with `groups == filters == input channels` as `tf.nn.depthwise_conv2d` (the same sum;
    its kernel [kh, kw, 1, C] read as [kh, kw, C, 1] at every call), then its bias and activation."""

    def __init__(self, conv: keras.layers.Conv2D) -> None:
        super().__init__(name=f"{conv.name}_depthwise", dtype=conv.dtype_policy)
        self.conv = conv

    def compute_output_spec(self, inputs):
        return self.conv.compute_output_spec(inputs)

    def call(self, inputs):
        conv = self.conv
        kernel = tf.transpose(tf.convert_to_tensor(conv.kernel), (0, 1, 3, 2))
        stride = int(conv.strides[0])
        total = tf.nn.depthwise_conv2d(inputs, kernel, (1, stride, stride, 1), conv.padding.upper())
        if conv.use_bias:
            total = total + conv.bias
        return conv.activation(total)


class Rule:
    """A tracing rule (`app.graph.trace`), one per trace: thin convolutions shifted and summed, a
    tiling max-pool right after one folded into it (when the activation allows), grouped depthwise
    convolutions as depthwise ones, the rest as is.

    `fuse_thin=False` keeps the thin convolutions (and their pools) as Keras's: the gradient
    graphs' rule (`ModelGraph.gradient_traced`), where only the depthwise rewrite pays (a grouped
    convolution's gradient also goes through XLA, per call; `tf.nn.depthwise_conv2d` has CPU
    gradient kernels), while the shifted sum's padded XLA batches are for forward passes only."""

    def __init__(self, fuse_thin: bool = True) -> None:
        self.fuse_thin = fuse_thin
        self._thin_outputs: dict[int, tuple] = {}  # id(output tensor) -> (conv, its input tensor)

    def __call__(self, layer, args: list, kwargs: dict):
        if self.fuse_thin and is_thin(layer) and not kwargs and len(args) == 1:
            output = ShiftedConv2D(layer)(*args)
            self._thin_outputs[id(output)] = (layer, args[0])
            return output
        if is_grouped_depthwise(layer) and not kwargs and len(args) == 1:
            return DepthwiseConv2D(layer)(*args)
        if is_tiling_max_pool(layer) and not kwargs and len(args) == 1 and id(args[0]) in self._thin_outputs:
            conv, conv_input = self._thin_outputs[id(args[0])]
            if _commutes_with_max(conv.activation):
                return ShiftedConv2D(conv, layer)(conv_input)
        return call_as_is(layer, args, kwargs)
