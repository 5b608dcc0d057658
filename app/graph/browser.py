"""What the page's engine may run: a served model as the page's layers, or why it cannot.

The live view of a small model is computed in the student's browser (static/js/engine/), so the
server does not answer every pen move. The page runs exactly what this module describes: each
layer as its `kind` (the names of `layers.layer_kind`, and of the page's modules,
static/js/engine/<kind>.js), the Keras class, the settings the computation needs and the names of
its weights in one binary download. A model is supported when every layer is one the page
computes (a kind, a class and an activation in the tables below) and it is small enough for a
phone to redraw it many times a second (`MAX_MULTIPLY_ADDS`, `MAX_WEIGHT_BYTES`); otherwise the
reason names the first thing that is not, and the page draws through the server as before.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from functools import cached_property

import keras
import numpy as np

from app.graph.layers import LayerFacts
from app.graph.operation import is_operation
from app.graph.trace import INPUT_NAME, LayerNode, TracedGraph

# About 1 ns per multiply-add in the page's plain kernels on a laptop (measured in README), so
# 20 M is about 20 ms a drawing: still 30 views a second with room for painting them.
MAX_MULTIPLY_ADDS = 20_000_000
MAX_WEIGHT_BYTES = 32 * 1024 * 1024

# Activations the page computes (static/js/engine/activations.js), by their Keras 3 names.
ACTIVATIONS = frozenset(
    "linear relu relu6 leaky_relu elu selu gelu silu swish sigmoid hard_sigmoid hard_silu hard_swish tanh "
    "softmax softplus softsign exponential mish".split()
)

# Per kind, the Keras classes its page module computes.
CLASSES = {
    "conv": ("Conv2D", "DepthwiseConv2D", "SeparableConv2D"),
    "pool": ("MaxPooling2D", "AveragePooling2D"),
    "global_pool": ("GlobalAveragePooling2D", "GlobalMaxPooling2D"),
    "dense": ("Dense",),
    "flatten": ("Flatten",),
    "reshape": ("Reshape",),
    "padding": ("ZeroPadding2D", "Cropping2D"),
    "merge": ("Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate"),
    "normalization": ("BatchNormalization", "LayerNormalization", "Rescaling", "Normalization"),
    "activation": ("Activation", "ReLU", "LeakyReLU", "ELU", "Softmax"),
    "regularization": None,  # every one: identity when the model predicts
    "model": None,  # a nested model: its output is its last layer's
}


class NotRunnable(Exception):
    """Why the page cannot run a layer, in words for the model detail."""


@dataclass
class PageLayer:
    """One layer as the page computes it; `weights` by their Keras names (Keras variables, read
    only when the download is made: a model too big for the page never copies its weights)."""

    name: str
    kind: str
    class_name: str
    inbound: list[str]
    output_shape: list[int]
    config: dict = field(default_factory=dict)
    weights: dict[str, object] = field(default_factory=dict)
    multiply_adds: int = 0


@dataclass
class PagePlan:
    """The whole model for the page, or the reason it stays on the server."""

    supported: bool
    reason: str
    multiply_adds: int
    weight_bytes: int
    layers: list[PageLayer]

    @cached_property
    def weights_blob(self) -> tuple[bytes, dict[str, dict[str, dict]]]:
        """Every weight as little-endian float32, one after the other, and where each lies:
        {layer: {weight: {"offset": bytes from the start, "shape": [...]}}}."""
        parts, manifest, offset = [], {}, 0
        for layer in self.layers:
            for key, values in layer.weights.items():
                data = np.ascontiguousarray(keras.ops.convert_to_numpy(values), dtype="<f4").tobytes()
                manifest.setdefault(layer.name, {})[key] = {"offset": offset, "shape": list(values.shape)}
                parts.append(data)
                offset += len(data)
        return b"".join(parts), manifest

    @cached_property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.weights_blob[0]).hexdigest()[:32] + '"'


def plan(traced: TracedGraph, facts: LayerFacts) -> PagePlan:
    layers: list[PageLayer] = []
    try:
        names = _tensor_names(traced)
        for node in traced.nodes.values():
            layers.append(_page_layer(node, facts.kind(node.name), traced, names))
    except NotRunnable as why:
        return PagePlan(False, str(why), 0, 0, [])
    multiply_adds = sum(layer.multiply_adds for layer in layers)
    weight_bytes = sum(4 * int(np.prod(values.shape)) for layer in layers for values in layer.weights.values())
    if multiply_adds > MAX_MULTIPLY_ADDS:
        return PagePlan(
            False,
            f"{multiply_adds / 1e6:,.1f} M multiply-adds per image, over the page's {MAX_MULTIPLY_ADDS / 1e6:,.0f} M: "
            "too slow to redraw live on a laptop or phone, so the server computes it",
            multiply_adds, weight_bytes, [],
        )
    if weight_bytes > MAX_WEIGHT_BYTES:
        return PagePlan(
            False,
            f"{weight_bytes / 2**20:,.1f} MiB of weights, over the page's {MAX_WEIGHT_BYTES / 2**20:,.0f} MiB download",
            multiply_adds, weight_bytes, [],
        )
    return PagePlan(True, "every layer runs in the page", multiply_adds, weight_bytes, layers)


def _tensor_names(traced: TracedGraph) -> dict[int, str]:
    """Each traced tensor's layer name, so a layer's inputs keep their order and repeats
    (`Concatenate()([a, a])`), which `LayerNode.inbound` folds."""
    names = {id(traced.input_tensor): INPUT_NAME}
    outputs = traced.all_outputs.outputs
    for node in traced.nodes.values():
        if not node.is_container:
            names.setdefault(id(outputs[node.output_index]), node.name)
    return names


def _page_layer(node: LayerNode, kind: str, traced: TracedGraph, names: dict[int, str]) -> PageLayer:
    label = f"layer {node.name!r} ({node.class_name})"
    if is_operation(node.layer):
        raise NotRunnable(f"{label} is a Keras operation, not a layer: the page computes layers only")
    if kind not in CLASSES:
        raise NotRunnable(f"{label} is not a kind the page computes ({', '.join(CLASSES)})")
    classes = CLASSES[kind]
    if classes is not None and node.class_name not in classes:
        raise NotRunnable(f"{label}: the page's {kind} module computes {', '.join(classes)} only")
    output_shape = [int(d) for d in node.output_shape]
    if kind == "model":
        # the nested model's output is the tensor of its last layer, already computed
        same = next(n.name for n in traced.nodes.values() if not n.is_container and n.output_index == node.output_index)
        return PageLayer(node.name, kind, node.class_name, [same], output_shape)
    inbound = [names.get(id(t)) for t in node.input_tensors]
    if not inbound or None in inbound:
        raise NotRunnable(f"{label} reads a tensor that is not a layer's output")
    config = node.layer.get_config()
    layer = PageLayer(node.name, kind, node.class_name, inbound, output_shape)
    in_shapes = [[int(d) for d in t.shape[1:]] for t in node.input_tensors]
    CONVERTERS[kind](layer, node.layer, config, in_shapes, label)
    activation = layer.config.get("activation")
    if activation is not None and activation not in ACTIVATIONS:
        raise NotRunnable(f"{label} uses the activation {activation!r}, which the page does not compute")
    return layer


def _activation_name(config: dict) -> str:
    value = config.get("activation", "linear")
    return value if isinstance(value, str) else getattr(value, "__name__", str(value))


def _channels_last(config: dict, label: str) -> None:
    if config.get("data_format", "channels_last") != "channels_last":
        raise NotRunnable(f"{label} is channels_first; the page computes channels_last layers")


def _weights(keras_layer) -> dict[str, object]:
    return {v.path.split("/")[-1]: v for v in keras_layer.weights}


def _conv(layer: PageLayer, keras_layer, config, in_shapes, label) -> None:
    _channels_last(config, label)
    layer.config = {
        "strides": list(config["strides"]),
        "padding": config["padding"],
        "dilation_rate": list(config.get("dilation_rate", (1, 1))),
        "groups": int(config.get("groups", 1)),
        "activation": _activation_name(config),
    }
    layer.weights = _weights(keras_layer)
    out_h, out_w, out_c = layer.output_shape
    in_c = in_shapes[0][-1]
    if layer.class_name == "Conv2D":
        kh, kw = layer.weights["kernel"].shape[:2]
        layer.multiply_adds = out_h * out_w * out_c * kh * kw * (in_c // layer.config["groups"])
        return
    depthwise = layer.weights["kernel" if layer.class_name == "DepthwiseConv2D" else "depthwise_kernel"]
    kh, kw, _, multiplier = depthwise.shape
    layer.config["depth_multiplier"] = int(multiplier)
    layer.multiply_adds = out_h * out_w * in_c * multiplier * kh * kw
    if layer.class_name == "SeparableConv2D":
        layer.multiply_adds += out_h * out_w * in_c * multiplier * out_c


def _pool(layer: PageLayer, keras_layer, config, in_shapes, label) -> None:
    _channels_last(config, label)
    pool_size = list(config["pool_size"])
    layer.config = {"pool_size": pool_size, "strides": list(config.get("strides") or pool_size), "padding": config["padding"]}
    layer.multiply_adds = int(np.prod(layer.output_shape)) * pool_size[0] * pool_size[1]


def _global_pool(layer: PageLayer, keras_layer, config, in_shapes, label) -> None:
    _channels_last(config, label)
    layer.config = {"keepdims": bool(config.get("keepdims", False))}
    layer.multiply_adds = int(np.prod(in_shapes[0]))


def _dense(layer: PageLayer, keras_layer, config, in_shapes, label) -> None:
    layer.config = {"activation": _activation_name(config)}
    layer.weights = _weights(keras_layer)
    layer.multiply_adds = int(np.prod(in_shapes[0])) * int(layer.output_shape[-1])


def _same_order(layer: PageLayer, keras_layer, config, in_shapes, label) -> None:
    """Flatten and Reshape of channels-last data keep every value where it is: a new shape only."""
    if layer.class_name == "Flatten":
        _channels_last(config, label)


def _padding(layer: PageLayer, keras_layer, config, in_shapes, label) -> None:
    _channels_last(config, label)
    key = "padding" if layer.class_name == "ZeroPadding2D" else "cropping"
    (top, bottom), (left, right) = config[key]
    layer.config = {"top": int(top), "bottom": int(bottom), "left": int(left), "right": int(right)}


def _merge(layer: PageLayer, keras_layer, config, in_shapes, label) -> None:
    if layer.class_name == "Concatenate":
        axis = int(config.get("axis", -1))
        rank = len(layer.output_shape)
        layer.config = {"axis": axis % (rank + 1) - 1 if axis < 0 else axis - 1}  # without the batch axis
        if layer.config["axis"] < 0:
            raise NotRunnable(f"{label} concatenates along the batch axis")
        return
    if any(shape != layer.output_shape for shape in in_shapes):
        raise NotRunnable(f"{label} broadcasts inputs of shapes {in_shapes}; the page merges equal shapes only")


def _normalization(layer: PageLayer, keras_layer, config, in_shapes, label) -> None:
    rank = len(layer.output_shape)
    if layer.class_name == "Rescaling":
        scale, offset = (np.broadcast_to(np.asarray(config[k], np.float32), (layer.output_shape[-1],)) for k in ("scale", "offset"))
        layer.weights = {"scale": np.array(scale), "offset": np.array(offset)}
        return
    if layer.class_name == "Normalization":
        if config.get("invert"):
            raise NotRunnable(f"{label} inverts a normalization; the page computes the forward one")
        mean, variance = (np.asarray(keras.ops.convert_to_numpy(getattr(keras_layer, k)), np.float32) for k in ("mean", "variance"))
        if mean.size not in (1, layer.output_shape[-1]):
            raise NotRunnable(f"{label} normalizes over other axes than the channels")
        channels = layer.output_shape[-1]
        layer.weights = {"mean": np.broadcast_to(mean.reshape(-1), (channels,)).copy(), "variance": np.broadcast_to(variance.reshape(-1), (channels,)).copy()}
        layer.config = {"epsilon": float(keras.config.epsilon())}
        return
    axis = config.get("axis", -1)
    axes = axis if isinstance(axis, (list, tuple)) else [axis]
    if [a % (rank + 1) for a in axes] != [rank]:
        raise NotRunnable(f"{label} normalizes along axis {axis}; the page normalizes the channels (the last axis)")
    if config.get("rms_scaling"):
        raise NotRunnable(f"{label} uses RMS scaling, which the page does not compute")
    layer.config = {"epsilon": float(config["epsilon"])}
    layer.weights = _weights(keras_layer)


def _activation(layer: PageLayer, keras_layer, config, in_shapes, label) -> None:
    name = layer.class_name
    if name == "Activation":
        layer.config = {"activation": _activation_name(config)}
    elif name == "Softmax":
        axis = config.get("axis", -1)
        if axis not in (-1, len(layer.output_shape)):
            raise NotRunnable(f"{label} is a softmax along axis {axis}; the page computes it along the last axis")
        layer.config = {"activation": "softmax"}
    elif name == "ELU":
        layer.config = {"activation": "elu", "alpha": float(config.get("alpha", 1.0))}
    elif name == "LeakyReLU":
        layer.config = {"activation": "leaky_relu", "negative_slope": float(config.get("negative_slope", 0.3))}
    else:  # ReLU with its options, as keras.activations.relu
        max_value = config.get("max_value")
        layer.config = {
            "activation": "relu",
            "max_value": None if max_value is None else float(max_value),
            "negative_slope": float(config.get("negative_slope", 0.0)),
            "threshold": float(config.get("threshold", 0.0)),
        }


def _identity(layer: PageLayer, keras_layer, config, in_shapes, label) -> None:
    pass


CONVERTERS = {
    "conv": _conv,
    "pool": _pool,
    "global_pool": _global_pool,
    "dense": _dense,
    "flatten": _same_order,
    "reshape": _same_order,
    "padding": _padding,
    "merge": _merge,
    "normalization": _normalization,
    "activation": _activation,
    "regularization": _identity,
}
