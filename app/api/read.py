"""`POST /api/models/{id}/read`: a row of handwritten digits (a house number, a year) -> the number."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Request

from app.api.deps import ERROR_RESPONSES, IMAGE_BODY, ArraysDep, ExecutorsDep, ModelDep, SettingsDep
from app.config import Settings
from app.executors import LIGHT_BODY_BYTES
from app.inputs import ImageInput, decode_image, parse_body, read_body
from app.reading import READ_SIDE
from app.schemas import ReadResponse
from app.services import reading

router = APIRouter(prefix="/api/models/{model_id}", tags=["analysis"])

READ_BODY = {
    "requestBody": {
        **IMAGE_BODY["requestBody"],
        "description": "One picture of a row of digits: a multipart file field `image`, JSON `image` "
        "(base64 or data URL), or JSON `pixels` ([H][W] or [H][W][C] in [0, 1], any size).",
    }
}


@router.post("/read", response_model=ReadResponse, responses=ERROR_RESPONSES, openapi_extra=READ_BODY)
async def read_number(
    request: Request, served: ModelDep, settings: SettingsDep, executors: ExecutorsDep, arrays: ArraysDep
) -> dict:
    """Finds each digit (connected components, broken strokes merged, touching digits split),
    reads each as one uploaded digit is read, and returns the string left to right."""
    reading.require_digits_model(served)
    body = await read_body(request, settings)
    heavy = not body.is_json or len(body.data) > LIGHT_BODY_BYTES
    return await executors.run(heavy, lambda decode_pool: _read(served, parse_body(body, settings), settings, arrays, decode_pool))


def _read(served, received: ImageInput, settings: Settings, arrays, decode_pool: bool) -> dict:
    original_size = None
    if received.file is None:
        image = received.pixels
    else:

        def shrink(width: int, height: int) -> int:
            nonlocal original_size
            original_size = original_size or (height, width)
            return max(1, max(width, height) // READ_SIDE)

        image = decode_image(received.file, settings, shrink, decode_pool)
    if original_size == tuple(image.shape[:2]):
        original_size = None
    return reading.read(served, np.asarray(image, np.float32), arrays, original_size)
