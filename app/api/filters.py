"""Filter patterns: one channel's pattern, or a whole layer's atlas with progress."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request

from app.api.deps import ERROR_RESPONSES, STREAM_RESPONSES, ArraysDep, FiltersDep, LongJobsDep, ModelDep, SettingsDep
from app.api.streaming import respond
from app.encoding import ArrayOptions
from app.jobs import JobLimiter
from app.registry import ServedModel
from app.schemas import AtlasResponse, FilterResponse
from app.services.filters import FilterPatterns, check
from app.viz.filters import Options

router = APIRouter(prefix="/api/models/{model_id}/layers", tags=["filters"])


@dataclass
class PatternRequest:
    """What both endpoints take: the model, a checked layer, the optimisation's options."""

    served: ServedModel
    layer: str
    options: Options
    arrays: ArrayOptions
    patterns: FilterPatterns
    long_jobs: JobLimiter
    gone: Callable[[], Awaitable[bool]]  # the request's is_disconnected: a job nobody waits for stops

    def limiter(self, index: int | None) -> JobLimiter | None:
        """An answer already in the cache costs no long-job slot."""
        return None if self.patterns.is_cached(self.served, self.layer, index, self.options) else self.long_jobs


async def pattern_request(
    http: Request,
    layer_name: str,
    served: ModelDep,
    options: Annotated[Options, Query()],
    arrays: ArraysDep,
    patterns: FiltersDep,
    long_jobs: LongJobsDep,
    settings: SettingsDep,
    size: int | None = Query(None, ge=1, description="input side, for models built for variable input sizes"),
) -> PatternRequest:
    check(served, layer_name, size, options, settings.max_explanation_cost)
    return PatternRequest(served, layer_name, options, arrays, patterns, long_jobs, http.is_disconnected)


PatternDep = Annotated[PatternRequest, Depends(pattern_request)]


@router.get("/{layer_name:path}/filters/{index}", response_model=FilterResponse, responses=ERROR_RESPONSES)
async def filter_pattern(index: int, request: PatternDep) -> dict:
    r = request
    return await respond(
        False, lambda _: r.patterns.pattern_response(r.served, r.layer, index, r.options, r.arrays), FilterResponse, r.limiter(index), r.gone
    )


@router.get("/{layer_name:path}/filters", response_model=AtlasResponse, responses=STREAM_RESPONSES)
async def filter_atlas(
    request: PatternDep,
    stream: bool = Query(False, description="send progress as Server-Sent Events, then the result"),
):
    r = request
    job = lambda progress: r.patterns.atlas_response(r.served, r.layer, r.options, r.arrays, progress)  # noqa: E731
    limiter = r.limiter(None)
    if limiter is None:  # cached
        return await respond(stream, job, AtlasResponse, limiter, r.gone)
    # identical atlases not yet computed are computed once (issue 29: two of 12 computed it, ten got 503)
    key = r.patterns.flight_key(r.served, r.layer, r.options)
    if stream:
        return await respond(True, job, AtlasResponse, limiter, shared=(r.patterns.streams, key))
    return await r.patterns.shared(key, lambda: respond(False, job, AtlasResponse, limiter, r.gone))
