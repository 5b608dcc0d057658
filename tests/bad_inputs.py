"""Malformed bodies shared by the error tests of every analysis endpoint."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
from PIL import Image


def png_bomb(width: int = 40000, height: int = 40000) -> bytes:
    """A valid PNG header declaring width x height pixels, with a tiny (incomplete) body."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit grayscale
    rows = zlib.compress(b"\x00" * (width // 8 + 1) * 64, 9)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", rows) + chunk(b"IEND", b"")


def encoded(fmt: str, mode: str = "RGB") -> bytes:
    image = Image.fromarray(np.random.default_rng(0).integers(0, 255, (64, 64, 3), dtype=np.uint8)).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28"><circle cx="14" cy="14" r="9"/></svg>'


def file_part(data: bytes, name: str = "image", filename: str = "f.png") -> dict:
    return {"files": {name: (filename, data, "application/octet-stream")}}


def raw(data: bytes, content_type: str) -> dict:
    return {"content": data, "headers": {"content-type": content_type}}


def bad_bodies(height: int = 28, width: int = 28) -> list[tuple[str, dict, int]]:
    """(case, request kwargs, expected status) for a model taking height x width input."""
    good = np.zeros((height, width)).tolist()
    cases = [
        ("empty body", raw(b"", "application/octet-stream"), 415),
        ("empty json content type", raw(b"", "application/json"), 415),
        ("random bytes", file_part(np.random.default_rng(1).bytes(2000)), 415),
        ("svg", file_part(SVG, filename="a.svg"), 415),
        ("text/plain", raw(b"hello", "text/plain"), 415),
        ("empty file", file_part(b""), 415),
        ("multipart without image field", file_part(encoded("PNG"), name="picture"), 422),
        ("malformed multipart", raw(b"--xx\r\nnot a part", "multipart/form-data; boundary=xx"), 415),
        ("malformed json", raw(b'{"pixels": [[0, 1]', "application/json"), 422),
        ("json array", {"json": [1, 2, 3]}, 422),
        ("json neither field", {"json": {"picture": "x"}}, 422),
        ("json both fields", {"json": {"image": "", "pixels": good}}, 422),
        ("image not a string", {"json": {"image": 12}}, 422),
        ("bad base64", {"json": {"image": "%%%not base64%%%"}}, 415),
        ("data url not base64", {"json": {"image": "data:image/png,abc"}}, 415),
        ("base64 of svg", {"json": {"image": __import__("base64").b64encode(SVG).decode()}}, 415),
        ("pixels wrong height", {"json": {"pixels": np.zeros((height - 1, width)).tolist()}}, 422),
        ("pixels 4 channels", {"json": {"pixels": np.zeros((height, width, 4)).tolist()}}, 422),
        ("pixels 1-d", {"json": {"pixels": [0.0] * 10}}, 422),
        ("pixels ragged", {"json": {"pixels": [[0.0, 0.0], [0.0]]}}, 422),
        ("pixels strings", {"json": {"pixels": [["a"] * width] * height}}, 422),
        ("pixels empty", {"json": {"pixels": []}}, 422),
        ("pixels above 1", {"json": {"pixels": (np.ones((height, width)) * 2).tolist()}}, 422),
        ("pixels negative", {"json": {"pixels": (-np.ones((height, width))).tolist()}}, 422),
        ("pixels NaN", raw(b'{"pixels": [[NaN]]}', "application/json"), 422),
        ("pixels Infinity", raw(b'{"pixels": [[Infinity]]}', "application/json"), 422),
        ("png bomb", file_part(png_bomb()), 413),
        ("png bomb base64", {"json": {"image": __import__("base64").b64encode(png_bomb()).decode()}}, 413),
    ]
    for fmt in ("PNG", "JPEG", "WEBP", "GIF", "BMP"):
        data = encoded(fmt, "P" if fmt == "GIF" else "RGB")
        cases.append((f"truncated {fmt}", file_part(data[: len(data) // 2]), 415))
        cases.append((f"corrupt {fmt}", file_part(data[:20] + bytes(len(data) - 20)), 415))
    return cases
