"""Filter patterns: one channel's pattern, or a whole layer's atlas with progress."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Query, Request

from app.api.deps import ERROR_RESPONSES, ArrayOptions, get_array_options, get_long_jobs, get_model
from app.jobs import JobLimiter
from app.api.streaming import respond
from app.cache import ArrayCache
from app.encoding import encode_array, png_data_url
from app.registry import ServedModel
from app.schemas import AtlasResponse, FilterResponse
from app.viz import filter_service, filters

router = APIRouter(prefix="/api/models/{model_id}/layers", tags=["filters"])


async def get_filter_cache(request: Request) -> ArrayCache:
    return request.app.state.filter_cache


class PatternOptions:
    """The optimisation's parameters, shared by the single-pattern and atlas endpoints."""

    def __init__(
        self,
        steps: int = Query(128, ge=1, le=filter_service.MAX_STEPS, description=f"gradient-ascent steps (1 to {filter_service.MAX_STEPS})"),
        seed: int = Query(0, ge=0, le=2**31 - 1, description="seed of the start images and the jitter"),
        size: int | None = Query(None, ge=1, description="input side, for models built for variable input sizes"),
        step_size: float = Query(
            0.05,
            ge=filter_service.STEP_SIZE_RANGE[0],
            le=filter_service.STEP_SIZE_RANGE[1],
            description="Adam learning rate on the image's sigmoid logits (1e-4 to 1)",
        ),
        jitter: int = Query(2, ge=0, le=filter_service.MAX_JITTER, description="random shift in pixels at every step (0 to 8)"),
        total_variation: float = Query(
            0.05, ge=0, le=filter_service.MAX_TOTAL_VARIATION, description="weight of the total-variation penalty (0 to 10)"
        ),
    ) -> None:
        self.values = dict(steps=steps, seed=seed, size=size, step_size=step_size, jitter=jitter, total_variation=total_variation)


@router.get("/{layer_name:path}/filters/{index}", response_model=FilterResponse, responses=ERROR_RESPONSES)
async def filter_pattern(
    layer_name: str,
    index: int,
    served: ServedModel = Depends(get_model),
    parameters: PatternOptions = Depends(),
    arrays: ArrayOptions = Depends(get_array_options),
    cache: ArrayCache = Depends(get_filter_cache),
    long_jobs: JobLimiter = Depends(get_long_jobs),
) -> dict:
    filter_service.check_layer(served, layer_name)
    options = filter_service.make_options(served, **parameters.values)
    limiter = None if filter_service.is_cached(served, layer_name, index, options, cache) else long_jobs

    def job(progress):
        pattern, activation = filter_service.single(served, layer_name, index, options, cache)
        picture = filters.atlas_image(pattern[None], served.card.input_range, scale=max(1, 224 // max(pattern.shape[:2])), gap=0)
        return {
            "layer": layer_name,
            "filter": index,
            "pattern": encode_array(pattern, arrays.encoding, arrays.dtype),
            "activation": activation,
            "png": png_data_url(picture),
        }

    return await respond(False, job, FilterResponse, limiter)


@router.get(
    "/{layer_name:path}/filters",
    response_model=AtlasResponse,
    responses={
        **ERROR_RESPONSES,
        200: {
            "description": "The atlas as JSON; with stream=true, Server-Sent Events: progress, then result or error",
            "content": {"text/event-stream": {"schema": {"description": "events whose data is JSON: progress {done, total}, then the result or {status, detail}"}}},
        },
    },
)
async def filter_atlas(
    layer_name: str,
    served: ServedModel = Depends(get_model),
    parameters: PatternOptions = Depends(),
    arrays: ArrayOptions = Depends(get_array_options),
    cache: ArrayCache = Depends(get_filter_cache),
    stream: bool = Query(False, description="send progress as Server-Sent Events, then the result"),
    long_jobs: JobLimiter = Depends(get_long_jobs),
):
    filter_service.check_layer(served, layer_name)
    options = filter_service.make_options(served, **parameters.values)
    limiter = None if filter_service.is_cached(served, layer_name, None, options, cache) else long_jobs

    def job(progress):
        result = filter_service.atlas(served, layer_name, options, cache, progress)
        return {
            "layer": layer_name,
            "count": int(len(result["activations"])),
            "activations": [float(a) for a in result["activations"]],
            "patterns": encode_array(result["patterns"], arrays.encoding, arrays.dtype),
            "png": png_data_url(filters.atlas_image(result["patterns"], served.card.input_range)),
        }

    return await respond(stream, job, AtlasResponse, limiter)
