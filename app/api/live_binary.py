"""The live channel's binary frames: a pen's pixels as bytes instead of JSON numbers, and (asked
for with `?answers=binary`) answers whose arrays are bytes instead of base64 in JSON.

A drawing sent as JSON is 3,136 numbers for the page's 56x56 pad, written out by the browser and
parsed back here on every pen move; as bytes it is 3,136 bytes that need neither. The frame:

    uint32 little-endian N | N bytes of UTF-8 JSON: the message's other fields | the pixels

The JSON object is a text message without `pixels` or `image`, plus `"shape": [H, W]` or
`[H, W, C]` (C = 1 or 3); the pixels are H x W x C bytes in row order, each value / 255. The
result is the same message dict a text frame parses to, so both take one path from here on.

A binary answer has the same layout: its JSON is the answer with each array object's `data`
replaced by `"bytes": [start, length]` into the bytes after the JSON, which begin at a multiple
of 4 from the frame's start (spaces pad the JSON) and hold each array at a multiple of 4, so a
browser reads float16 and float32 arrays in place (`new Uint16Array(buffer, start, n)`), with no
base64 to decode and a fifth fewer bytes to move.
"""

from __future__ import annotations

import json

import numpy as np

from app.encoding import WIRE_DTYPES, TransferDtype, array_payload
from app.errors import InvalidOption

FORMAT = "a binary frame is: uint32 little-endian N, N bytes of JSON (the message with a 'shape'), then H x W x C pixel bytes (see docs/api.md)"


def _refuse(problem: str) -> InvalidOption:
    return InvalidOption(f"Binary frame: {problem}; {FORMAT}.")


def binary_message(data: bytes) -> dict:
    """A binary frame -> the message dict a JSON text frame would give, `pixels` as `[H, W, C]` in [0, 1]."""
    if len(data) < 4:
        raise _refuse(f"{len(data)} bytes is too short for its header length")
    size = int.from_bytes(data[:4], "little")
    if size > len(data) - 4:
        raise _refuse(f"the header length {size:,} is longer than the {len(data) - 4:,} bytes that follow")
    try:
        header = json.loads(data[4 : 4 + size].decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _refuse("the header is not UTF-8 JSON") from None
    if not isinstance(header, dict):
        raise _refuse("the header must be a JSON object")
    if "pixels" in header or "image" in header:
        raise _refuse("the header must not hold 'pixels' or 'image': the pixels are the bytes after it")
    shape = header.pop("shape", None)
    if not (
        isinstance(shape, list)
        and len(shape) in (2, 3)
        and all(isinstance(n, int) and not isinstance(n, bool) and n >= 1 for n in shape)
        and (len(shape) == 2 or shape[2] in (1, 3))
    ):
        raise _refuse(f"'shape' must be [H, W] or [H, W, C] with C = 1 or 3, got {json.dumps(shape)}")
    height, width, channels = (*shape, 1) if len(shape) == 2 else shape
    pixels = data[4 + size :]
    if len(pixels) != height * width * channels:
        raise _refuse(f"'shape' {shape} needs {height * width * channels:,} pixel bytes, the frame has {len(pixels):,}")
    array = np.frombuffer(pixels, np.uint8).reshape(height, width, channels)
    return {**header, "pixels": array.astype(np.float32) / np.float32(255)}


class BinaryArrays:
    """`ArrayOptions` for a binary answer: `encode` keeps each array's bytes and returns its object
    with `"bytes": [start, length]`; `frame` then writes the answer around them."""

    def __init__(self, dtype: TransferDtype) -> None:
        self.dtype = dtype
        self.chunks: list[bytes] = []
        self.size = 0

    def encode(self, values: np.ndarray) -> dict:
        result, payload = array_payload(values, self.dtype)
        data = np.ascontiguousarray(payload).tobytes()
        result["bytes"] = [self.size, len(data)]
        padding = -len(data) % 4
        self.chunks.append(data + bytes(padding))
        self.size += len(data) + padding
        return result

    def frame(self, answer: dict) -> bytes:
        header = json.dumps(answer, separators=(",", ":"), ensure_ascii=False).encode()
        header += b" " * (-(4 + len(header)) % 4)  # the arrays start 4-aligned
        return b"".join([len(header).to_bytes(4, "little"), header, *self.chunks])


def read_binary_answer(data: bytes) -> dict:
    """A binary answer -> the answer with each array object's `bytes` read into `data` (numpy), for
    Python clients and the tests (`app.encoding.decode_array` reads the objects)."""
    size = int.from_bytes(data[:4], "little")
    answer = json.loads(data[4 : 4 + size])
    base = 4 + size

    def read(node):
        if isinstance(node, dict):
            if "bytes" in node and "shape" in node:
                start, length = node.pop("bytes")
                dtype = np.dtype(WIRE_DTYPES[node["dtype"]])
                node["data"] = np.frombuffer(data, dtype, length // dtype.itemsize, base + start).reshape(node["shape"])
            for value in node.values():
                read(value)
        elif isinstance(node, list):
            for value in node:
                read(value)

    read(answer)
    return answer
