"""Intermediate activations: every layer's output for one input, in forward order.

All layers come from one compiled forward pass of the model's `ModelGraph` (methods.md,
"Intermediate activations"), so asking for one layer costs the same as asking for all.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.errors import NotFound
from app.graph import ModelGraph


@dataclass
class LayerOutput:
    name: str
    class_name: str
    values: np.ndarray  # batch dimension dropped


@dataclass
class Activations:
    probabilities: np.ndarray
    layers: list[LayerOutput]


def select_layers(graph: ModelGraph, names: list[str] | None) -> list[str]:
    if not names:
        return graph.layer_names
    unknown = [n for n in names if n not in graph.nodes]
    if unknown:
        raise NotFound(f"Unknown layer(s) {', '.join(map(repr, unknown))}. Layers: {', '.join(graph.layer_names)}.")
    order = {name: i for i, name in enumerate(graph.layer_names)}
    return sorted(dict.fromkeys(names), key=order.__getitem__)


def compute(graph: ModelGraph, model_input: np.ndarray, layers: list[str] | None = None) -> Activations:
    """`model_input` is `[H, W, C]` in the model's input range."""
    names = select_layers(graph, layers)
    result = graph.run(model_input[None])
    return Activations(
        probabilities=result["probabilities"][0],
        layers=[
            LayerOutput(name, graph.nodes[name].class_name, graph.feature(result, name)[0]) for name in names
        ],
    )
