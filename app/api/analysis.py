"""Analysis endpoints that take one image: predict and activations."""

from __future__ import annotations

from fastapi import APIRouter, Query
from starlette.concurrency import run_in_threadpool

from app.api.deps import ERROR_RESPONSES, IMAGE_BODY, ArraysDep, ModelDep, PreparedDep
from app.errors import InvalidOption
from app.schemas import ActivationsResponse, PredictResponse
from app.services import analysis

router = APIRouter(prefix="/api/models/{model_id}", tags=["analysis"])


def split_names(text: str | None) -> list[str] | None:
    if not text:
        return None
    return [name.strip() for name in text.split(",") if name.strip()]


MAX_CHANNEL_INDICES = 4096


def parse_indices(text: str | None) -> list[int] | None:
    """"0-7,12" -> [0, ..., 7, 12], in the order given, without repeats."""
    if not text:
        return None
    indices: list[int] = []
    try:
        for part in text.split(","):
            first, _, last = part.strip().partition("-")
            low, high = int(first), int(last or first)
            if low < 0 or high < low or len(indices) + high - low + 1 > MAX_CHANNEL_INDICES:
                raise ValueError
            indices.extend(range(low, high + 1))
    except ValueError:
        raise InvalidOption(
            f"channels must be comma-separated indices or ranges like 0-7,12 (at most {MAX_CHANNEL_INDICES}); got {text!r}."
        ) from None
    return list(dict.fromkeys(indices))


@router.post("/predict", response_model=PredictResponse, responses=ERROR_RESPONSES, openapi_extra=IMAGE_BODY)
async def predict(served: ModelDep, prepared: PreparedDep, arrays: ArraysDep) -> dict:
    result = await run_in_threadpool(analysis.predict, served, prepared.array, arrays)
    return {**result, "preprocessing": prepared.preprocessing}


@router.post("/activations", response_model=ActivationsResponse, responses=ERROR_RESPONSES, openapi_extra=IMAGE_BODY)
async def layer_activations(
    served: ModelDep,
    prepared: PreparedDep,
    arrays: ArraysDep,
    layers: str | None = Query(None, description="comma-separated layer names; default: every layer"),
    max_side: int | None = Query(
        None, ge=1, le=4096, description="reduce each feature map by area averaging to at most this many cells a side"
    ),
    channels: str | None = Query(None, description="channel indices or ranges kept in each feature map, e.g. 0-7,12"),
) -> dict:
    result = await run_in_threadpool(
        analysis.activations, served, prepared.array, split_names(layers), arrays, max_side, parse_indices(channels)
    )
    return {**result, "preprocessing": prepared.preprocessing}
