"""One picture of a handwritten digit -> the 28x28 field an MNIST model expects, with its steps.

How MNIST was made (LeCun, Bottou, Bengio & Haffner 1998; LeCun, Cortes & Burges, "The MNIST
database of handwritten digits"): NIST's black-and-white digits were scaled to fit a 20x20 box
keeping their aspect ratio, which anti-aliasing turned into grey levels, then placed in a 28x28
field so that their centre of mass is at the centre. `normalise` repeats those steps on any
picture of a digit once it is an *ink map* (bright ink on black, the background at 0). How to get
the ink map depends on the picture and is decided from its statistics; the decision is the `path`:

- `mnist_like`: already a 28x28 field of bright ink on black, about 20 px tall, centred by mass:
  used exactly as it is.
- `flat_background`: one background colour (scans, screenshots, tight crops, small images, canvas
  exports): ink is each pixel's colour distance from the background colour, so the polarity and
  the colour of the ink do not matter.
- `uneven_background`: a background whose brightness drifts across the picture (a phone photo of
  paper under a lamp): the background is estimated locally by a grey closing (an opening, for a
  dark ground) wider than any stroke, and ink on paper is the fraction of the light it absorbs,
  `1 - I / paper`, which a shadow across the page does not change. Not when the closing's window
  (a third of the picture) is under `WINDOW_STROKES` strokes wide: strokes that wide (a small scan
  enlarged, whose strokes are an eighth of the picture or more) are not removed by the closing,
  whose drift is then the ink's, not the lighting's. Nor when `EXACT_GROUND` of the picture or
  more has one exact grey level: lighting that drifts leaves no such plateau, and a camera's noise
  rules it out (faint strokes of a clean scan made the closing see a drift). Either way the picture
  is taken as flat, and the reason says which.

Then, on both: the page's noise floor is removed; ruling lines (lined or squared paper) are
subtracted; the ink is thresholded (Otsu 1979); specks are dropped; the rest is cropped to its
bounding box; pen lines too thin for MNIST are thickened; and MNIST's own steps follow.
`app.reading` uses the same functions on each digit of a number.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage

FIELD = 28  # MNIST's field
BOX = 20  # ... and the box its digits were scaled into
STROKE = 2.2  # MNIST strokes are about 2-3 px wide in the 20 px box; thinner pen lines are thickened to this
WORK_SIDE = 400  # pictures are reduced to this longer side before the per-pixel work
SMALL_SIDE = 48  # below this no window is both wider than a stroke and local: the background is one level
UNEVEN = 0.15  # background drift / ink contrast above which lighting counts as uneven (scans < 0.05, lamp-lit photos > 0.3)
# The closing's window over the mean stroke width (2 x ink area / perimeter, which underrates the
# ink where strokes meet) below which the local background cannot be told from the ink. Measured
# (bench/scan_sizes.py, tests/test_scan_sizes.py): sklearn's 8x8 scans enlarged to 48-128 px,
# nearest or bilinear, 1.1-3.8 (those the closing called uneven: at most 2.8); the phone photos of
# tests/digit_images.py 5.2 and more, pen scans, screenshots and lined paper 2.5 and more.
WINDOW_STROKES = 4.0
# The share of pixels at the most common exact grey level from which a picture has no lighting
# drift: the clean 8x8 scans enlarged (nearest) that the closing still called uneven, 48-53%; the
# phone photos of tests/digit_images.py at most 0.4% (sensor noise and JPEG). A photo of paper
# overexposed to pure white over a quarter of it would be taken as flat too.
EXACT_GROUND = 0.25

MNIST_LIKE = "mnist_like"
FLAT = "flat_background"
UNEVEN_PATH = "uneven_background"


# ------------------------------------------------------------------------------- pixels
def to_gray(image: np.ndarray) -> np.ndarray:
    """`[H, W, C]` -> `[H, W]`: ITU-R 601 luma for colour, as Pillow's "L" conversion."""
    if image.shape[-1] == 1:
        return image[..., 0]
    return image[..., :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)


def resize_plane(plane: np.ndarray, size: tuple[int, int], resample=Image.Resampling.BOX) -> np.ndarray:
    """Float resize of one plane; `size` is (width, height) like Pillow."""
    return np.asarray(Image.fromarray(plane.astype(np.float32), mode="F").resize(size, resample), dtype=np.float32)


def otsu(values: np.ndarray) -> float:
    """Otsu's threshold (1979) of values in [0, 1]: the split that maximises the between-class variance."""
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


def _border(plane: np.ndarray) -> np.ndarray:
    return np.concatenate([plane[0], plane[-1], plane[1:-1, 0], plane[1:-1, -1]])


def _disk(radius: int) -> np.ndarray:
    ys, xs = np.ogrid[-radius : radius + 1, -radius : radius + 1]
    return xs * xs + ys * ys <= radius * radius


# ------------------------------------------------------------------------------ ink map
@dataclass
class InkMap:
    """Bright ink on black at the work scale, and how it was made."""

    ink: np.ndarray  # [h, w] >= 0
    scale: float  # work pixels per source pixel
    path: str  # FLAT or UNEVEN_PATH
    light_ground: bool  # dark ink on a light ground (paper), or the reverse
    ground: list[float]  # the background colour, in the picture's channels
    unevenness: float  # background drift / ink contrast
    rulings: int  # ruling lines subtracted
    # why a drift over UNEVEN was not taken as lighting: "" (it was, or there was none),
    # "wide_strokes" or "exact_ground" (see the module docstring); the picture is then flat
    overruled: str = ""


def ink_map(image: np.ndarray, work_side: int = WORK_SIDE) -> InkMap:
    """`[H, W, C]` in [0, 1] -> bright ink on black, whatever the polarity, colours and lighting."""
    clean = _clean_canvas(image, work_side)
    if clean is not None:
        return clean
    height, width = image.shape[:2]
    scale = min(1.0, work_side / max(height, width))
    if scale < 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        image = np.stack([resize_plane(image[..., c], size) for c in range(image.shape[-1])], axis=-1)
    gray = to_gray(image)
    ground_side, light_ground = _ground_side(gray)
    border_colours = np.concatenate([image[0], image[-1], image[1:-1, 0], image[1:-1, -1]])
    on_ground = _border(ground_side)
    ground = np.median(border_colours[on_ground] if on_ground.any() else border_colours, axis=0)

    unevenness, local, overruled = 0.0, None, ""
    if min(gray.shape) >= SMALL_SIDE:
        local, unevenness = _local_ground(gray, ground_side, light_ground, float(to_gray(ground[None, None])[0, 0]))
        if unevenness > UNEVEN:
            overruled = _drift_overruled(gray, ground_side)
    if unevenness > UNEVEN and not overruled:
        path = UNEVEN_PATH
        if light_ground:  # the fraction of the paper's light the ink absorbs
            ink = np.clip(1.0 - gray / np.maximum(local, 1e-3), 0.0, 1.0)
        else:
            ink = np.clip(gray - local, 0.0, None)
    else:
        path = FLAT
        ink = np.sqrt(((image - ground) ** 2).mean(axis=-1))
    ink = _minus_noise_floor(ink, ground_side)
    rulings = 0
    if min(ink.shape) >= SMALL_SIDE:
        ink, rulings = _minus_rulings(ink)
    return InkMap(ink.astype(np.float32), scale, path, light_ground, [float(v) for v in ground], unevenness, rulings, overruled)


def _clean_canvas(image: np.ndarray, work_side: int) -> InkMap | None:
    """`ink_map` of a clean drawing (the page's pad), or None for any other picture.

    The pad sends one grey channel of bright ink on an exact 0 background, not larger than the work
    side: then every step of the general path provably leaves the picture as it is, and proving it
    takes a few whole-array tests instead of the steps themselves (the live channel's preprocessing
    was half its CPU per frame). Each test below states the step it stands for; a picture failing
    any of them takes the general path. tests/test_digits.py checks the two give the same result.
    - border all 0, nothing below 0: Otsu's light side holds no border pixel (its threshold is a
      bin centre > 0), so the ground is dark, its colour is 0 and the flat ink is the grey itself
      (sqrt(x * x) == x for x >= 0 in IEEE arithmetic);
    - more than half the pixels exactly 0: the ground's median and its median absolute deviation
      are both 0, so the noise floor is 0;
    - the local ground's opening (the grey erosion, a minimum filter) is all 0: its spread is 0,
      so the unevenness is 0 and the path is flat;
    - no row or column at least 90% inked: no ruling band can be found (an opening only removes ink).
    """
    height, width = image.shape[:2]
    if image.ndim != 3 or image.shape[-1] != 1 or max(height, width) > work_side:
        return None
    gray = image[..., 0]
    if _border(gray).any() or float(gray.min()) < 0.0:
        return None
    if 2 * int(np.count_nonzero(gray == 0.0)) < gray.size + 2:
        return None
    if min(height, width) >= SMALL_SIDE:
        if ndimage.minimum_filter(gray, size=max(3, (min(height, width) // 3) | 1)).any():
            return None
        inked = gray > 0
        if (inked.mean(axis=1) >= 0.9).any() or (inked.mean(axis=0) >= 0.9).any():
            return None
    ground = np.zeros(1, np.float32)
    ink = np.sqrt(((image - ground) ** 2).mean(axis=-1))
    return InkMap(ink.astype(np.float32), 1.0, FLAT, False, [0.0], 0.0, 0)


def _ground_side(gray: np.ndarray) -> tuple[np.ndarray, bool]:
    """Which pixels show the ground, and whether it is lighter than the ink.

    Otsu splits the pixels in two; the ground is the side most of the border is on (a tight
    crop's strokes touch every edge, but only at a few of its border pixels)."""
    light, share = _split(gray)
    if min(gray.shape) >= SMALL_SIDE and 0.3 <= share <= 0.7:
        # An undecided border: a shadow across the page or a ruling along an edge. Split again
        # after subtracting a wide blur (the lighting), and let the whole picture have a say.
        width = min(gray.shape) // 4 | 1  # two box blurs: a wide bell, in time independent of its width
        blur = ndimage.uniform_filter(ndimage.uniform_filter(gray, width, mode="nearest"), width, mode="nearest")
        light, share = _split(gray - blur)
        share = (share + float(light.mean())) / 2
    light_ground = share > 0.5
    return (light if light_ground else ~light), light_ground


def _split(level: np.ndarray) -> tuple[np.ndarray, float]:
    """Otsu's split of the pixels into light and dark, and the share of the border that is light."""
    low, high = float(level.min()), float(level.max())
    light = (level - low) / max(high - low, 1e-6) > otsu((level - low) / max(high - low, 1e-6))
    return light, float(_border(light).mean())


def _local_ground(gray: np.ndarray, ground_side: np.ndarray, light_ground: bool, ground: float) -> tuple[np.ndarray, float]:
    """The background's level around each pixel, and how much it drifts across the picture.

    A grey closing (opening for a dark ground) wider than any stroke removes the strokes and keeps
    the paper. The drift is measured on background pixels only, where the closing is the paper
    level even next to a blob of ink (before the smoothing that blends it into the blob), as the
    spread (5th to 95th percentile) over the ink contrast."""
    size = _window(gray)
    morphology = ndimage.grey_closing if light_ground else ndimage.grey_opening
    closed = morphology(gray, size=size)
    local = ndimage.uniform_filter(closed, size=size // 4 + 1, mode="nearest")
    away = ndimage.binary_erosion(ground_side, iterations=2)
    if away.sum() < 0.05 * gray.size:
        return local, 0.0
    low, high = np.percentile(closed[away], [5, 95])
    ink_level = float(np.percentile(gray, 1 if light_ground else 99))
    contrast = max(abs(ground - ink_level), 0.05)
    return local, float((high - low) / contrast)


def _drift_overruled(gray: np.ndarray, ground_side: np.ndarray) -> str:
    """Why a drift the closing measured is not the lighting's ("" if it may be)."""
    if _window(gray) < WINDOW_STROKES * _stroke_width(~ground_side):
        return "wide_strokes"
    _, counts = np.unique(gray, return_counts=True)
    if counts.max() >= EXACT_GROUND * gray.size:
        return "exact_ground"
    return ""


def _window(gray: np.ndarray) -> int:
    """The local background's window: a third of the picture (odd), local yet wider than strokes."""
    return max(3, (min(gray.shape) // 3) | 1)


def _minus_noise_floor(ink: np.ndarray, ground_side: np.ndarray) -> np.ndarray:
    """Sensor and JPEG noise, measured where the picture shows its ground (median + 4 robust sigmas)."""
    values = ink[ground_side] if ground_side.sum() >= 16 else ink.ravel()
    median = float(np.median(values))
    floor = median + 4.0 * 1.4826 * float(np.median(np.abs(values - median)))
    return np.clip(ink - floor, 0.0, None)


def _minus_rulings(ink: np.ndarray) -> tuple[np.ndarray, int]:
    """Lined and squared paper, underlines, the frame of a form's box: straight lines across the
    picture are painted out when they reach beyond the digit on both sides.

    A grey opening with a line half the picture long keeps only runs of ink that long. A band of
    such runs at most 4% of the picture thick that crosses at least 90% of it is a ruling; its
    pixels take the mean of the pixels just outside it, so a stroke crossing it stays whole and
    bare paper becomes bare again. The rulings of one direction go only if the remaining ink
    stays clear of both ends of that direction (5% of the picture): the bar of a tightly cropped
    7 crosses its picture too, but the rest of the 7 reaches its end."""
    if not (ink > 0).any():
        return ink, 0
    peak = float(np.percentile(ink[ink > 0], 99))
    horizontal, vertical = _ruling_bands(ink, peak), _ruling_bands(ink.T, peak)
    inked = _paint(_paint(ink, horizontal).T, vertical).T > 0.25 * peak  # faint leftovers do not count
    if horizontal and not _clear_of_ends(inked.sum(axis=0)):
        horizontal = []
    if vertical and not _clear_of_ends(inked.sum(axis=1)):
        vertical = []
    return _paint(_paint(ink, horizontal).T, vertical).T, len(horizontal) + len(vertical)


def _ruling_bands(rows: np.ndarray, peak: float) -> list[tuple[int, int]]:
    """(top, bottom) of each band of rows with a line across at least 90% of the picture."""
    height, length = rows.shape
    present = ndimage.grey_opening(rows, size=(1, max(1, length // 2))) > 0.1 * peak
    labels, _ = ndimage.label(present.mean(axis=1) >= 0.9)
    bands = [(piece[0].start, piece[0].stop) for piece in ndimage.find_objects(labels)]
    return [(top, bottom) for top, bottom in bands if bottom - top <= max(2, round(0.04 * height))]


def _paint(rows: np.ndarray, bands: list[tuple[int, int]]) -> np.ndarray:
    """Each band (and its anti-aliased edges) replaced by the mean of the rows just outside it."""
    if not bands:
        return rows
    height = rows.shape[0]
    painted = rows.copy()
    for top, bottom in bands:
        above, below = top - 2, bottom + 1
        sides = [rows[i] for i in (above, below) if 0 <= i < height]
        painted[max(0, above + 1) : min(height, below)] = np.mean(sides, axis=0) if sides else 0.0
    return painted


def _clear_of_ends(profile: np.ndarray) -> bool:
    """Whether the middle 99% of a profile's mass stays 5% of its length away from both ends."""
    total = float(profile.sum())
    if total <= 0:
        return True
    cumulative = np.cumsum(profile) / total
    first, last = np.searchsorted(cumulative, 0.005), np.searchsorted(cumulative, 0.995)
    return bool(first >= 0.05 * profile.size and last + 1 <= 0.95 * profile.size)


# --------------------------------------------------------------------- the MNIST steps
def ink_threshold(ink: np.ndarray) -> float:
    """Otsu's threshold of the ink (peak 1), at least 0.15 so a faint page never counts as ink."""
    marked = ink[ink > 0.02]
    return max(0.15, otsu(marked) if marked.size else 0.15)


def keep_digit(mask: np.ndarray) -> np.ndarray:
    """Specks dropped: components under a tenth of the largest, unless close to it (a broken stroke)."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3)))
    if count <= 1:
        return mask
    areas = np.bincount(labels.ravel())[1:]
    big = np.flatnonzero(areas >= 0.1 * areas.max()) + 1
    keep = np.isin(labels, big)
    rows, cols = np.flatnonzero(keep.any(axis=1)), np.flatnonzero(keep.any(axis=0))
    reach = 0.2 * max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1
    near = np.zeros(count + 1, bool)
    for index, piece in enumerate(ndimage.find_objects(labels), start=1):
        if piece is None or areas[index - 1] < 0.02 * areas.max():
            continue
        near[index] = (
            piece[0].start >= rows[0] - reach
            and piece[0].stop <= rows[-1] + 1 + reach
            and piece[1].start >= cols[0] - reach
            and piece[1].stop <= cols[-1] + 1 + reach
        )
    return keep | near[labels]


@dataclass
class DigitField:
    """The MNIST steps from an ink map: crop box, scaled box, centred field."""

    crop_box: tuple[int, int, int, int] | None  # (top, left, bottom, right) in the ink map
    box: np.ndarray  # the digit scaled so its longer side is BOX px
    field: np.ndarray  # FIELD x FIELD, in [0, 1]
    thickened: int  # dilation radius in ink-map pixels given to thin pen lines
    shift: tuple[float, float]  # (dy, dx) that put the centre of mass at the centre


def blank_field() -> DigitField:
    return DigitField(None, np.zeros((0, 0), np.float32), np.zeros((FIELD, FIELD), np.float32), 0, (0.0, 0.0))


def digit_from_ink(ink: np.ndarray, mask: np.ndarray) -> DigitField:
    """Ink (peak 1) and the digit's pixels above the threshold -> MNIST's crop, 20 px box and field."""
    if not mask.any():
        return blank_field()
    # The strokes' soft edges are below the threshold: the digit is its pixels above the
    # threshold and the fainter ink touching them, which on a small picture is a real share of it.
    digit = ndimage.binary_dilation(mask, structure=np.ones((3, 3))) & (ink > 0) | mask
    rows, cols = np.flatnonzero(digit.any(axis=1)), np.flatnonzero(digit.any(axis=0))
    top, bottom, left, right = int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1
    strong = max(float(np.percentile(ink[mask], 90)), 1e-6)  # stroke cores saturate, as MNIST's do
    crop = (np.clip(ink / strong, 0.0, 1.0) * digit)[top:bottom, left:right]

    height, width = crop.shape
    factor = BOX / max(height, width)
    # Thicken pen lines that would vanish when reduced (MaxFilter = grey dilation).
    thickened = 0
    width_in_box = _stroke_width(mask[top:bottom, left:right]) * factor
    if width_in_box < STROKE:
        thickened = int(round((STROKE - width_in_box) / factor / 2))  # dilation adds 2 * radius
        if thickened >= 1:
            crop = ndimage.grey_dilation(crop, footprint=_disk(thickened))
    box_size = (max(1, round(width * factor)), max(1, round(height * factor)))
    box = np.clip(resize_plane(crop, box_size, Image.Resampling.LANCZOS), 0.0, 1.0)
    box = np.clip(box / max(1e-6, float(box.max())), 0.0, 1.0)

    field = np.zeros((FIELD, FIELD), np.float32)
    y0, x0 = (FIELD - box.shape[0]) // 2, (FIELD - box.shape[1]) // 2
    field[y0 : y0 + box.shape[0], x0 : x0 + box.shape[1]] = box
    centre_y, centre_x = ndimage.center_of_mass(field)
    shift = (FIELD / 2 - centre_y, FIELD / 2 - centre_x)  # MNIST: mass at index 14.0
    field = np.clip(ndimage.shift(field, shift, order=1, mode="constant"), 0.0, None)
    field = (field / max(float(field.max()), 1e-6)).astype(np.float32)  # MNIST strokes peak at 255
    return DigitField((top, left, bottom, right), box.astype(np.float32), field, thickened, (float(shift[0]), float(shift[1])))


def _stroke_width(mask: np.ndarray) -> float:
    """Mean stroke width ~ 2 * area / perimeter for long thin strokes."""
    area = mask.sum()
    if area == 0:
        return 0.0
    padded = np.pad(mask, 1)
    inner = padded[1:-1, 1:-1] & padded[:-2, 1:-1] & padded[2:, 1:-1] & padded[1:-1, :-2] & padded[1:-1, 2:]
    perimeter = max(1, int((mask & ~inner).sum()))
    return 2.0 * float(area) / perimeter


# ---------------------------------------------------------------------------- one digit
@dataclass
class DigitNormalisation:
    """What `normalise` did, step by step, for the response's `preprocessing` and its step images."""

    path: str
    field: np.ndarray  # FIELD x FIELD in [0, 1]: what the model is given
    source_size: tuple[int, int]  # (height, width) of the picture
    inks: InkMap | None = None
    ink: np.ndarray | None = None  # the ink map scaled to peak 1
    threshold: float | None = None
    mask: np.ndarray | None = None  # the digit's pixels above the threshold, specks dropped
    digit: DigitField | None = None

    def crop_box(self, original_size: tuple[int, int] | None = None) -> dict | None:
        """The crop box in the pixels of the picture as sent (`original_size`, if it was reduced
        when decoded) or as given."""
        if self.digit is None or self.digit.crop_box is None:
            return None
        return box_in_picture(self.digit.crop_box, self.inks.scale, self.source_size, original_size)

    def reason(self) -> str:
        if self.path == MNIST_LIKE:
            return "already a 28x28 MNIST field (bright ink on black, about 20 px tall, centred by mass): used as it is"
        drift = f"{self.inks.unevenness:.0%} of the ink's contrast"
        if self.path == UNEVEN_PATH:
            formula = "1 - I / background" if self.inks.light_ground else "I - background"
            return f"the background's brightness drifts by {drift} across the picture: it is estimated locally, ink = {formula}"
        if min(self.inks.ink.shape) < SMALL_SIDE:
            return "a small picture: one background colour; ink is each pixel's colour distance from it"
        if self.inks.overruled:
            why = {
                "wide_strokes": "the strokes are too wide to tell the lighting from the ink (an enlarged small picture)",
                "exact_ground": "a quarter of the picture or more is one exact grey level (no lighting drifts so)",
            }[self.inks.overruled]
            return f"the background seems to drift by {drift}, but {why}: one background colour; ink is each pixel's colour distance from it"
        return f"one background colour (it drifts by {drift}): ink is each pixel's colour distance from it"

    def summary(self, original_size: tuple[int, int] | None = None) -> dict:
        """The response's `preprocessing`, without the step images."""
        report: dict = {"path": self.path, "reason": self.reason()}
        if self.inks is not None:
            report.update(
                polarity="dark ink on a light ground" if self.inks.light_ground else "light ink on a dark ground",
                background=[round(v, 4) for v in self.inks.ground],
                unevenness=round(self.inks.unevenness, 4),
                rulings_removed=self.inks.rulings,
                threshold=None if self.threshold is None else round(self.threshold, 4),
                crop_box=self.crop_box(original_size),
                blank=self.digit is None or self.digit.crop_box is None,
            )
        if self.digit is not None and self.digit.crop_box is not None:
            report.update(
                box_size=[int(self.digit.box.shape[0]), int(self.digit.box.shape[1])],
                thickened=self.digit.thickened,
                shift=[round(self.digit.shift[0], 3), round(self.digit.shift[1], 3)],
            )
        return report


def box_in_picture(
    box: tuple[int, int, int, int],
    scale: float,
    size: tuple[int, int],
    original_size: tuple[int, int] | None = None,
) -> dict:
    """(top, left, bottom, right) at the work scale -> `{left, top, width, height}` in the
    picture's pixels; `original_size` (height, width) when the picture was reduced on decoding."""
    height, width = original_size or size
    sy, sx = scale * size[0] / height, scale * size[1] / width
    top, left, bottom, right = box
    x0, y0 = int(np.floor(left / sx)), int(np.floor(top / sy))
    x1, y1 = min(width, int(np.ceil(right / sx))), min(height, int(np.ceil(bottom / sy)))
    return {"left": x0, "top": y0, "width": x1 - x0, "height": y1 - y0}


def is_mnist_like(image: np.ndarray) -> bool:
    """28x28, grey, bright ink on black, its longer side 17-21 px above half brightness, centred
    by mass within a pixel: how every MNIST digit is (longer side 18-20, centre within 0.5 px)."""
    if image.shape[:2] != (FIELD, FIELD):
        return False
    if image.shape[-1] == 3 and float(np.ptp(image, axis=-1).max()) > 0.02:
        return False
    gray = to_gray(image)
    if float(np.median(gray)) > 0.05 or float(_border(gray).mean()) > 0.05 or gray.max() < 0.5:
        return False
    strong = gray > 0.5 * gray.max()
    rows, cols = np.flatnonzero(strong.any(axis=1)), np.flatnonzero(strong.any(axis=0))
    if not 17 <= max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= 21:
        return False
    centre = np.array(ndimage.center_of_mass(gray))
    return bool(np.abs(centre - FIELD / 2).max() <= 1.0)


def normalise(image: np.ndarray) -> DigitNormalisation:
    """Any picture of one digit, `[H, W, C]` in [0, 1] -> its MNIST field and every step on the way."""
    source_size = (int(image.shape[0]), int(image.shape[1]))
    if is_mnist_like(image):
        return DigitNormalisation(MNIST_LIKE, np.clip(to_gray(image), 0.0, 1.0).astype(np.float32), source_size)
    inks = ink_map(image)
    peak = float(inks.ink.max())
    if peak < 0.05:  # a blank page or an empty canvas: the model sees what MNIST's blank would be
        return DigitNormalisation(inks.path, blank_field().field, source_size, inks, inks.ink, None, None, blank_field())
    ink = inks.ink / peak
    threshold = ink_threshold(ink)
    mask = keep_digit(ink > threshold)
    digit = digit_from_ink(ink, mask)
    return DigitNormalisation(inks.path, digit.field, source_size, inks, ink, threshold, mask, digit)


def digit_field(image: np.ndarray) -> np.ndarray:
    """Any picture of one digit -> a 28x28 MNIST-like field in [0, 1]."""
    return normalise(image).field
