"""Request body -> one image array `[H, W, C]` in `[0, 1]`.

The three body forms of the contract (multipart file, JSON base64 / data URL, JSON pixels) end
here as the same thing, in three steps: `read_body` (async: the bytes, size-checked), then
`parse_body` (JSON parsing) and `decode_image` (pixels, reduced to what the model needs), which
are CPU work and run off the event loop. Limits are checked before work is done: the byte limit
before the body is read in full, the pixel limit from the image header before anything is decoded.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import struct
import warnings
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import orjson
from PIL import ExifTags, Image, UnidentifiedImageError
from starlette.datastructures import UploadFile
from starlette.requests import ClientDisconnect, Request

from app.config import Settings
from app.executors import LIGHT_BODY_BYTES, LIGHT_PIXELS, NeedsDecodePool
from app.errors import InvalidOption, PayloadTooLarge, UnsupportedImage, VisualizerError

SUPPORTED_FORMATS = ("PNG", "JPEG", "WEBP", "GIF", "BMP")
_FORMATS_TEXT = "PNG, JPEG, WebP, GIF or BMP"


@dataclass
class ImageInput:
    """What the client sent, before any heavy work: `pixels` as an array, or an image `file` as
    bytes, decoded later by `decode_image` (off the event loop, to the size the model needs)."""

    pixels: np.ndarray | None = None
    file: bytes | None = None

    @property
    def from_file(self) -> bool:
        """Whether `preprocess=auto` treats it as a file (digit or resize) or as pixels (none)."""
        return self.file is not None


@dataclass(frozen=True)
class Body:
    """A request body as received: size-checked and unpacked from multipart, not yet parsed."""

    data: bytes
    is_json: bool  # JSON text with `image` or `pixels`; otherwise an image file

    @property
    def heavy(self) -> bool:
        """Parsed on the decode pool: an image file, or JSON big enough to hold one (base64)."""
        return not self.is_json or len(self.data) > LIGHT_BODY_BYTES


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


def _to_float(image: Image.Image, source_mode: str) -> np.ndarray:
    """Any Pillow mode -> float `[H, W, 1 or 3]` in [0, 1], alpha composited away.

    `source_mode` is the file's own mode (16-bit images are reduced in mode I but keep their scale)."""
    mode = image.mode
    if mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        values = np.asarray(image, dtype=np.float32)
        top = 65535.0 if source_mode.startswith("I;16") or values.max() > 255 else 255.0
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


# What ImageOps.exif_transpose does for each EXIF orientation; applied here after the reduction,
# so the full-size image is never copied.
_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
_STRIP_PIXELS = 1 << 21  # pixels converted at a time while reducing: 8 MB in RGBA


def _reducible_mode(image: Image.Image) -> str:
    """The mode to average blocks in: palettes and bilevel images are expanded first, 16-bit to I."""
    mode = image.mode
    if mode == "1":
        return "L"
    if mode in ("P", "PA"):
        return "RGBA" if mode == "PA" or "transparency" in image.info else "RGB"
    if mode.startswith("I;16"):
        return "I"
    return mode if mode in ("L", "LA", "RGB", "RGBA", "I", "F") else "RGB"


def _reduce(image: Image.Image, factor: int) -> Image.Image:
    """Average `factor` x `factor` blocks (`Image.reduce`), in 8-bit where the file is 8-bit.

    A strip of rows at a time, so the decoded image is the only full-size buffer: the mode
    conversions (palette to RGB, RGBA premultiplied for the average) happen on strips."""
    mode = _reducible_mode(image)
    width, height = image.size
    rows = factor * max(1, _STRIP_PIXELS // (width * factor))
    reduced = Image.new(mode, (-(-width // factor), -(-height // factor)))
    for top in range(0, height, rows):
        strip = image.crop((0, top, width, min(height, top + rows)))
        if strip.mode != mode:
            strip = strip.convert(mode)
        reduced.paste(strip.reduce(factor), (0, top // factor))
    return reduced


ShrinkFactor = Callable[[int, int], int]


def decode_image(data: bytes, settings: Settings, shrink: ShrinkFactor | None = None, decode_pool: bool = True) -> np.ndarray:
    """An image file -> float `[H, W, 1 or 3]` in [0, 1], upright (EXIF), first frame.

    `shrink(width, height)` says by how much the picture may be reduced (an integer factor on
    both sides; it may raise to refuse the size): JPEGs are then decoded at a smaller scale
    (`draft`), other files are box-averaged in their own 8-bit mode before any float conversion.
    So the largest buffer is the decoded file itself, at most `max_image_pixels` x 4 bytes.
    Off the decode pool (`decode_pool=False`), a file over `LIGHT_PIXELS` raises `NeedsDecodePool`."""
    if not data:
        raise UnsupportedImage(f"The image is empty. Send a {_FORMATS_TEXT} file.")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data), formats=SUPPORTED_FORMATS) as image:
                _check_pixels(image.width, image.height, settings)
                if not decode_pool and image.width * image.height > LIGHT_PIXELS:
                    raise NeedsDecodePool()
                factor = shrink(image.width, image.height) if shrink else 1
                image.seek(0)
                if factor > 1 and image.format == "JPEG":
                    image.draft(None, (max(1, image.width // factor), max(1, image.height // factor)))
                    factor = shrink(image.width, image.height)
                image.load()
                orientation = image.getexif().get(ExifTags.Base.Orientation, 1)
                source_mode = image.mode
                picture = _reduce(image, factor) if factor > 1 else image
                if orientation in _UPRIGHT:
                    picture = picture.transpose(_UPRIGHT[orientation])
                return _to_float(picture, source_mode)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise PayloadTooLarge(f"The image declares too many pixels ({exc}). Send a smaller image.") from None
    except (VisualizerError, NeedsDecodePool):
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


async def read_body(request: Request, settings: Settings) -> Body:
    """Every analysis endpoint's body, read and size-checked; parsing and decoding come later."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    # multipart adds boundaries and headers around the file: allow a little room for them.
    data = await _read_limited(request, settings.max_upload_bytes + 64 * 1024)
    if content_type == "multipart/form-data":
        return Body(await _read_multipart(request, data, settings), is_json=False)
    if content_type in ("application/json", "") and data.lstrip()[:1] in (b"{", b"["):
        return Body(data, is_json=True)
    if content_type.startswith("image/") or content_type == "application/octet-stream":
        _check_upload_size(len(data), settings)
        return Body(data, is_json=False)
    if not data:
        raise UnsupportedImage(
            "The request has no body. Send multipart/form-data with a file field 'image', or JSON "
            "{\"image\": \"<base64>\"} or {\"pixels\": [[...]]}."
        )
    raise UnsupportedImage(
        f"Unsupported content type {content_type or '(none)'!r}. Send multipart/form-data with a file field "
        "'image', or application/json with 'image' (base64 or data URL) or 'pixels'."
    )


def parse_body(body: Body, settings: Settings) -> ImageInput:
    """A received body -> pixels or an image file. JSON is parsed here: call it off the event loop."""
    if body.is_json:
        return image_from_payload(parse_json(body.data, settings.max_json_arrays), settings)
    return ImageInput(file=body.data)


def _check_upload_size(size: int, settings: Settings) -> None:
    if size > settings.max_upload_bytes:
        raise PayloadTooLarge(
            f"The image is {size:,} bytes; the limit is {settings.max_upload_bytes:,}. Send a smaller file."
        )


async def _read_multipart(request: Request, body: bytes, settings: Settings) -> bytes:
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
    return data


MAX_JSON_ARRAYS = Settings.__dataclass_fields__["max_json_arrays"].default_factory()


def check_json_arrays(text: bytes | str, limit: int) -> None:
    """Refuse a body of more than `limit` JSON arrays before parsing it: counting '[' takes a few
    ms for 10 MB, parsing millions of one-element arrays holds the global lock for seconds."""
    count = text.count(b"[" if isinstance(text, bytes) else "[")
    if count > limit:
        raise PayloadTooLarge(
            f"The JSON holds {count:,} arrays ('['); the limit is {limit:,} (CONVNET_VIS_MAX_JSON_ARRAYS). "
            "Send pixels as [H][W] or [H][W][C] at the model's input size, or the image as a file."
        )


def parse_json(text: bytes | str, max_arrays: int | None = None):
    """JSON as the API reads it: NaN and Infinity are refused, errors are 422 with a detail.
    More than `max_arrays` arrays (default: the setting's default) is 413, before parsing.

    orjson reads a drawing's 784 numbers in a fifth of the standard parser's time (0.04 vs 0.22 ms)
    and refuses what we refuse; a body it refuses is read again by `json` for a precise message."""
    check_json_arrays(text, MAX_JSON_ARRAYS if max_arrays is None else max_arrays)
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except RecursionError:  # the C parser recurses once per level: 10,000 '[' would crash the request
        raise InvalidOption(
            "The JSON is nested too deeply. Send an object with 'image' or 'pixels' ([H][W] or [H][W][C])."
        ) from None
    except ValueError as exc:
        message = str(exc)
        if "not allowed" in message:
            raise InvalidOption(f"The JSON contains {message.split()[0]}; send finite numbers in [0, 1].") from None
        raise InvalidOption(f"The body is not valid JSON ({message}).") from None


def image_from_payload(payload, settings: Settings) -> ImageInput:
    """An already-parsed JSON object with exactly one of `image` or `pixels` (also the live channel's)."""
    if not isinstance(payload, dict) or ("image" in payload) == ("pixels" in payload):
        raise InvalidOption("The JSON body must be an object with exactly one of 'image' (base64 or data URL) or 'pixels'.")
    if "pixels" in payload:
        return ImageInput(pixels=pixels_to_image(payload["pixels"]))
    if not isinstance(payload["image"], str):
        raise InvalidOption("'image' must be a string: base64 of an image file, or a data: URL.")
    data = decode_data_url(payload["image"])
    _check_upload_size(len(data), settings)
    return ImageInput(file=data)


__all__ = [
    "Body",
    "ImageInput",
    "read_body",
    "parse_body",
    "image_from_payload",
    "parse_json",
    "decode_image",
    "pixels_to_image",
    "SUPPORTED_FORMATS",
]
