"""Image arrays -> model input, for the contract's `preprocess` modes.

Everything here works on float arrays `[H, W, C]` in `[0, 1]` (C = 1 or 3) and knows nothing of
HTTP. `digit` reproduces how MNIST was made (LeCun et al.): ink bright on black, cropped to its
bounding box, scaled so the longer side is 20 px with the aspect ratio kept, anti-aliased, and
placed in a 28x28 field so that its centre of mass is at the centre. Photos of paper need more
than that: light background, uneven lighting and thin pen strokes, handled first.
"""

from __future__ import annotations

from enum import Enum

import numpy as np
from PIL import Image
from scipy import ndimage

from app.errors import InvalidOption

DIGIT_FIELD = 28
DIGIT_BOX = 20
# MNIST strokes are about 2-3 px wide in the 20 px box; thin pen lines are thickened to this.
DIGIT_STROKE = 2.2
_WORK_SIDE = 400  # photos are reduced to this before the per-pixel work


class PreprocessMode(str, Enum):
    auto = "auto"
    digit = "digit"
    resize = "resize"
    none = "none"


def to_gray(image: np.ndarray) -> np.ndarray:
    if image.shape[-1] == 1:
        return image[..., 0]
    return image[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def _resize(gray: np.ndarray, size: tuple[int, int], resample=Image.Resampling.BOX) -> np.ndarray:
    """Float resize; `size` is (width, height) like Pillow."""
    return np.asarray(Image.fromarray(gray.astype(np.float32), mode="F").resize(size, resample), dtype=np.float32)


def _otsu(values: np.ndarray) -> float:
    histogram, edges = np.histogram(values, bins=64, range=(0.0, 1.0))
    weights = histogram.astype(np.float64)
    centres = (edges[:-1] + edges[1:]) / 2
    w0 = np.cumsum(weights)
    w1 = w0[-1] - w0
    m0 = np.cumsum(weights * centres)
    mean0 = m0 / np.maximum(w0, 1e-12)
    mean1 = (m0[-1] - m0) / np.maximum(w1, 1e-12)
    between = w0 * w1 * (mean0 - mean1) ** 2
    return float(centres[int(np.argmax(between))])


def _ink_map(gray: np.ndarray) -> np.ndarray:
    """Bright ink on a black background, whatever the polarity and lighting of the source."""
    height, width = gray.shape
    scale = min(1.0, _WORK_SIDE / max(height, width))
    if scale < 1.0:
        gray = _resize(gray, (max(1, round(width * scale)), max(1, round(height * scale))))
    border = np.concatenate([gray[0], gray[-1], gray[:, 0], gray[:, -1]])
    size = max(3, (min(gray.shape) // 3) | 1)  # wider than any stroke
    if np.median(border) > 0.5:
        # Dark ink on paper: the paper's brightness is what a closing leaves, and ink is the
        # fraction of that light it absorbs, which a shadow across the page does not change.
        paper = ndimage.uniform_filter(ndimage.grey_closing(gray, size=size), size=size // 4 + 1, mode="nearest")
        ink = np.clip(1.0 - gray / np.maximum(paper, 1e-3), 0.0, 1.0)
    else:
        # Bright ink on a dark ground (MNIST, screenshots): remove the ground level by an opening.
        ground = ndimage.uniform_filter(ndimage.grey_opening(gray, size=size), size=size // 4 + 1, mode="nearest")
        ink = np.clip(gray - ground, 0.0, None)
    # Sensor and JPEG noise on the page: most pixels are page, so its spread is robust to measure.
    median = float(np.median(ink))
    noise = median + 4.0 * 1.4826 * float(np.median(np.abs(ink - median)))
    return np.clip(ink - noise, 0.0, None)


def _stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width ~ 2 * area / perimeter for long thin strokes."""
    area = mask.sum()
    if area == 0:
        return 0.0
    padded = np.pad(mask, 1)
    inner = padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    perimeter = max(1, int((mask & ~inner).sum()))
    return 2.0 * float(area) / perimeter


def digit_field(image: np.ndarray) -> np.ndarray:
    """Any picture of one digit -> a 28x28 MNIST-like field in [0, 1]."""
    ink = _ink_map(to_gray(image))
    peak = float(ink.max())
    if peak < 0.05:  # a blank page or an empty canvas: the model sees what MNIST's blank would be
        return np.zeros((DIGIT_FIELD, DIGIT_FIELD), np.float32)
    ink = ink / peak
    threshold = max(0.15, _otsu(ink[ink > 0.02]) if (ink > 0.02).any() else 0.15)
    mask = ink > threshold
    # Drop specks: keep the rows and columns that carry a real share of the ink.
    rows = np.flatnonzero(mask.sum(axis=1) >= max(1, 0.01 * mask.sum() ** 0.5))
    cols = np.flatnonzero(mask.sum(axis=0) >= max(1, 0.01 * mask.sum() ** 0.5))
    if rows.size == 0 or cols.size == 0:
        return np.zeros((DIGIT_FIELD, DIGIT_FIELD), np.float32)
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    low = threshold / 2
    ink = np.clip((ink - low) / max(1e-6, np.percentile(ink[mask], 90) - low), 0.0, 1.0)
    crop, crop_mask = ink[top:bottom, left:right], mask[top:bottom, left:right]

    height, width = crop.shape
    factor = DIGIT_BOX / max(height, width)
    # Thicken pen lines that would vanish when reduced (MaxFilter = grey dilation).
    width_in_box = _stroke_width(crop_mask) * factor
    if width_in_box < DIGIT_STROKE:
        radius = int(round((DIGIT_STROKE - width_in_box) / factor / 2))  # dilation adds 2 * radius
        if radius >= 1:
            crop = ndimage.grey_dilation(crop, footprint=_disk(radius))
    box_size = (max(1, round(width * factor)), max(1, round(height * factor)))
    digit = np.clip(_resize(crop, box_size, Image.Resampling.LANCZOS), 0.0, 1.0)
    digit = np.clip(digit / max(1e-6, digit.max()), 0.0, 1.0)

    field = np.zeros((DIGIT_FIELD, DIGIT_FIELD), np.float32)
    top, left = (DIGIT_FIELD - digit.shape[0]) // 2, (DIGIT_FIELD - digit.shape[1]) // 2
    field[top : top + digit.shape[0], left : left + digit.shape[1]] = digit
    centre_y, centre_x = ndimage.center_of_mass(field)
    shift = (DIGIT_FIELD / 2 - centre_y, DIGIT_FIELD / 2 - centre_x)  # MNIST: mass at index 14.0
    field = np.clip(ndimage.shift(field, shift, order=1, mode="constant"), 0.0, None)
    return (field / max(float(field.max()), 1e-6)).astype(np.float32)  # MNIST strokes peak at 255


def _disk(radius: int) -> np.ndarray:
    ys, xs = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    return xs * xs + ys * ys <= radius * radius


def resize_to(image: np.ndarray, height: int, width: int, channels: int) -> np.ndarray:
    if channels == 1:
        planes = [to_gray(image)]
    elif image.shape[-1] == 1:
        planes = [image[..., 0]] * channels
    else:
        planes = [image[..., c] for c in range(min(channels, image.shape[-1]))]
        planes += [planes[-1]] * (channels - len(planes))
    if image.shape[:2] != (height, width):
        planes = [_resize(p, (width, height), Image.Resampling.BILINEAR) for p in planes]
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

    - digit: the longer side stays at least `_WORK_SIDE` px, the size `_ink_map` works at.
    - resize: the shorter side stays at least twice the input's longer side, so the bilinear
      resize that follows still averages several source pixels per output pixel.
    - none: never reduced; a file not at the input size is refused before it is decoded.
    """
    if mode is PreprocessMode.digit:
        return max(1, max(width, height) // _WORK_SIDE)
    if mode is PreprocessMode.resize:
        return max(1, min(width, height) // (2 * max(input_shape[:2])))
    if sorted((width, height)) != sorted(input_shape[:2]):
        raise _wrong_size(width, height, input_shape)
    return 1


def prepare(
    image: np.ndarray,
    mode: PreprocessMode,
    input_shape: tuple[int, int, int],
    input_range: tuple[float, float],
    *,
    from_file: bool,
    digits_model: bool,
) -> np.ndarray:
    """`[H, W, C]` in `[0, 1]` -> the exact array the model sees, in its own input range."""
    height, width, channels = input_shape
    mode = resolve_mode(mode, from_file=from_file, digits_model=digits_model)
    if mode is PreprocessMode.digit:
        field = digit_field(image)[..., None]
        prepared = resize_to(field, height, width, channels)
    elif mode is PreprocessMode.resize:
        prepared = resize_to(image, height, width, channels)
    else:
        if image.shape[:2] != (height, width):
            raise _wrong_size(image.shape[1], image.shape[0], input_shape)
        prepared = resize_to(image, height, width, channels)
    low, high = input_range
    return (prepared * (high - low) + low).astype(np.float32)
