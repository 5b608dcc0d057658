"""Request body -> one image array `[H, W, C]` in `[0, 1]`.

The three body forms of the contract (multipart file, JSON base64 / data URL, JSON pixels) end
here as the same thing. Limits are checked before work is done: the byte limit before the body is
read in full, the pixel limit from the image header before anything is decoded.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import struct
import warnings
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect, Request

from app.config import Settings
from app.errors import InvalidOption, PayloadTooLarge, UnsupportedImage

SUPPORTED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")
_FORMATS_TEXT = "PNG, JPEG, WebP, GIF or BMP"


@dataclass
class ImageInput:
    """What the client sent, decoded; `from_file` decides what `preprocess=auto` means."""

    image: np.ndarray
    from_file: bool


# ------------------------------------------------------------------------------------ files
def _check_pixels(width: int, height: int, settings: Settings) -> None:
    if width * height > settings.max_image_pixels:
        raise PayloadTooLarge(
            f"The image is {width}x{height} = {width * height:,} pixels; the limit is "
            f"{settings.max_image_pixels:,}. Send a smaller image."
        )


def _background_for(rgba: np.ndarray) -> float:
    """Canvas exports are ink on a transparent page: put the page behind it in the contrasting tone."""
    alpha = rgba[..., 3]
    if alpha.min() >= 1.0:
        return 1.0
    weight = alpha.sum()
    if weight <= 0:
        return 0.0
    luminance = rgba[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
    ink_tone = float((luminance * alpha).sum() / weight)
    return 1.0 if ink_tone < 0.5 else 0.0


def _to_float(image: Image.Image) -> np.ndarray:
    """Any Pillow mode -> float `[H, W, 1 or 3]` in [0, 1], alpha composited away."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float32)
        top = 65535.0 if mode.startswith("I;16") or values.max() > 255 else 255.0
        if mode == "F" and values.max() <= 1.0:
            top = 1.0
        return np.clip(values / top, 0.0, 1.0)[..., None]
    if mode in ("1", "L"):
        return (np.asarray(image.convert("L"), dtype=np.float32) / 255.0)[..., None]
    if mode == "LA" or mode == "PA" or "A" in mode or (mode == "P" and "transparency" in image.info):
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255.0
        background = _background_for(rgba)
        alpha = rgba[..., 3:4]
        rgb = rgba[..., :3] * alpha + background * (1.0 - alpha)
        if mode in ("LA", "La"):
            return rgb[..., :1]
        return rgb
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0


def decode_image(data: bytes, settings: Settings) -> np.ndarray:
    if not data:
        raise UnsupportedImage(f"The image is empty. Send a {_FORMATS_TEXT} file.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=SUPPORTED_FORMATS) as image:
                _check_pixels(image.width, image.height, settings)
                image.seek(0)
                image = ImageOps.exif_transpose(image)
                image.load()
                return _to_float(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PayloadTooLarge(f"The image declares too many pixels ({exc}). Send a smaller image.") from None
    except PayloadTooLarge:
        raise
    except UnidentifiedImageError:
        raise UnsupportedImage(
            f"The body is not a decodable image. Send a {_FORMATS_TEXT} file (SVG and other formats are not supported)."
        ) from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError, struct.error) as exc:
        raise UnsupportedImage(
            f"The image could not be decoded ({type(exc).__name__}: {exc}); it may be truncated or corrupt. "
            f"Send a complete {_FORMATS_TEXT} file."
        ) from None


def decode_data_url(text: str) -> bytes:
    if text.startswith("data:"):
        header, _, text = text.partition(",")
        if ";base64" not in header:
            raise UnsupportedImage("The data URL is not base64-encoded; use data:image/png;base64,....")
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise UnsupportedImage("The 'image' field is not valid base64 or a base64 data: URL.") from None


# ----------------------------------------------------------------------------------- pixels
def pixels_to_image(pixels) -> np.ndarray:
    try:
        array = np.asarray(pixels, dtype=np.float32)
    except (ValueError, TypeError):
        raise InvalidOption(
            "'pixels' must be a rectangular nested list of numbers, [H][W] or [H][W][C]."
        ) from None
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 3) or min(array.shape) == 0:
        raise InvalidOption(
            f"'pixels' has shape {list(array.shape)}; send [H][W] or [H][W][C] with C = 1 or 3."
        )
    if not np.isfinite(array).all():
        raise InvalidOption("'pixels' contains NaN or Infinity; send numbers in [0, 1].")
    if array.min() < 0.0 or array.max() > 1.0:
        raise InvalidOption(
            f"'pixels' values must be in [0, 1]; got {float(array.min()):g} to {float(array.max()):g}."
        )
    return array


# ------------------------------------------------------------------------------------- body
async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"The body is {int(declared):,} bytes; the limit is {limit:,}. Send a smaller file.")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"The body is over the limit of {limit:,} bytes. Send a smaller file.")
            chunks.append(chunk)
    except ClientDisconnect:
        raise UnsupportedImage("The client disconnected before the body was complete.") from None
    return b"".join(chunks)


def _reject_constant(value: str):
    raise ValueError(f"{value} is not allowed")


async def read_image_input(request: Request, settings: Settings) -> ImageInput:
    """The one entry point for every analysis endpoint's body."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    # multipart adds boundaries and headers around the file: allow a little room for them.
    body = await _read_limited(request, settings.max_upload_bytes + 64 * 1024)
    if content_type == "multipart/form-data":
        return await _read_multipart(request, body, settings)
    if content_type in ("application/json", "") and body.lstrip()[:1] in (b"{", b"["):
        return read_json_body(body, settings)
    if content_type.startswith("image/") or content_type == "application/octet-stream":
        _check_upload_size(len(body), settings)
        return ImageInput(decode_image(body, settings), from_file=True)
    if not body:
        raise UnsupportedImage(
            "The request has no body. Send multipart/form-data with a file field 'image', or JSON "
            "{\"image\": \"<base64>\"} or {\"pixels\": [[...]]}."
        )
    raise UnsupportedImage(
        f"Unsupported content type {content_type or '(none)'!r}. Send multipart/form-data with a file field "
        "'image', or application/json with 'image' (base64 or data URL) or 'pixels'."
    )


def _check_upload_size(size: int, settings: Settings) -> None:
    if size > settings.max_upload_bytes:
        raise PayloadTooLarge(
            f"The image is {size:,} bytes; the limit is {settings.max_upload_bytes:,}. Send a smaller file."
        )


async def _read_multipart(request: Request, body: bytes, settings: Settings) -> ImageInput:
    # Re-parse from the bytes already read (and size-checked): starlette reads the stream once.
    async def receive():
        return {"type": "http.request", "body": body, "more_body": False}

    replay = Request(request.scope, receive)
    try:
        form = await replay.form(max_files=1, max_fields=20)
    except Exception as exc:  # malformed multipart of any kind is the client's error
        raise UnsupportedImage(f"The multipart body could not be parsed ({exc}).") from None
    try:
        upload = form.get("image")
        if not isinstance(upload, UploadFile):
            raise InvalidOption("The multipart body has no file field named 'image'. Send the file as 'image'.")
        data = await upload.read()
    finally:
        await form.close()
    _check_upload_size(len(data), settings)
    return ImageInput(decode_image(data, settings), from_file=True)


def parse_json(text: bytes | str):
    """JSON as the API reads it: NaN and Infinity are refused, errors are 422 with a detail."""
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except ValueError as exc:
        message = str(exc)
        if "not allowed" in message:
            raise InvalidOption(f"The JSON contains {message.split()[0]}; send finite numbers in [0, 1].") from None
        raise InvalidOption(f"The body is not valid JSON ({message}).") from None


def read_json_body(body: bytes | str, settings: Settings) -> ImageInput:
    """The JSON body forms (`image` or `pixels`)."""
    return image_from_payload(parse_json(body), settings)


def image_from_payload(payload, settings: Settings) -> ImageInput:
    """An already-parsed JSON object with exactly one of `image` or `pixels` (also the live channel's)."""
    if not isinstance(payload, dict) or ("image" in payload) == ("pixels" in payload):
        raise InvalidOption("The JSON body must be an object with exactly one of 'image' (base64 or data URL) or 'pixels'.")
    if "pixels" in payload:
        return ImageInput(pixels_to_image(payload["pixels"]), from_file=False)
    if not isinstance(payload["image"], str):
        raise InvalidOption("'image' must be a string: base64 of an image file, or a data: URL.")
    data = decode_data_url(payload["image"])
    _check_upload_size(len(data), settings)
    return ImageInput(decode_image(data, settings), from_file=True)


__all__ = ["ImageInput", "read_image_input", "read_json_body", "image_from_payload", "parse_json", "decode_image", "pixels_to_image", "SUPPORTED_FORMATS"]
