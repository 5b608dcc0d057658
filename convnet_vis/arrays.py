"""Answers -> numpy arrays and PIL images, without JSON lists (docs/api.md, "Arrays").

The server sends every array as `{"shape", "dtype", "data": base64}` (plus `scale`/`offset` for
uint8) and pictures as `data:image/png;base64,...` URLs; the live channel's binary answers put
`"bytes": [start, length]` in place of `data`. These functions turn a whole answer into the same
structure with arrays and images in place, so callers never decode by hand.
"""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import numpy as np

__all__ = ["decode", "decode_array", "decode_binary_frame"]

_DTYPES = {"float32": "<f4", "float16": "<f2", "uint8": "u1"}
_PNG = "data:image/png;base64,"


def _is_array(obj: Any) -> bool:
    return isinstance(obj, dict) and "shape" in obj and "dtype" in obj and ("data" in obj or "bytes" in obj)


def decode_array(obj: dict, payload: bytes | memoryview | None = None) -> np.ndarray:
    """One array object -> float32 ndarray (uint8 transfers scaled back to their values)."""
    if "bytes" in obj:
        start, length = obj["bytes"]
        raw = payload[start:start + length]
    elif isinstance(obj["data"], str):
        raw = base64.b64decode(obj["data"])
    else:  # encoding=list
        return _scaled(np.asarray(obj["data"], dtype=np.float32).reshape(obj["shape"]), obj)
    values = np.frombuffer(raw, _DTYPES[obj["dtype"]]).reshape(obj["shape"]).astype(np.float32)
    return _scaled(values, obj)


def _scaled(values: np.ndarray, obj: dict) -> np.ndarray:
    if obj["dtype"] == "uint8" and "scale" in obj:
        return values * np.float32(obj["scale"]) + np.float32(obj["offset"])
    return values


def decode(obj: Any, payload: bytes | memoryview | None = None) -> Any:
    """A whole answer: arrays -> ndarray, PNG data URLs -> PIL images, the rest unchanged."""
    if _is_array(obj):
        return decode_array(obj, payload)
    if isinstance(obj, dict):
        return {key: decode(value, payload) for key, value in obj.items()}
    if isinstance(obj, list):
        return [decode(value, payload) for value in obj]
    if isinstance(obj, str) and obj.startswith(_PNG):
        from PIL import Image

        image = Image.open(io.BytesIO(base64.b64decode(obj[len(_PNG):])))
        image.load()
        return image
    return obj


def decode_binary_frame(frame: bytes) -> dict:
    """A live binary answer (`uint32 N | N bytes of JSON | arrays`) -> the decoded answer."""
    size = int.from_bytes(frame[:4], "little")
    header = json.loads(frame[4:4 + size])
    return decode(header, memoryview(frame)[4 + size:])

