"""Dataset views: top-activating reference images, nearest neighbours, and the t-SNE map."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from app.api.deps import ERROR_RESPONSES, IMAGE_BODY, ArraysDep, DatasetDep, ExecutorsDep, InputDep, ModelDep, SettingsDep
from app.config import Settings
from app.schemas import EmbeddingResponse, MapProgressResponse, NeighboursResponse, PlacementResponse, TopExamplesResponse
from app.services.dataset import MAX_K, MapProgress

router = APIRouter(prefix="/api/models/{model_id}", tags=["dataset"])


@router.get("/layers/{layer_name:path}/units/{unit}/top", response_model=TopExamplesResponse, responses=ERROR_RESPONSES)
async def top_activating(
    layer_name: str,
    unit: int,
    served: ModelDep,
    views: DatasetDep,
    executors: ExecutorsDep,
    k: int = Query(9, ge=1, le=MAX_K, description=f"how many examples (1 to {MAX_K})"),
) -> dict:
    views.check_unit(served, layer_name, unit)
    top = await views.shared_top_units(executors, served, layer_name)
    return await run_in_threadpool(views.top_examples, served, layer_name, unit, k, top)


@router.post("/neighbors", response_model=NeighboursResponse, responses=ERROR_RESPONSES, openapi_extra=IMAGE_BODY)
async def neighbours(
    served: ModelDep,
    model_input: InputDep,
    arrays: ArraysDep,
    views: DatasetDep,
    layer: str | None = Query(None, description="feature space; default: the last hidden layer"),
    k: int = Query(8, ge=1, le=MAX_K, description=f"how many neighbours (1 to {MAX_K})"),
) -> dict:
    name = views.neighbour_layer(served, layer)
    return await run_in_threadpool(views.neighbours, served, model_input, name, k, arrays)


MAP_RESPONSES = {
    **ERROR_RESPONSES,
    202: {
        "model": MapProgressResponse,
        "description": "The map is being computed (once per model): ask again after the Retry-After header's seconds",
    },
}


def computing(progress: MapProgress, settings: Settings) -> JSONResponse:
    retry = settings.map_retry_seconds
    return JSONResponse(progress.body(retry), status_code=202, headers={"Retry-After": str(retry)})


@router.get("/embedding", response_model=EmbeddingResponse, responses=MAP_RESPONSES)
async def reference_map(served: ModelDep, arrays: ArraysDep, views: DatasetDep, executors: ExecutorsDep, settings: SettingsDep):
    """Shipped or computed once per model; while it is computed, 202 with its progress."""
    mapped = await views.map_or_progress(executors, served)
    if isinstance(mapped, MapProgress):
        return computing(mapped, settings)
    return await run_in_threadpool(views.reference_map, served, arrays, mapped)


@router.post("/embedding/place", response_model=PlacementResponse, responses=MAP_RESPONSES, openapi_extra=IMAGE_BODY)
async def place_on_map(
    served: ModelDep,
    model_input: InputDep,
    arrays: ArraysDep,
    views: DatasetDep,
    executors: ExecutorsDep,
    settings: SettingsDep,
    nearest: int = Query(0, ge=0, le=MAX_K, description=f"also the k nearest reference images in the map's layer, as /neighbors gives them (0 to {MAX_K}; 0: none)"),
) -> dict:
    mapped = await views.map_or_progress(executors, served)
    if isinstance(mapped, MapProgress):
        return computing(mapped, settings)
    return await run_in_threadpool(views.place, served, model_input, arrays, mapped, nearest)
