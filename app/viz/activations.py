"""Intermediate activations: every layer's output for one input, in forward order.

All layers come from the model graph's one compiled forward pass, so asking for one layer costs
the same as asking for all (DLwP ch. 5.4.1 builds one multi-output model for the same reason).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

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


def compute(graph: ModelGraph, model_input: np.ndarray, layers: list[str] | None = None) -> Activations:
    """`model_input` is `[H, W, C]` in the model's input range; `layers` default to all."""
    names = graph.layers.select(layers)
    result = graph.run(model_input[None])
    return Activations(
        probabilities=result["probabilities"][0],
        layers=[LayerOutput(name, graph.layers.get(name).class_name, graph.feature(result, name)[0]) for name in names],
    )
