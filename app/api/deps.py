"""Dependencies injected into the routers, as `Annotated` aliases: `served: ModelDep`, ...

Dependencies are `async` on purpose: FastAPI runs a plain `def` dependency in the threadpool, and
each such hop cost about a millisecond per request next to TensorFlow's threads.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Annotated, Any

import numpy as np
from fastapi import Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from app.config import Settings
from app.encoding import ArrayOptions, Encoding, TransferDtype
from app.errors import Busy
from app.executors import Executors, NeedsDecodePool
from app.inputs import ImageInput, decode_image, parse_body, read_body
from app.jobs import JobLimiter
from app.preprocess import Prepared, PreprocessMode, prepare, resolve_mode, shrink_factor
from app.registry import ModelRegistry, ServedModel
from app.schemas import ErrorResponse
from app.services.dataset import DatasetViews
from app.services.filters import FilterPatterns
from app.services.preprocessing import preprocessing_payload


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_registry(request: Request) -> ModelRegistry:
    return request.app.state.registry


async def get_long_jobs(request: Request) -> JobLimiter:
    return request.app.state.long_jobs


async def get_executors(request: Request) -> Executors:
    return request.app.state.executors


async def get_filter_patterns(request: Request) -> FilterPatterns:
    return request.app.state.filter_patterns


async def get_dataset_views(request: Request) -> DatasetViews:
    return request.app.state.dataset_views


SettingsDep = Annotated[Settings, Depends(get_settings)]
RegistryDep = Annotated[ModelRegistry, Depends(get_registry)]
LongJobsDep = Annotated[JobLimiter, Depends(get_long_jobs)]
ExecutorsDep = Annotated[Executors, Depends(get_executors)]
FiltersDep = Annotated[FilterPatterns, Depends(get_filter_patterns)]
DatasetDep = Annotated[DatasetViews, Depends(get_dataset_views)]


async def get_model(model_id: str, registry: RegistryDep) -> ServedModel:
    return registry.get(model_id)


ModelDep = Annotated[ServedModel, Depends(get_model)]


ENCODING_HELP = "base64 (default) or list (nested JSON lists)"
DTYPE_HELP = "float32 (exact, default); float16 or uint8 (scale/offset) are compact"
PREPROCESS_HELP = "auto (default): digit for files sent to a digits model, resize for other files, none for pixels"


async def get_array_options(
    encoding: Encoding = Query(Encoding.base64, description=ENCODING_HELP),
    dtype: TransferDtype = Query(TransferDtype.float32, description=DTYPE_HELP),
) -> ArrayOptions:
    return ArrayOptions(encoding, dtype)


ArraysDep = Annotated[ArrayOptions, Depends(get_array_options)]


PREPROCESS_QUERY = Query(PreprocessMode.auto, description=PREPROCESS_HELP)


class InputQuery(BaseModel):
    """`ArraysDep`'s and `InputDep`'s query options, for endpoints that read their query in one model
    (`app.api.query`)."""

    encoding: Encoding = Field(Encoding.base64, description=ENCODING_HELP)
    dtype: TransferDtype = Field(TransferDtype.float32, description=DTYPE_HELP)
    preprocess: PreprocessMode = Field(PreprocessMode.auto, description=PREPROCESS_HELP)

    def arrays(self) -> ArrayOptions:
        return ArrayOptions(self.encoding, self.dtype)


async def get_model_input(
    request: Request,
    served: ModelDep,
    settings: SettingsDep,
    executors: ExecutorsDep,
    preprocess: PreprocessMode = PREPROCESS_QUERY,
) -> np.ndarray:
    """The exact `[H, W, C]` array the model will see, from any of the three body forms.

    Only reading the body happens on the event loop; parsing, decoding and preprocessing run
    on the app's bounded decode pool."""
    return (await _prepared(request, served, settings, executors, preprocess)).array


InputDep = Annotated[np.ndarray, Depends(get_model_input)]


@dataclass
class PreparedInput:
    """The model's input and the response's `preprocessing` (which path, and the steps if asked)."""

    array: np.ndarray
    preprocessing: dict


async def get_prepared_input(
    request: Request,
    served: ModelDep,
    settings: SettingsDep,
    executors: ExecutorsDep,
    arrays: ArraysDep,
    preprocess: PreprocessMode = PREPROCESS_QUERY,
    explain_preprocessing: bool = Query(
        False, description="add the digit preprocessing's steps (ink map, threshold, crop, 20 px box, 28x28 field) as images"
    ),
) -> PreparedInput:
    """`InputDep`, plus what the preprocessing did: for the endpoints that report it."""
    prepared = await _prepared(request, served, settings, executors, preprocess)
    report = preprocessing_payload(
        prepared.mode.value, prepared.digit, arrays, steps=explain_preprocessing, original_size=prepared.original_size
    )
    return PreparedInput(prepared.array, report)


PreparedDep = Annotated[PreparedInput, Depends(get_prepared_input)]


async def _prepared(request: Request, served: ServedModel, settings: Settings, executors: Executors, mode: PreprocessMode) -> Prepared:
    return await run_on_body(
        request, settings, executors, lambda received, decode_pool: prepared_input_for(served, received, mode, settings, decode_pool)
    )


def model_input_for(
    served: ServedModel, received: ImageInput, mode: PreprocessMode, settings: Settings, decode_pool: bool = True
) -> np.ndarray:
    """A received body -> the model's input, by the `preprocess` mode (shared with the live channel).

    A file is decoded only to the size this mode needs (`shrink_factor`). CPU work: run it through
    `Executors.run`, which says whether this is the decode pool (big images are decoded only there)."""
    return prepared_input_for(served, received, mode, settings, decode_pool).array


def prepared_input_for(
    served: ServedModel, received: ImageInput, mode: PreprocessMode, settings: Settings, decode_pool: bool = True
) -> Prepared:
    """`model_input_for`, keeping what the preprocessing did and the file's own size."""
    shape = served.graph.input_shape
    digits_model = served.card.kind == "digits"
    mode = resolve_mode(mode, from_file=received.from_file, digits_model=digits_model)
    image, original_size = received_image(
        received, settings, lambda width, height: shrink_factor(mode, width, height, shape), decode_pool
    )
    prepared = prepare(image, mode, shape, served.card.input_range, from_file=received.from_file, digits_model=digits_model)
    prepared.original_size = original_size
    return prepared


def received_image(
    received: ImageInput, settings: Settings, shrink: Callable[[int, int], int], decode_pool: bool = True
) -> tuple[np.ndarray, tuple[int, int] | None]:
    """The pixels, or the file decoded reduced by `shrink(width, height)`; and the file's own
    (height, width) when decoding reduced it, so boxes can be given in the file's pixels."""
    if received.file is None:
        return received.pixels, None
    original_size = None

    def remember(width: int, height: int) -> int:
        nonlocal original_size
        original_size = original_size or (height, width)  # the first call sees the file's own size
        return shrink(width, height)

    image = decode_image(received.file, settings, remember, decode_pool)
    return image, original_size if original_size and original_size != image.shape[:2] else None


async def run_on_body(request: Request, settings: Settings, executors: Executors, work: Callable[[ImageInput, bool], Any]) -> Any:
    """Read the body on the event loop; parse it and run `work(received, decode_pool)` off it, on the
    decode pool for image files and large bodies."""
    body = await read_body(request, settings)
    return await executors.run(body.heavy, lambda decode_pool: work(parse_body(body, settings), decode_pool))


def quick_key(key: Hashable, mode: PreprocessMode, body) -> Hashable:
    """What an answer's run time depends on besides the work: the `preprocess` mode asked for and
    the body's size to within a factor of two (a 125 KB body to preprocess as a digit is not the
    drawing whose 3 ms let the work run on the event loop)."""
    return (key, mode, body.is_json, len(body.data).bit_length())


async def run_with_input(
    request: Request,
    served: ServedModel,
    settings: Settings,
    executors: Executors,
    mode: PreprocessMode,
    work: Callable[[np.ndarray], Any],
    key: Hashable = None,
    limiter: JobLimiter | None = None,
) -> Any:
    """`work(model_input)` for an answer that is not streamed. A light body (a drawing's pixels)
    is parsed, prepared and worked on in one go: a one-pass answer through `Executors.quick` (on
    the event loop when it is quick and alone, else one thread hop; `key` names the kind of work
    whose run time decides that), a long job on one of `limiter`'s threads, holding a slot. An
    image file is decoded on the decode pool first."""
    body = await read_body(request, settings)
    if key is not None:  # the run time includes parsing and preprocessing: they decide it too
        key = quick_key(key, mode, body)

    def model_input(decode_pool: bool) -> np.ndarray:
        return prepared_input_for(served, parse_body(body, settings), mode, settings, decode_pool).array

    if not body.heavy:
        light = lambda: work(model_input(False))  # noqa: E731
        try:
            return await (limiter.run(light, gone=request.is_disconnected) if limiter is not None else executors.quick(key, light))
        except NeedsDecodePool:  # JSON with a big image file in it
            pass
        except Busy:  # no slot: a malformed body still gets its own 4xx, which says what to fix
            await executors.run(False, model_input)
            raise
    decoded = await executors.run(True, model_input)
    return await (limiter.run(work, decoded, gone=request.is_disconnected) if limiter is not None else run_in_threadpool(work, decoded))


IMAGE_BODY = {
    "requestBody": {
        "required": True,
        "description": "One image: a multipart file field `image`, JSON `image` (base64 or data URL), or JSON `pixels`.",
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {"image": {"type": "string", "format": "binary"}},
                }
            },
            "application/json": {
                "schema": {
                    "oneOf": [
                        {
                            "type": "object",
                            "required": ["image"],
                            "properties": {"image": {"type": "string", "description": "base64 or data: URL"}},
                        },
                        {
                            "type": "object",
                            "required": ["pixels"],
                            "properties": {
                                "pixels": {
                                    "type": "array",
                                    "description": "[H][W] or [H][W][C], values in [0, 1], at the model's input size",
                                    "items": {"type": "array"},
                                }
                            },
                        },
                    ]
                }
            },
        },
    }
}

ERROR_RESPONSES = {
    status: {"model": ErrorResponse, "description": text}
    for status, text in {
        404: "Unknown model or layer",
        413: "Upload over the byte or pixel limit",
        415: "Not a decodable PNG, JPEG, WebP, GIF or BMP image",
        422: "Invalid option or pixel array",
        503: "Busy: too many long jobs at once; retry after the Retry-After header's seconds",
    }.items()
}

STREAM_RESPONSES = {
    **ERROR_RESPONSES,
    200: {
        "description": "The result as JSON; with stream=true, Server-Sent Events: progress, then result or error",
        "content": {
            "text/event-stream": {
                "schema": {"description": "events whose data is JSON: progress {done, total}, then the result or {status, detail}"}
            }
        },
    },
}
