"""`POST /api/models/{id}/read`: a row of handwritten digits (a house number, a year) -> the number."""

from __future__ import annotations

import numpy as np
from fastapi import APIRouter, Request

from app.api.deps import ERROR_RESPONSES, IMAGE_BODY, ArraysDep, ExecutorsDep, ModelDep, SettingsDep, received_image, run_on_body
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

    def shrink(width: int, height: int) -> int:  # the longer side stays at least READ_SIDE
        return max(1, max(width, height) // READ_SIDE)

    def work(received, decode_pool: bool) -> dict:
        image, original_size = received_image(received, settings, shrink, decode_pool)
        return reading.read(served, np.asarray(image, np.float32), arrays, original_size)

    return await run_on_body(request, settings, executors, work)
