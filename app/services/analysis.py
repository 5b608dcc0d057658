"""Predictions and activations, and the fields every image analysis answers with."""

from __future__ import annotations

import numpy as np

from app.encoding import ArrayOptions, prediction_payload
from app.graph import Head
from app.registry import ServedModel
from app.viz import activations as activation_method
from app.viz.activations import Activations


def response_head(
    served: ServedModel,
    model_input: np.ndarray,
    probabilities: np.ndarray,
    arrays: ArrayOptions,
    parts: set[str] | frozenset[str] = frozenset({"input", "prediction"}),
) -> dict:
    """`input` (what the model saw) and `prediction`: the start of every analysis response
    (explanations may leave either out: `fields=`)."""
    head = {}
    if "input" in parts:
        head["input"] = arrays.encode(model_input)
    if "prediction" in parts:
        multilabel = served.graph.head is Head.multilabel
        head["prediction"] = prediction_payload(probabilities, served.card.classes, multilabel=multilabel)
    return head


def predict(served: ServedModel, model_input: np.ndarray, arrays: ArrayOptions) -> dict:
    return response_head(served, model_input, served.graph.probabilities(model_input[None])[0], arrays)


def activations(
    served: ServedModel,
    model_input: np.ndarray,
    layers: list[str] | None,
    arrays: ArrayOptions,
    max_side: int | None = None,
    channels: list[int] | None = None,
) -> dict:
    """Shared by the HTTP endpoint and the live channel, so both answer the same."""
    return activations_payload(served, model_input, activation_method.compute(served.graph, model_input, layers, max_side, channels), arrays)


def activations_payload(served: ServedModel, model_input: np.ndarray, result: Activations, arrays: ArrayOptions) -> dict:
    """One input's computed activations -> the response (the live channel's batches use it per frame)."""
    head = response_head(served, model_input, result.probabilities, arrays)
    encoded = []
    while result.layers:  # each layer's array is dropped once encoded: one copy of a big set at a time
        layer = result.layers.pop(0)
        encoded.append(
            {
                "name": layer.name,
                "class_name": layer.class_name,
                "shape": list(layer.values.shape),
                "min": float(layer.values.min()),
                "max": float(layer.values.max()),
                "activations": arrays.encode(layer.values),
                "full_shape": list(layer.full_shape) if layer.full_shape else None,
                "channels": layer.channels,
            }
        )
    return {**head, "layers": encoded}
