"""Image arrays -> model input, for the contract's `preprocess` modes.

Everything here works on float arrays `[H, W, C]` in `[0, 1]` (C = 1 or 3) and knows nothing of
HTTP. `digit` is MNIST's recipe (LeCun et al.) after turning any picture of a digit into bright
ink on black; it lives in `app.digits`, which also says which path a picture took.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

import numpy as np
from PIL import Image

from app.digits import WORK_SIDE, DigitNormalisation, digit_field, normalise, resize_plane, to_gray
from app.errors import InvalidOption

__all__ = ["PreprocessMode", "Prepared", "field_to_input", "prepare", "resize_to", "resolve_mode", "shrink_factor", "digit_field", "to_gray"]


class PreprocessMode(str, Enum):
    auto = "auto"
    digit = "digit"
    resize = "resize"
    none = "none"


def resize_to(image: np.ndarray, height: int, width: int, channels: int) -> np.ndarray:
    if channels == 1:
        planes = [to_gray(image)]
    elif image.shape[-1] == 1:
        planes = [image[..., 0]] * channels
    else:
        planes = [image[..., c] for c in range(min(channels, image.shape[-1]))]
        planes += [planes[-1]] * (channels - len(planes))
    if image.shape[:2] != (height, width):
        planes = [resize_plane(p, (width, height), Image.Resampling.BILINEAR) for p in planes]
    return np.clip(np.stack(planes, axis=-1), 0.0, 1.0).astype(np.float32)


def resolve_mode(mode: PreprocessMode, *, from_file: bool, digits_model: bool) -> PreprocessMode:
    """`auto`: digit for files sent to a digits model, resize for other files, none for pixels."""
    if mode is not PreprocessMode.auto:
        return mode
    if not from_file:
        return PreprocessMode.none
    return PreprocessMode.digit if digits_model else PreprocessMode.resize


def _wrong_size(width: int, height: int, input_shape: tuple[int, int, int]) -> InvalidOption:
    return InvalidOption(
        f"The image is {width}x{height} (width x height) but this model takes "
        f"{input_shape[1]}x{input_shape[0]}; send it at that size or use preprocess=resize or preprocess=digit."
    )


def shrink_factor(mode: PreprocessMode, width: int, height: int, input_shape: tuple[int, int, int]) -> int:
    """By how much a `width` x `height` file may be box-reduced when it is decoded, without changing
    what `prepare` makes of it (the same integer factor on both sides; EXIF rotation comes after,
    so only the two sides matter, not their order).

    - digit: the longer side stays at least `WORK_SIDE` px, the size `app.digits` works at.
    - resize: the shorter side stays at least twice the input's longer side, so the bilinear
      resize that follows still averages several source pixels per output pixel.
    - none: never reduced; a file not at the input size is refused before it is decoded.
    """
    if mode is PreprocessMode.digit:
        return max(1, max(width, height) // WORK_SIDE)
    if mode is PreprocessMode.resize:
        return max(1, min(width, height) // (2 * max(input_shape[:2])))
    if sorted((width, height)) != sorted(input_shape[:2]):
        raise _wrong_size(width, height, input_shape)
    return 1


@dataclass
class Prepared:
    """The model's input, and for `digit` the normalisation that made it (its path and steps)."""

    array: np.ndarray
    mode: PreprocessMode  # the mode used (`auto` resolved)
    digit: DigitNormalisation | None = None
    original_size: tuple[int, int] | None = None  # (height, width) of a file reduced when decoded


def field_to_input(field: np.ndarray, input_shape: tuple[int, int, int], input_range: tuple[float, float]) -> np.ndarray:
    """A 28x28 digit field in [0, 1] -> the model's input (its size, channels and value range)."""
    return _to_input(field[..., None], input_shape, input_range)


def _to_input(image: np.ndarray, input_shape: tuple[int, int, int], input_range: tuple[float, float]) -> np.ndarray:
    """`[h, w, c]` in [0, 1] -> the model's size, channels and value range."""
    height, width, channels = input_shape
    low, high = input_range
    return (resize_to(image, height, width, channels) * (high - low) + low).astype(np.float32)


def prepare(
    image: np.ndarray,
    mode: PreprocessMode,
    input_shape: tuple[int, int, int],
    input_range: tuple[float, float],
    *,
    from_file: bool,
    digits_model: bool,
) -> Prepared:
    """`[H, W, C]` in `[0, 1]` -> the exact array the model sees, in its own input range, with the
    digit normalisation, so a response can say what it did."""
    mode = resolve_mode(mode, from_file=from_file, digits_model=digits_model)
    if mode is PreprocessMode.digit:
        digit = normalise(image)
        return Prepared(field_to_input(digit.field, input_shape, input_range), mode, digit)
    if mode is PreprocessMode.none and image.shape[:2] != input_shape[:2]:
        raise _wrong_size(image.shape[1], image.shape[0], input_shape)
    return Prepared(_to_input(image, input_shape, input_range), mode)
