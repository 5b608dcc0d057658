"""What the API and the methods need to know about layers, decided once per model.

One lookup (`get`) with one wording for an unknown layer or a layer of the wrong kind; the roles
methods pick layers by (`default_gradcam_layer`, `last_conv`, `last_hidden`); each layer's kind
and, along a chain of convolutions and pools, its receptive field in the input.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np

from app.errors import InvalidOption, NotFound
from app.graph.dominators import dominator_chain
from app.graph.trace import INPUT_NAME, LayerNode, TracedGraph

CONV_CLASSES = ("Conv2D", "SeparableConv2D", "DepthwiseConv2D", "Conv2DTranspose")
_POOL_PREFIXES = ("MaxPooling", "AveragePooling")
# Layers that map each position to itself: the receptive field passes through unchanged.
_POINTWISE_PREFIXES = ("BatchNormalization", "Activation", "ReLU", "LeakyReLU", "Dropout", "LayerNormalization",
                       "Rescaling", "Normalization", "Random", "SpatialDropout", "GaussianNoise", "GaussianDropout")


_TRAINING_ONLY = ("Random", "Dropout", "SpatialDropout", "GaussianNoise", "GaussianDropout", "AlphaDropout")


class LayerNeed(str, Enum):
    """What a caller needs of a layer, with the words that say so in errors."""

    any = "any"
    spatial = "spatial"  # an [h, w, c] feature map (Grad-CAM and its kin)
    channels = "channels"  # channels or units to maximise (filter patterns, top examples)
    weights = "weights"

    @property
    def describes(self) -> str:
        return _NEED_WORDS[self][0]

    @property
    def lacks(self) -> str:
        return _NEED_WORDS[self][1]


# (the layers that meet a need, what a layer that does not lacks)
_NEED_WORDS = {
    LayerNeed.any: ("Layers", "is not available"),
    LayerNeed.spatial: ("Layers with a spatial [h, w, c] output", "has no spatial [h, w, c] output"),
    LayerNeed.channels: ("Layers with channels or units", "has no channels or units to maximise"),
    LayerNeed.weights: ("Layers with weights", "has no weights"),
}


@dataclass(frozen=True)
class ReceptiveField:
    """Unit (i, j) reads input rows `start[0] + i * jump[0]` .. `+ size[0] - 1` (likewise columns);
    rows outside the input are padding."""

    size: tuple[int, int]
    jump: tuple[int, int]
    start: tuple[int, int]


def layer_kind(node: LayerNode) -> str:
    """A coarse family for display and method choice: conv, pool, dense, flatten, merge, ..."""
    name = node.class_name
    if node.is_container:
        return "model"
    if name in CONV_CLASSES:
        return "conv"
    if name.startswith(_POOL_PREFIXES):
        return "pool"
    if name.startswith(("GlobalAveragePooling", "GlobalMaxPooling")):
        return "global_pool"
    if name == "Dense":
        return "dense"
    if name == "Flatten":
        return "flatten"
    if name == "Reshape":
        return "reshape"
    if name in ("ZeroPadding2D", "Cropping2D"):
        return "padding"
    if name in ("Add", "Concatenate", "Multiply", "Average", "Maximum", "Minimum", "Subtract"):
        return "merge"
    if name.startswith(("BatchNormalization", "LayerNormalization", "Normalization", "Rescaling")):
        return "normalization"
    if name.startswith(("Activation", "ReLU", "LeakyReLU", "Softmax", "ELU", "PReLU")):
        return "activation"
    if name.startswith(("Dropout", "SpatialDropout", "GaussianNoise", "GaussianDropout", "Random")):
        return "regularization"
    return "other"


class LayerFacts:
    def __init__(self, traced: TracedGraph) -> None:
        self.nodes = traced.nodes
        self.input_shape = traced.input_shape
        self._output_index = traced.output_index
        self._fields = self._receptive_fields()

    # ------------------------------------------------------------------ lookup
    @property
    def names(self) -> list[str]:
        return list(self.nodes)

    def matching(self, need: LayerNeed) -> list[str]:
        return [name for name, node in self.nodes.items() if self._meets(node, need)]

    def get(self, name: str, need: LayerNeed = LayerNeed.any) -> LayerNode:
        """The node called `name`, which must meet `need`: 404 if unknown, 422 if of the wrong kind."""
        node = self.nodes.get(name)
        choices = ", ".join(self.matching(need)) or "none"
        if node is None:
            raise NotFound(f"Unknown layer {name!r}. {need.describes}: {choices}.")
        if not self._meets(node, need):
            raise InvalidOption(
                f"Layer {name!r} ({node.class_name}, output {list(node.output_shape)}) {need.lacks}. "
                f"Choose one of: {choices}."
            )
        return node

    def select(self, names: list[str] | None) -> list[str]:
        """Known names in forward order without repeats; every layer when `names` is empty."""
        if not names:
            return self.names
        unknown = [n for n in names if n not in self.nodes]
        if unknown:
            raise NotFound(f"Unknown layer(s) {', '.join(map(repr, unknown))}. Layers: {', '.join(self.names)}.")
        order = {name: i for i, name in enumerate(self.nodes)}
        return sorted(dict.fromkeys(names), key=order.__getitem__)

    @staticmethod
    def _meets(node: LayerNode, need: LayerNeed) -> bool:
        if need is LayerNeed.spatial:
            return len(node.output_shape) == 3
        if need is LayerNeed.channels:
            return not node.is_container and (len(node.output_shape) == 3 or node.class_name == "Dense")
        if need is LayerNeed.weights:
            return not node.is_container and bool(node.layer.weights)
        return True

    # ------------------------------------------------------------------- facts
    def is_spatial(self, name: str) -> bool:
        return len(self.nodes[name].output_shape) == 3

    def kind(self, name: str) -> str:
        return layer_kind(self.nodes[name])

    def active_at_inference(self, name: str) -> bool:
        """Dropout, noise and data-augmentation layers (RandomFlip, RandomRotation, ...) pass their
        input through unchanged when the model predicts."""
        return not self.nodes[name].class_name.startswith(_TRAINING_ONLY)

    def units(self, name: str) -> int:
        """Channels of a feature map, or values of a vector output."""
        shape = self.nodes[name].output_shape
        return int(shape[-1]) if len(shape) == 3 else int(np.prod(shape))

    @property
    def activation_bytes(self) -> int:
        """float32 bytes of every layer's output for one image: what a backward pass keeps alive."""
        return 4 * sum(int(np.prod(node.output_shape)) for node in self.leaves)

    @property
    def largest_output_bytes(self) -> int:
        return 4 * max((int(np.prod(node.output_shape)) for node in self.leaves), default=1)

    def receptive_field(self, name: str) -> ReceptiveField | None:
        return self._fields.get(name)

    # ------------------------------------------------------------------- roles
    @property
    def leaves(self) -> list[LayerNode]:
        return [node for node in self.nodes.values() if not node.is_container]

    @property
    def default_gradcam_layer(self) -> str | None:
        """The map every path to the output goes through, at its finest after the features are made.

        The last spatial layer that dominates the output (every path from the input to it passes
        through the layer, dominators.py), before the first layer that gives up the layout (a
        global pool, Flatten, a vector), not a pool (a pool only coarsens the map it reads), and
        at or after the first convolution: Xception `block14_sepconv2_act`, ResNet50
        `conv5_block3_out`, InceptionV3 `mixed10`, VGG16 `block5_conv3`, a plain convnet its last
        convolution. It is the block's output keras.io's Grad-CAM example and tf-keras-vis explain,
        and, being after the activation, what the next layer reads. With no such layer (branches
        that meet only as vectors), the last convolution; with no convolution, the last spatial layer.
        """
        chosen = self._last_dominating_map()
        if chosen is not None:
            return chosen
        if self.last_conv is not None:
            return self.last_conv
        spatial = [node.name for node in self.leaves if len(node.output_shape) == 3]
        return spatial[-1] if spatial else None

    def _last_dominating_map(self) -> str | None:
        leaves = self.leaves
        output = next((node.name for node in leaves if node.output_index == self._output_index), None)
        if output is None:
            return None
        first_conv = next((i for i, node in enumerate(leaves) if node.class_name in CONV_CLASSES), None)
        after_features = {node.name for node in leaves[first_conv or 0:]}
        chosen = None
        for name in dominator_chain({node.name: node.inbound for node in leaves}, INPUT_NAME, output)[1:]:
            node, kind = self.nodes[name], self.kind(name)
            if len(node.output_shape) != 3 or kind in ("global_pool", "flatten", "reshape"):
                break
            if kind not in ("pool", "padding") and self.active_at_inference(name) and name in after_features:
                chosen = name
        return chosen

    @property
    def last_conv(self) -> str | None:
        convs = [node.name for node in self.leaves if node.class_name in CONV_CLASSES]
        return convs[-1] if convs else None

    @property
    def last_hidden(self) -> str | None:
        """The vector layer feeding the output layer: where the classifier lays out the classes."""
        leaves = self.leaves
        feeding = leaves[-1].inbound[0] if leaves and leaves[-1].inbound else None
        if feeding in self.nodes and len(self.nodes[feeding].output_shape) == 1:
            return feeding
        vectors = [node.name for node in leaves[:-1] if len(node.output_shape) == 1]
        return vectors[-1] if vectors else None

    # ------------------------------------------------------- receptive fields
    def _receptive_fields(self) -> dict[str, ReceptiveField]:
        """Along single-input chains of convolutions, pools and pointwise layers (Araujo et al. 2019)."""
        height, width, _ = self.input_shape
        fields: dict[str, ReceptiveField] = {}
        known = {INPUT_NAME: (ReceptiveField((1, 1), (1, 1), (0, 0)), (height, width))}
        for node in self.nodes.values():
            if node.is_container:
                # a nested model's output is its last layer's
                inner = [n for n in self.nodes.values() if n.parent == node.name and not n.is_container]
                if inner and inner[-1].name in known:
                    known[node.name] = known[inner[-1].name]
                    fields[node.name] = known[node.name][0]
                continue
            if len(node.inbound) != 1 or node.inbound[0] not in known or len(node.output_shape) != 3:
                continue
            field, size = known[node.inbound[0]]
            grown = _grow(node, field, size)
            if grown is not None:
                known[node.name] = (grown, tuple(int(d) for d in node.output_shape[:2]))
                fields[node.name] = grown
        return fields


def _pair(value) -> tuple[int, int]:
    if value is None:
        return (1, 1)
    if isinstance(value, int):
        return (value, value)
    return (int(value[0]), int(value[1]))


def _grow(node: LayerNode, field: ReceptiveField, in_size: tuple[int, int]) -> ReceptiveField | None:
    name = node.class_name
    if name.startswith(_POINTWISE_PREFIXES):
        return field
    config = node.layer.get_config()
    if name in CONV_CLASSES and name != "Conv2DTranspose":
        kernel = _pair(config.get("kernel_size"))
        dilation = _pair(config.get("dilation_rate", 1))
        kernel = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
        strides = _pair(config.get("strides", 1))
    elif name.startswith(_POOL_PREFIXES):
        kernel = _pair(config.get("pool_size"))
        strides = _pair(config.get("strides") or config.get("pool_size"))
    elif name == "ZeroPadding2D":
        (top, _), (left, _) = config["padding"]
        return ReceptiveField(field.size, field.jump, (field.start[0] - top * field.jump[0], field.start[1] - left * field.jump[1]))
    elif name == "Cropping2D":
        (top, _), (left, _) = config["cropping"]
        return ReceptiveField(field.size, field.jump, (field.start[0] + top * field.jump[0], field.start[1] + left * field.jump[1]))
    else:
        return None
    out_size = tuple(int(d) for d in node.output_shape[:2])
    before = [0, 0]
    if config.get("padding") == "same":
        # TensorFlow puts the odd pixel of "same" padding after, so the padding before is the floor
        before = [max((o - 1) * s + k - i, 0) // 2 for o, s, k, i in zip(out_size, strides, kernel, in_size)]
    return ReceptiveField(
        size=tuple(f + (k - 1) * j for f, k, j in zip(field.size, kernel, field.jump)),
        jump=tuple(j * s for j, s in zip(field.jump, strides)),
        start=tuple(st - b * j for st, b, j in zip(field.start, before, field.jump)),
    )
