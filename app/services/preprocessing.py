"""The response's `preprocessing`: which path `digit` took, and with `explain_preprocessing=true`
its steps as small images, so a student sees how MNIST was made and a user sees why an upload
failed.

Steps, in order (`mnist_like` pictures have only the last):
`ink` (bright ink on black), `threshold` (the digit's pixels above Otsu's threshold, specks and
rulings gone), `crop` (the ink map with the crop box), `box` (the digit scaled so its longer
side is 20 px) and `field` (the 28x28 field, centre of mass at the centre). Each is a PNG data
URL and an array; the first three are reduced to at most `STEP_SIDE` px a side, the last two are
exact: `field` is, value for value, what the model is given before its input range is applied.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from app.digits import BOX, FIELD, MNIST_LIKE, DigitNormalisation, resize_plane
from app.encoding import ArrayOptions, png_data_url

STEP_SIDE = 112  # the page shows the steps at about this size
_BOX_COLOUR = (247, 179, 43)  # the page's accent


def preprocessing_payload(
    mode: str,
    digit: DigitNormalisation | None,
    arrays: ArrayOptions,
    *,
    steps: bool,
    original_size: tuple[int, int] | None = None,
) -> dict:
    """`{"mode", ...}`: for `digit`, its path and measurements, and the steps when asked for."""
    if digit is None:
        return {"mode": mode}
    payload = {"mode": mode, **digit.summary(original_size)}
    if steps:
        payload["steps"] = [
            {"name": name, "title": title, "png": png_data_url(image), "array": arrays.encode(values)}
            for name, title, values, image in step_images(digit, original_size)
        ]
    return payload


def step_images(
    digit: DigitNormalisation, original_size: tuple[int, int] | None = None
) -> list[tuple[str, str, np.ndarray, Image.Image]]:
    """(name, title, array, picture) for each step; sizes in titles are the uploaded picture's."""
    field = ("field", _field_title(digit), digit.field, grey_image(digit.field))
    if digit.path == MNIST_LIKE:
        return [field]
    made = digit.digit
    ink = _reduced(digit.ink)
    steps = [("ink", _ink_title(digit), ink, grey_image(ink))]
    if made is None or made.crop_box is None:
        return steps + [field]
    mask = _reduced(digit.mask.astype(np.float32))
    steps.append(("threshold", f"above the threshold {digit.threshold:.2f} (Otsu), specks dropped", mask, grey_image(mask)))
    top, left, bottom, right = made.crop_box
    crop = _reduced(digit.ink[top:bottom, left:right])
    box = digit.crop_box(original_size)
    steps.append(("crop", f"cropped to the ink: {box['width']}x{box['height']} px", crop, _boxed(digit.ink, made.crop_box)))
    thickened = f", pen lines thickened by {made.thickened} px" if made.thickened else ""
    height, width = made.box.shape
    steps.append(("box", f"scaled to {width}x{height}: the longer side {BOX} px{thickened}", made.box, grey_image(made.box)))
    return steps + [field]


def _ink_title(digit: DigitNormalisation) -> str:
    rulings = f", {digit.inks.rulings} ruling line(s) painted out" if digit.inks.rulings else ""
    return f"ink map ({digit.path.replace('_', ' ')}){rulings}"


def _field_title(digit: DigitNormalisation) -> str:
    if digit.path == MNIST_LIKE:
        return f"already a {FIELD}x{FIELD} MNIST field: used as it is"
    if digit.digit is None or digit.digit.crop_box is None:
        return "no ink found: a blank field"
    dy, dx = digit.digit.shift
    return f"in a {FIELD}x{FIELD} field, centre of mass at the centre (moved {dx:+.1f}, {dy:+.1f} px)"


def _reduced(values: np.ndarray) -> np.ndarray:
    """At most STEP_SIDE px a side, by area averaging (never enlarged)."""
    height, width = values.shape
    scale = min(1.0, STEP_SIDE / max(height, width))
    if scale >= 1.0:
        return values.astype(np.float32)
    return resize_plane(values, (max(1, round(width * scale)), max(1, round(height * scale))))


def grey_image(values: np.ndarray) -> Image.Image:
    return Image.fromarray((np.clip(values, 0.0, 1.0) * 255).round().astype(np.uint8), "L")


def _boxed(ink: np.ndarray, crop_box: tuple[int, int, int, int]) -> Image.Image:
    """The (reduced) ink map in grey with the crop box outlined."""
    reduced = _reduced(ink)
    sy, sx = reduced.shape[0] / ink.shape[0], reduced.shape[1] / ink.shape[1]
    picture = grey_image(reduced).convert("RGB")
    top, left, bottom, right = crop_box
    outline = [left * sx, top * sy, max(left * sx, right * sx - 1), max(top * sy, bottom * sy - 1)]
    ImageDraw.Draw(picture).rectangle(outline, outline=_BOX_COLOUR)
    return picture
