"""Predictions and activations, and the fields every image analysis answers with."""

from __future__ import annotations

import numpy as np

from app.encoding import ArrayOptions, prediction_payload
from app.registry import ServedModel
from app.viz import activations as activation_method


def response_head(served: ServedModel, model_input: np.ndarray, probabilities: np.ndarray, arrays: ArrayOptions) -> dict:
    """`input` (what the model saw) and `prediction`: the start of every analysis response."""
    return {"input": arrays.encode(model_input), "prediction": prediction_payload(probabilities, served.card.classes)}


def predict(served: ServedModel, model_input: np.ndarray, arrays: ArrayOptions) -> dict:
    return response_head(served, model_input, served.graph.probabilities(model_input[None])[0], arrays)


def activations(served: ServedModel, model_input: np.ndarray, layers: list[str] | None, arrays: ArrayOptions) -> dict:
    """Shared by the HTTP endpoint and the live channel, so both answer the same."""
    result = activation_method.compute(served.graph, model_input, layers)
    return {
        **response_head(served, model_input, result.probabilities, arrays),
        "layers": [
            {
                "name": layer.name,
                "class_name": layer.class_name,
                "shape": list(layer.values.shape),
                "min": float(layer.values.min()),
                "max": float(layer.values.max()),
                "activations": arrays.encode(layer.values),
            }
            for layer in result.layers
        ],
    }
