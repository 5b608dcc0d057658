"""Keras's `model.summary()` as data, and what each Conv2D would cost as a depthwise-separable one.

Rows are the model's own top-level layers, as `model.summary()` lists them (a nested model is one
row). Counts are Keras's: `count_params()` per layer, and trainable / non-trainable from the
model's weights (BatchNorm's moving mean and variance, and frozen layers, are non-trainable).

Separable cost (Chollet 2017, Xception): a KxK Conv2D from C_in to C_out channels has
K*K*C_in*C_out weights; depthwise (K*K*C_in) then pointwise (C_in*C_out) has K*K*C_in + C_in*C_out.
Biases are counted apart: C_out for both when the layer has them (one per output channel, as
Keras's SeparableConv2D adds), so `separable_parameters` equals SeparableConv2D's count_params().
The course's 5x5x3 -> 256 example: 19,200 against 843 weights, biases left out.
"""

from __future__ import annotations

import math

import numpy as np


def _size(weights) -> int:
    return int(sum(math.prod(w.shape) for w in weights))


def _output_shape(layer, traced_shapes: dict) -> list[int | None]:
    if layer.name in traced_shapes:
        return list(traced_shapes[layer.name])
    try:
        return list(layer.output.shape[1:])
    except (AttributeError, ValueError):
        return []


def separable_cost(layer) -> dict | None:
    if type(layer).__name__ != "Conv2D" or getattr(layer, "kernel", None) is None:
        return None
    kh, kw, c_in, c_out = (int(d) for d in layer.kernel.shape)
    biases = c_out if layer.bias is not None else 0
    separable_weights = kh * kw * c_in + c_in * c_out
    conv_weights = kh * kw * c_in * c_out
    return {
        "kernel_size": [kh, kw],
        "in_channels": c_in,
        "out_channels": c_out,
        "conv_weights": conv_weights,
        "depthwise_weights": kh * kw * c_in,
        "pointwise_weights": c_in * c_out,
        "separable_weights": separable_weights,
        "biases": biases,
        "conv_parameters": conv_weights + biases,
        "separable_parameters": separable_weights + biases,
        "ratio": (separable_weights + biases) / (conv_weights + biases),
    }


def summarize(model, traced_nodes: dict) -> dict:
    shapes = {name: node.output_shape for name, node in traced_nodes.items()}
    rows = []
    for layer in model.layers:
        rows.append(
            {
                "name": layer.name,
                "class_name": type(layer).__name__,
                "output_shape": _output_shape(layer, shapes),
                "parameters": int(layer.count_params()) if layer.built else 0,
                "trainable": _size(layer.trainable_weights),
                "non_trainable": _size(layer.non_trainable_weights),
                "separable": separable_cost(layer),
            }
        )
    trainable, non_trainable = _size(model.trainable_weights), _size(model.non_trainable_weights)
    return {
        "layers": rows,
        "total": int(model.count_params()),
        "trainable": trainable,
        "non_trainable": non_trainable,
        "total_bytes": int(sum(np.dtype(w.dtype).itemsize * math.prod(w.shape) for w in model.weights)),
    }
