"""The course's lessons as endpoints: kernel lab, pooling lab, invariance sweep, model summary.

Routers stay thin: options are parsed and validated here, the work is in app.services.lessons.
The kernel lab also takes its options in the JSON body (`{"pixels": ..., "options": {...}}`), so a
kernel can be sent as a nested list; those override the query's.
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, Query, Request
from pydantic import ValidationError
from starlette.concurrency import run_in_threadpool

from app.api.deps import (
    ERROR_RESPONSES,
    IMAGE_BODY,
    ArraysDep,
    ExecutorsDep,
    InputDep,
    ModelDep,
    SettingsDep,
    model_input_for,
)
from app.errors import InvalidOption
from app.inputs import ImageInput, image_from_payload, parse_json, read_body
from app.lessons import transforms
from app.lessons.kernels import MAX_KERNEL_SIDE
from app.lessons.schemas import (
    KernelActivation,
    KernelOptions,
    KernelPresets,
    KernelResponse,
    ModelSummaryTable,
    PaddingMode,
    PoolResponse,
    SweepResponse,
    SweepTransform,
)
from app.preprocess import PreprocessMode
from app.services import lessons

router = APIRouter(prefix="/api/models/{model_id}", tags=["lessons"])

KERNEL_BODY = {
    "requestBody": {
        **IMAGE_BODY["requestBody"],
        "description": IMAGE_BODY["requestBody"]["description"]
        + " JSON bodies may add `options`: any of the query options, `kernel` as nested lists.",
    }
}


def parse_kernel_text(text: str | None) -> list[list[float]] | None:
    """'1,0,-1;2,0,-2;1,0,-1' -> rows of numbers."""
    if text is None:
        return None
    if text.count(";") >= MAX_KERNEL_SIDE or len(text) > 64 * MAX_KERNEL_SIDE * MAX_KERNEL_SIDE:
        raise InvalidOption(f"kernel has more than {MAX_KERNEL_SIDE} rows or is too long; at most {MAX_KERNEL_SIDE}x{MAX_KERNEL_SIDE}.")
    try:
        return [[float(value) for value in row.split(",")] for row in text.strip().split(";")]
    except ValueError:
        raise InvalidOption(
            f"kernel must be rows separated by ';' of numbers separated by ',', like 1,0,-1;2,0,-2;1,0,-1; got {text!r}."
        ) from None


async def get_kernel_request(
    request: Request,
    served: ModelDep,
    settings: SettingsDep,
    executors: ExecutorsDep,
    preprocess: PreprocessMode = Query(PreprocessMode.auto, description="as for every analysis endpoint"),
    kernel: str | None = Query(None, description="rows separated by ';', numbers by ',': 1,0,-1;2,0,-2;1,0,-1"),
    preset: str | None = Query(None, description="identity, edge, sobel_x, sobel_y, sharpen, box_blur, gaussian_blur, emboss, learned:N"),
    stride: int = Query(1, description="1 to 8"),
    padding: PaddingMode = Query(PaddingMode.valid),
    activation: KernelActivation = Query(KernelActivation.none, description="none or relu"),
    layer: str | None = Query(None, description="filter this layer's output instead of the model input"),
    channel: int = Query(0, description="the channel of the input or of the layer's output"),
) -> tuple[np.ndarray, KernelOptions]:
    """The model input and the merged options, from one read of the body."""
    body = await read_body(request, settings)
    given = {"kernel": parse_kernel_text(kernel), "preset": preset, "stride": stride, "padding": padding,
             "activation": activation, "layer": layer, "channel": channel}

    def prepare(decode_pool: bool) -> tuple[np.ndarray, KernelOptions]:
        # Off the event loop, with the body's parsing: the options are checked for size before
        # pydantic walks them (10 MB of one-element rows stalled the loop 2.6 s when they were not).
        extra: dict = {}
        if body.is_json:
            payload = parse_json(body.data, settings.max_json_arrays)
            if isinstance(payload, dict) and "options" in payload:
                extra = payload.pop("options")
                if not isinstance(extra, dict):
                    raise InvalidOption("options must be a JSON object of kernel-lab options.")
            received = image_from_payload(payload, settings)
        else:
            received = ImageInput(file=body.data)
        model_input = model_input_for(served, received, preprocess, settings, decode_pool)
        return model_input, kernel_options(given, extra)

    return await executors.run(body.heavy, prepare)


def check_kernel_size(kernel) -> None:
    """At most `MAX_KERNEL_SIDE` rows of at most as many values, checked before anything walks them."""
    if not isinstance(kernel, list):
        return  # pydantic says what is wrong with it
    rows = len(kernel)
    widest = max((len(row) for row in kernel if isinstance(row, list)), default=0)
    if rows > MAX_KERNEL_SIDE or widest > MAX_KERNEL_SIDE:
        raise InvalidOption(
            f"options.kernel is {rows} rows, the longest {widest} values; the kernel lab takes at most "
            f"{MAX_KERNEL_SIDE}x{MAX_KERNEL_SIDE}. Send a smaller kernel."
        )


def kernel_options(given: dict, extra: dict) -> KernelOptions:
    """The query's options overridden by the body's, validated (call it off the event loop)."""
    check_kernel_size(extra.get("kernel"))
    if extra.get("kernel") is not None:
        given = {**given, "preset": None}
    try:
        return KernelOptions(**{**{k: v for k, v in given.items() if v is not None}, **extra})
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        raise InvalidOption(f"Invalid kernel-lab options: {problems}.") from None


@router.get("/kernel/presets", response_model=KernelPresets, responses=ERROR_RESPONSES)
async def kernel_presets(served: ModelDep) -> dict:
    """The hand-made kernels and every learned kernel of the first Conv2D (its input channel 0)."""
    return lessons.presets(served)


@router.post("/kernel", response_model=KernelResponse, responses=ERROR_RESPONSES, openapi_extra=KERNEL_BODY)
async def kernel_lab(
    served: ModelDep, arrays: ArraysDep, given: Annotated[tuple, Depends(get_kernel_request)]
) -> dict:
    """Slide one kernel over the input (or one channel of a layer's output): the kernel lab."""
    model_input, options = given
    return await run_in_threadpool(lessons.kernel_lab, served, model_input, options, arrays)


@router.post("/pool", response_model=PoolResponse, responses=ERROR_RESPONSES, openapi_extra=IMAGE_BODY)
async def pool_lab(
    served: ModelDep,
    model_input: InputDep,
    arrays: ArraysDep,
    layer: str | None = Query(None, description="pool this layer's output; default: the model input"),
    channel: int = Query(0, ge=0),
    window: int | None = Query(None, ge=1, le=16, description="default: the model's own pooling after the layer, else 2"),
    stride: int | None = Query(None, ge=1, le=16, description="default: the model's own, else the window"),
) -> dict:
    """Max, average and L2-norm pooling of one map side by side, the model's own marked."""
    return await run_in_threadpool(lessons.pool_lab, served, model_input, layer, channel, window, stride, arrays)


def _base_transform(rotate: float, shift_x: float, shift_y: float, zoom: float, shear: float, flip: bool, shape) -> transforms.Transform:
    base = transforms.Transform(rotate=rotate, shift_x=shift_x, shift_y=shift_y, zoom=zoom, shear=shear, flip=flip)
    for name in transforms.LIMITS:
        low, high = transforms.limits(name, shape[0], shape[1])
        value = getattr(base, name)
        if not (np.isfinite(value) and low <= value <= high):
            raise InvalidOption(f"{name}={value} is out of range: {low:g} to {high:g}.")
    return base


@router.post("/sweep", response_model=SweepResponse, responses=ERROR_RESPONSES, openapi_extra=IMAGE_BODY)
async def sweep(
    served: ModelDep,
    model_input: InputDep,
    arrays: ArraysDep,
    transform: SweepTransform = Query(description="the transform swept: rotate (degrees), shift_x, shift_y (pixels), zoom (factor), shear (degrees)"),
    start: float | None = Query(None, description="default: the identity (0, or 1 for zoom)"),
    stop: float | None = Query(None, description="default: start"),
    steps: int = Query(13, description=f"inputs in the batch: 1 to {lessons.MAX_SWEEP_STEPS} (fewer for big inputs)"),
    rotate: float = Query(0.0, description="applied to every input, unless it is the swept transform"),
    shift_x: float = Query(0.0),
    shift_y: float = Query(0.0),
    zoom: float = Query(1.0),
    shear: float = Query(0.0),
    flip: bool = Query(False, description="mirror left-right first"),
) -> dict:
    """N transformed copies of the input in one batch, and the class probabilities of each."""
    base = _base_transform(rotate, shift_x, shift_y, zoom, shear, flip, model_input.shape)
    return await run_in_threadpool(lessons.sweep, served, model_input, transform, start, stop, steps, base, arrays)


@router.get("/summary", response_model=ModelSummaryTable, responses=ERROR_RESPONSES)
async def model_summary(served: ModelDep) -> dict:
    """Keras's model.summary() numbers, with each Conv2D's depthwise-separable cost."""
    return lessons.model_summary(served)
