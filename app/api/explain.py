"""Explanation endpoints: Grad-CAM (and Grad-CAM++), occlusion, and input-gradient saliency.

Each parses its options, resolves the class and layer, and calls one `app.viz` method through
`run_method`; with `stream=true` the same work is sent as Server-Sent Events with progress,
and stops when the client disconnects (see docs/api.md, "Progress streams").
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import Enum

import numpy as np
from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool

from app.api.deps import ERROR_RESPONSES, IMAGE_BODY, ArrayOptions, get_array_options, get_long_jobs, get_model, get_model_input
from app.jobs import JobLimiter
from app.api.streaming import respond
from app.colormap import overlay
from app.encoding import encode_array, png_data_url, prediction_payload
from app.errors import InvalidOption
from app.registry import ServedModel
from app.schemas import GradcamResponse, OcclusionResponse, SaliencyResponse
from app.viz import gradcam, gradcam_plus_plus, gradient_saliency, integrated_gradients, occlusion, smoothgrad
from app.viz.base import Attribution, check_cap, normalise, resolve_class, resolve_spatial_layer

router = APIRouter(prefix="/api/models/{model_id}", tags=["explanations"])

MAX_SAMPLES = 256
MAX_STEPS = 512
MAX_OCCLUSION_POSITIONS = 10_000

STREAM_RESPONSES = {
    **ERROR_RESPONSES,
    200: {
        "description": "The result as JSON; with stream=true, Server-Sent Events: progress, then result or error",
        "content": {"text/event-stream": {"schema": {"description": "events whose data is JSON: progress {done, total}, then the result or {status, detail}"}}},
    },
}
CLASS_INDEX = Query(None, ge=0, description="the class to explain; default: the top-1 prediction")
STREAM = Query(False, description="send progress as Server-Sent Events, then the result (see docs/api.md)")


class GradcamMethod(str, Enum):
    gradcam = "gradcam"
    gradcam_plus_plus = "gradcam++"


class SaliencyMethod(str, Enum):
    gradient = "gradient"
    smoothgrad = "smoothgrad"
    integrated_gradients = "integrated_gradients"


def run_method(
    served: ServedModel,
    model_input: np.ndarray,
    class_index: int | None,
    method: Callable,
    options: object,
    arrays: ArrayOptions,
    progress=None,
) -> dict:
    """Predict, resolve the class, attribute, and encode the fields every explanation shares."""
    probabilities = served.graph.probabilities(model_input[None])[0]
    target = resolve_class(served.graph, class_index, probabilities)
    attribution: Attribution = method(served.graph, model_input, target, options, progress)
    # The contract's occlusion heatmap is in probability units; the picture shows its positive part.
    image = overlay(model_input, normalise(attribution.heatmap), served.card.input_range)
    return {
        "input": encode_array(model_input, arrays.encoding, arrays.dtype),
        "prediction": prediction_payload(probabilities, served.card.classes),
        "class_index": target,
        "label": served.card.classes[target],
        "raw": encode_array(attribution.raw, arrays.encoding, arrays.dtype),
        "heatmap": encode_array(attribution.heatmap, arrays.encoding, arrays.dtype),
        "overlay": png_data_url(image),
        **attribution.extras,
    }


@router.post("/gradcam", response_model=GradcamResponse, responses=ERROR_RESPONSES, openapi_extra=IMAGE_BODY)
async def gradcam_endpoint(
    served: ServedModel = Depends(get_model),
    model_input: np.ndarray = Depends(get_model_input),
    arrays: ArrayOptions = Depends(get_array_options),
    class_index: int | None = CLASS_INDEX,
    layer: str | None = Query(None, description="a layer with a spatial output; default: default_gradcam_layer"),
    method: GradcamMethod = Query(GradcamMethod.gradcam, description="gradcam (Selvaraju 2017) or gradcam++"),
):
    name = resolve_spatial_layer(served.graph, layer)
    module = gradcam if method is GradcamMethod.gradcam else gradcam_plus_plus

    def job(progress):
        result = run_method(served, model_input, class_index, module.attribute, gradcam.Options(name), arrays, progress)
        return {**result, "method": method.value}

    return await run_in_threadpool(job, None)


@router.post("/occlusion", response_model=OcclusionResponse, responses=STREAM_RESPONSES, openapi_extra=IMAGE_BODY)
async def occlusion_endpoint(
    served: ServedModel = Depends(get_model),
    model_input: np.ndarray = Depends(get_model_input),
    arrays: ArrayOptions = Depends(get_array_options),
    class_index: int | None = CLASS_INDEX,
    patch: int | None = Query(None, ge=1, description="patch side in pixels, at most the input side; default: about 1/7 of it"),
    stride: int | None = Query(None, ge=1, description="step between patches; default: half the patch (at least 1)"),
    fill: float | None = Query(None, description="value put in the patch, in the model's input range; default: its low end"),
    stream: bool = STREAM,
    long_jobs: JobLimiter = Depends(get_long_jobs),
):
    height, width, _ = served.graph.input_shape
    patch = occlusion.default_patch(height, width) if patch is None else patch
    check_cap("patch", patch, 1, min(height, width))
    stride = max(1, patch // 2) if stride is None else stride
    check_cap("stride", stride, 1, max(height, width))
    low, high = served.card.input_range
    fill = low if fill is None else fill
    if not math.isfinite(fill):
        raise InvalidOption(f"fill must be a finite number in the model's input range [{low}, {high}].")
    rows, cols = occlusion.positions(height, width, patch, stride)
    if len(rows) * len(cols) > MAX_OCCLUSION_POSITIONS:
        raise InvalidOption(
            f"patch {patch} with stride {stride} gives {len(rows) * len(cols):,} positions; the limit is "
            f"{MAX_OCCLUSION_POSITIONS:,}. Use a larger stride."
        )
    options = occlusion.Options(patch=patch, stride=stride, fill=float(fill))

    def job(progress):
        result = run_method(served, model_input, class_index, occlusion.attribute, options, arrays, progress)
        result["grid"] = result.pop("raw")
        return result

    return await respond(stream, job, OcclusionResponse, long_jobs)


@router.post(
    "/saliency",
    response_model=SaliencyResponse,
    response_model_exclude_none=True,
    responses=STREAM_RESPONSES,
    openapi_extra=IMAGE_BODY,
)
async def saliency_endpoint(
    served: ServedModel = Depends(get_model),
    model_input: np.ndarray = Depends(get_model_input),
    arrays: ArrayOptions = Depends(get_array_options),
    method: SaliencyMethod = Query(SaliencyMethod.gradient, description="gradient, smoothgrad or integrated_gradients"),
    class_index: int | None = CLASS_INDEX,
    samples: int = Query(50, ge=1, le=MAX_SAMPLES, description=f"smoothgrad: noisy copies averaged (1 to {MAX_SAMPLES})"),
    noise_level: float = Query(0.15, ge=0, le=1, description="smoothgrad: noise sigma as a fraction of the input range (0 to 1)"),
    seed: int = Query(0, description="smoothgrad: random seed of the noise"),
    absolute: bool = Query(True, description="gradient, smoothgrad: max_c |gradient| (default) or, if false, the signed sum over c"),
    steps: int = Query(64, ge=1, le=MAX_STEPS, description=f"integrated_gradients: intervals on the path (1 to {MAX_STEPS})"),
    baseline: float = Query(0.0, ge=0, le=1, description="integrated_gradients: baseline value as a fraction of the input range (0 = black)"),
    stream: bool = STREAM,
    long_jobs: JobLimiter = Depends(get_long_jobs),
):
    low, high = served.card.input_range
    if method is SaliencyMethod.gradient:
        module, options = gradient_saliency, gradient_saliency.Options(absolute)
    elif method is SaliencyMethod.smoothgrad:
        module, options = smoothgrad, smoothgrad.Options(samples, noise_level, (low, high), seed, absolute)
    else:
        module, options = integrated_gradients, integrated_gradients.Options(steps, low + baseline * (high - low))

    def job(progress):
        result = run_method(served, model_input, class_index, module.attribute, options, arrays, progress)
        return {**result, "method": method.value}

    # the plain gradient is one backward pass: like the drawing path, it is never refused
    return await respond(stream, job, SaliencyResponse, None if method is SaliencyMethod.gradient else long_jobs)
