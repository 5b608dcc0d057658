"""Intermediate activations: every layer's output for one input, in forward order.

All layers come from the model graph's one compiled forward pass, so asking for one layer costs
the same as asking for all (DLwP ch. 5.4.1 builds one multi-output model for the same reason).

For big models an overview asks for `max_side`: every feature map is reduced by area averaging
(each output cell the mean of the input cells it covers) to at most `max_side` on its longer side,
keeping its aspect ratio, inside the same compiled call, so full-size maps never leave TensorFlow.
Each `max_side` is a compiled function of its own, so the value asked for is rounded down to the
ladder `MAX_SIDE_STEPS` (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, ..., 3072, 4096: powers of two and
three times them), and one at least as large as the model's largest map is no reduction at all:
a model has at most a few such functions, whatever values clients send (issue 29: 1,600 distinct
values had cost 1.45 GB).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from app.graph import FunctionKey, ModelGraph
from app.graph.runner import probabilities_of


@dataclass
class LayerOutput:
    name: str
    class_name: str
    values: np.ndarray  # batch dimension dropped
    full_shape: tuple[int, ...] | None = None  # before reduction, when reduced
    channels: list[int] | None = None  # the channels kept, when selected


@dataclass
class Activations:
    probabilities: np.ndarray
    layers: list[LayerOutput]


@dataclass(frozen=True)
class ReducedForward(FunctionKey):
    max_side: int


MAX_SIDE_STEPS = tuple(sorted({2**k for k in range(13)} | {3 * 2**k for k in range(11)}))


def max_side_step(graph: ModelGraph, max_side: int | None) -> int | None:
    """The `max_side` the maps are really reduced to: rounded down to `MAX_SIDE_STEPS` (maps are
    never larger than asked), or None when that reduces no map of this model."""
    if max_side is None:
        return None
    step = max(s for s in MAX_SIDE_STEPS if s <= max(1, max_side))
    return step if step < _largest_map_side(graph) else None


def _largest_map_side(graph: ModelGraph) -> int:
    shapes = (graph.layers.get(name).output_shape for name in graph.layers.names)
    return max((int(max(shape[0], shape[1])) for shape in shapes if len(shape) == 3), default=0)


def reduced_size(height: int, width: int, max_side: int) -> tuple[int, int]:
    scale = min(1.0, max_side / max(height, width))
    return max(1, round(height * scale)), max(1, round(width * scale))


def _reduced_forward(graph: ModelGraph, max_side: int):
    model, head = graph.traced.all_outputs, graph.head

    @tf.function(input_signature=[tf.TensorSpec((None, *graph.input_shape), tf.float32)])
    def run(images):
        *features, _ = model(images, training=False)
        reduced = []
        for values in features:
            if len(values.shape) == 4 and max(values.shape[1], values.shape[2]) > max_side:
                reduced.append(tf.image.resize(values, reduced_size(values.shape[1], values.shape[2], max_side), method="area"))
            else:
                reduced.append(values)
        return reduced, probabilities_of(features[graph.traced.output_index], head)

    return run


def forward(graph: ModelGraph, images: np.ndarray, max_side: int | None = None) -> tuple[list[np.ndarray], np.ndarray]:
    """Every layer's output and the probabilities for a batch `[N, H, W, C]`, in one compiled call.

    The functions take any batch size (their signature leaves it open), so batches of different
    sizes share one trace: the live channel's micro-batches never retrace."""
    max_side = max_side_step(graph, max_side)
    if max_side is None:
        result = graph.run(images)
        return result["features"], result["probabilities"]
    run = graph.functions.get(ReducedForward(max_side), lambda: _reduced_forward(graph, max_side))
    reduced, probabilities = run(tf.convert_to_tensor(images, tf.float32))
    return [t.numpy() for t in reduced], probabilities.numpy()


def select(
    graph: ModelGraph,
    features: list[np.ndarray],
    probabilities: np.ndarray,
    index: int = 0,
    layers: list[str] | None = None,
    channels: list[int] | None = None,
) -> Activations:
    """Item `index` of a `forward` batch: the layers and channels asked for."""
    names = graph.layers.select(layers)
    outputs = []
    for name in names:
        node = graph.layers.get(name)
        values = features[node.output_index][index]
        full = tuple(int(d) for d in node.output_shape)
        kept = None
        if channels is not None and values.ndim == 3:
            kept = [c for c in channels if c < values.shape[-1]]
            values = values[..., kept]
        outputs.append(LayerOutput(name, node.class_name, values, full if values.shape[:2] != full[:2] else None, kept))
    return Activations(probabilities=probabilities[index], layers=outputs)


def compute(
    graph: ModelGraph,
    model_input: np.ndarray,
    layers: list[str] | None = None,
    max_side: int | None = None,
    channels: list[int] | None = None,
) -> Activations:
    """`model_input` is `[H, W, C]` in the model's input range; `layers` default to all;
    `channels` keeps only those channels of each feature map (indices past a map's last are skipped)."""
    graph.layers.select(layers)  # an unknown layer is refused before the forward pass
    features, probabilities = forward(graph, model_input[None], max_side)
    return select(graph, features, probabilities, 0, layers, channels)
