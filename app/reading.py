"""A picture of a number written in a row (a house number, a year, a phone number) -> its digits.

The picture becomes an ink map exactly as a single digit does (`app.digits.ink_map`: polarity,
background, noise floor, rulings), thresholded by Otsu's method, and cut into connected
components (8-connected). Then the rules a reader would use, each simple enough to state:

1. The row's digit height `H` is the median height of the substantial components (at least a
   fifth of the largest one's area), measured again once rule 2 has joined broken digits.
2. Pieces of one digit are merged: a piece less than 70% of `H` tall whose columns overlap
   another's by at least 30% of its width joins it (the detached bar of a 5, a broken 1).
3. Marks that are not digits are left out: specks (under 1% of the largest component's area),
   dashes, dots and underlines (under 35% of `H` tall once rule 2 is done), and stray strokes
   (under 15% of the ink of the row's median digit; a thin 1 has about a third of it).
4. Touching digits are split: a component wider than `SPLIT_WIDTH` x `H` is also cut into
   `round(width / (DIGIT_WIDTH x H))` pieces (at least 2), each cut at the column with the least
   ink within a quarter of a digit's width of where an even cut would fall. The cut is kept if
   the component is wider than `CERTAIN_WIDTH` x `H`, or if the model is surer of every piece
   than of the whole (a wide 2 stays whole, a 17 does not).

Each digit (its own ink only, its neighbours' left out) goes through MNIST's steps
(`app.digits.digit_from_ink`) as one uploaded digit does, and digits are read left to right.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage

from app.digits import DigitField, InkMap, box_in_picture, digit_from_ink, ink_map, ink_threshold
from app.errors import InvalidOption

READ_SIDE = 1024  # a row is long: its longer side is reduced to this before the per-pixel work
MAX_DIGITS = 40
SPLIT_WIDTH = 1.0  # a component wider than this many row heights may hold more than one digit
CERTAIN_WIDTH = 1.3  # ... and one wider than this does: no handwritten digit is that wide
DIGIT_WIDTH = 0.8  # a digit's typical width in row heights (MNIST: 0.7 median, 1.0 for a wide 0)

Classify = Callable[[np.ndarray], np.ndarray]  # [N, 28, 28] fields -> [N, classes] probabilities


@dataclass
class Segment:
    """One digit found: where it is, its MNIST field and what the model made of it."""

    box: tuple[int, int, int, int]  # (top, left, bottom, right) in the ink map
    pieces: int  # connected components merged into it
    split: bool  # cut out of a component holding touching digits
    digit: DigitField = field(repr=False)
    probabilities: np.ndarray | None = field(default=None, repr=False)

    @property
    def confidence(self) -> float:
        return float(self.probabilities.max())


@dataclass
class Reading:
    inks: InkMap
    threshold: float | None
    height: float  # the row's digit height, in ink-map pixels
    segments: list[Segment]
    ignored: int  # marks that were not digits (specks, dashes, underlines)
    source_size: tuple[int, int]

    def box(self, segment: Segment, original_size: tuple[int, int] | None = None) -> dict:
        """A segment's box in the picture's pixels (as sent, if it was reduced on decoding)."""
        return box_in_picture(segment.box, self.inks.scale, self.source_size, original_size)


def read_row(image: np.ndarray, classify: Classify) -> Reading:
    """`[H, W, C]` in [0, 1] -> the digits of the row, left to right, each classified."""
    source_size = (int(image.shape[0]), int(image.shape[1]))
    inks = ink_map(image, READ_SIDE)
    peak = float(inks.ink.max())
    if peak < 0.05:  # a blank picture
        return Reading(inks, None, 0.0, [], 0, source_size)
    ink = inks.ink / peak
    threshold = ink_threshold(ink)
    labels, count = ndimage.label(ink > threshold, structure=np.ones((3, 3)))
    areas = np.bincount(labels.ravel(), minlength=count + 1)
    pieces = [_Piece(label, box, int(areas[label])) for label, box in enumerate(ndimage.find_objects(labels), start=1)]
    largest = max(piece.area for piece in pieces)
    pieces = [piece for piece in pieces if piece.area >= 0.01 * largest]
    if len(pieces) > 4 * MAX_DIGITS:
        raise _too_many(len(pieces))
    # A broken digit's pieces are substantial too: a first guess from the taller ones merges
    # them, then the height is measured again on whole digits and the merging finished.
    height = float(np.percentile([piece.height for piece in pieces if piece.area >= 0.2 * largest], 75))
    groups = _merged(pieces, height)
    biggest = max(group.area for group in groups)
    height = float(np.median([group.height for group in groups if group.area >= 0.2 * biggest]))
    groups = [group for group in _merged(groups, height) if group.height >= 0.35 * height]
    typical = float(np.median([group.area for group in groups])) if groups else 0.0
    groups = [group for group in groups if group.area >= 0.15 * typical]
    if len(groups) > MAX_DIGITS:
        raise _too_many(len(groups))
    ignored = count - sum(len(group.labels) for group in groups)

    # Each group read whole, and those wide enough also cut into pieces: one batch for the model.
    options = []
    for group in sorted(groups, key=lambda group: group.left):
        region = np.isin(labels[group.top : group.bottom, group.left : group.right], group.labels)
        whole = [_segment(ink, region, group.top, group.left, len(group.labels), split=False)]
        cuts = _cuts(region, height)
        pieces_of = [
            _segment(ink, _columns(region, start, stop), group.top, group.left, len(group.labels), split=True)
            for start, stop in zip(cuts, cuts[1:])
            if region[:, start:stop].any()
        ]
        options.append((whole, pieces_of if len(pieces_of) > 1 else []))
    candidates = [segment for whole, cut in options for segment in whole + cut]
    for segment, probabilities in zip(candidates, classify(np.stack([s.digit.field for s in candidates]))):
        segment.probabilities = np.asarray(probabilities)
    segments = []
    for whole, cut in options:
        wide = cut and whole[0].box[3] - whole[0].box[1] > CERTAIN_WIDTH * height
        surer = cut and min(piece.confidence for piece in cut) > whole[0].confidence
        segments += cut if wide or surer else whole
    return Reading(inks, threshold, height, segments, ignored, source_size)


def _too_many(marks: int) -> InvalidOption:
    return InvalidOption(
        f"The picture holds {marks} separate marks; /read reads one row of at most {MAX_DIGITS} digits. "
        "Send a picture cropped to the number."
    )


class _Piece:
    """A connected component, or several merged: their labels, area and bounding box."""

    def __init__(self, label: int, box: tuple[slice, slice], area: int) -> None:
        self.labels = [label]
        self.area = area
        self.top, self.bottom = box[0].start, box[0].stop
        self.left, self.right = box[1].start, box[1].stop

    @property
    def height(self) -> int:
        return self.bottom - self.top

    @property
    def width(self) -> int:
        return self.right - self.left

    def absorb(self, other: _Piece) -> None:
        self.labels += other.labels
        self.area += other.area
        self.top, self.bottom = min(self.top, other.top), max(self.bottom, other.bottom)
        self.left, self.right = min(self.left, other.left), max(self.right, other.right)


def _merged(pieces: list[_Piece], height: float) -> list[_Piece]:
    """Rule 2: a short piece whose columns overlap another's by 30% of its width joins it."""
    groups = sorted(pieces, key=lambda piece: -piece.area)  # the big ones take the fragments
    while True:
        pair = next(
            (
                (big, small)
                for i, big in enumerate(groups)
                for small in groups[i + 1 :]
                if min(big.height, small.height) < 0.7 * height
                and min(big.right, small.right) - max(big.left, small.left) >= 0.3 * min(big.width, small.width)
            ),
            None,
        )
        if pair is None:
            return groups
        pair[0].absorb(pair[1])
        groups.remove(pair[1])


def _cuts(region: np.ndarray, height: float) -> list[int]:
    """Rule 4: where to cut a group into digits (just its two ends if it is not wide)."""
    width = region.shape[1]
    if height <= 0 or width <= SPLIT_WIDTH * height:
        return [0, width]
    count = max(2, round(width / (DIGIT_WIDTH * height)))
    profile = region.sum(axis=0)
    step = width / count
    cuts = [0]
    for k in range(1, count):
        low, high = max(cuts[-1] + 1, int(k * step - step / 4)), int(k * step + step / 4) + 1
        cuts.append(low + int(np.argmin(profile[low:high])))
    return cuts + [width]


def _columns(region: np.ndarray, start: int, stop: int) -> np.ndarray:
    kept = np.zeros_like(region)
    kept[:, start:stop] = region[:, start:stop]
    return kept


def _segment(ink: np.ndarray, mask: np.ndarray, top: int, left: int, pieces: int, split: bool) -> Segment:
    """MNIST's steps on one digit's own ink (`mask` placed at `top`, `left`), its neighbours' left out."""
    pad = 2  # the soft edges of its strokes lie just outside its pixels above the threshold
    y0, x0 = max(0, top - pad), max(0, left - pad)
    y1, x1 = min(ink.shape[0], top + mask.shape[0] + pad), min(ink.shape[1], left + mask.shape[1] + pad)
    own = np.zeros((y1 - y0, x1 - x0), bool)
    own[top - y0 : top - y0 + mask.shape[0], left - x0 : left - x0 + mask.shape[1]] = mask
    reach = ndimage.binary_dilation(own, structure=np.ones((3, 3)), iterations=pad)
    digit = digit_from_ink(ink[y0:y1, x0:x1] * reach, own)
    rows, cols = np.flatnonzero(own.any(axis=1)), np.flatnonzero(own.any(axis=0))
    box = (y0 + int(rows[0]), x0 + int(cols[0]), y0 + int(rows[-1]) + 1, x0 + int(cols[-1]) + 1)
    return Segment(box, pieces, split, digit)
