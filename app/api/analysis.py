"""Analysis endpoints that take one image: predict and activations."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from app.api.deps import ERROR_RESPONSES, IMAGE_BODY, ArrayOptions, get_array_options, get_model, get_model_input
from app.encoding import encode_array, prediction_payload
from app.registry import ServedModel
from app.schemas import ActivationsResponse, PredictResponse
from app.viz import activations

router = APIRouter(prefix="/api/models/{model_id}", tags=["analysis"])


def split_names(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [name.strip() for name in text.split(",") if name.strip()]


def activations_payload(served: ServedModel, model_input: np.ndarray, layers: list[str] | None, options) -> dict:
    """Shared by the HTTP endpoint and the live channel, so both answer the same."""
    result = activations.compute(served.graph, model_input, layers)
    return {
        "input": encode_array(model_input, options.encoding, options.dtype),
        "prediction": prediction_payload(result.probabilities, served.card.classes),
        "layers": [
            {
                "name": layer.name,
                "class_name": layer.class_name,
                "shape": list(layer.values.shape),
                "min": float(layer.values.min()),
                "max": float(layer.values.max()),
                "activations": encode_array(layer.values, options.encoding, options.dtype),
            }
            for layer in result.layers
        ],
    }


@router.post("/predict", response_model=PredictResponse, responses=ERROR_RESPONSES, openapi_extra=IMAGE_BODY)
async def predict(
    served: ServedModel = Depends(get_model),
    model_input: np.ndarray = Depends(get_model_input),
    options: ArrayOptions = Depends(get_array_options),
) -> dict:
    result = await run_in_threadpool(served.graph.run, model_input[None])
    return {
        "input": encode_array(model_input, options.encoding, options.dtype),
        "prediction": prediction_payload(result["probabilities"][0], served.card.classes),
    }


@router.post(
    "/activations", response_model=ActivationsResponse, responses=ERROR_RESPONSES, openapi_extra=IMAGE_BODY
)
async def layer_activations(
    served: ServedModel = Depends(get_model),
    model_input: np.ndarray = Depends(get_model_input),
    options: ArrayOptions = Depends(get_array_options),
    layers: str | None = Query(None, description="comma-separated layer names; default: every layer"),
) -> dict:
    return await run_in_threadpool(activations_payload, served, model_input, split_names(layers), options)
