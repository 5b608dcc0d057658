"""Analysis endpoints that take one image: predict and activations."""

from __future__ import annotations

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from app.api.deps import ERROR_RESPONSES, IMAGE_BODY, ArraysDep, InputDep, ModelDep
from app.schemas import ActivationsResponse, PredictResponse
from app.services import analysis

router = APIRouter(prefix="/api/models/{model_id}", tags=["analysis"])


def split_names(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [name.strip() for name in text.split(",") if name.strip()]


@router.post("/predict", response_model=PredictResponse, responses=ERROR_RESPONSES, openapi_extra=IMAGE_BODY)
async def predict(served: ModelDep, model_input: InputDep, arrays: ArraysDep) -> dict:
    return await run_in_threadpool(analysis.predict, served, model_input, arrays)


@router.post("/activations", response_model=ActivationsResponse, responses=ERROR_RESPONSES, openapi_extra=IMAGE_BODY)
async def layer_activations(
    served: ModelDep,
    model_input: InputDep,
    arrays: ArraysDep,
    layers: str | None = Query(None, description="comma-separated layer names; default: every layer"),
) -> dict:
    return await run_in_threadpool(analysis.activations, served, model_input, split_names(layers), arrays)
