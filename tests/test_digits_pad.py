"""`app.digits`' shortcut for a clean drawing (the page's pad) gives what the general path gives.

The shortcut (`_clean_canvas`) proves from whole-array tests that the general ink-map steps would
leave the drawing unchanged; here both paths run on drawings as the pad makes them (strokes drawn
at 280 px with a round 22 px pen, reduced to 56x56 by area averaging, values rounded to 3
decimals like `DrawingPad.pixels`), on MNIST test digits placed on the pad, and on drawings that
must take the general path (a stroke across the whole pad, a filled blob, ink on the border, a
light background), and every field and every reported measurement must be identical.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

from app import digits

PAD, SIDE, PEN = 280, 56, 22
MNIST = Path(__file__).parent / "data" / "mnist_test_300.npz"


def pad_pixels(canvas: Image.Image) -> np.ndarray:
    """A 280x280 "L" canvas -> what the page sends: 56x56 area averages in [0, 1], 3 decimals, [H, W, 1]."""
    small = np.asarray(canvas.resize((SIDE, SIDE), Image.Resampling.BOX), np.float32) / 255.0
    return (np.round(small * 1000) / 1000).astype(np.float32)[..., None]


def strokes(points_list: list[list[tuple[float, float]]], width: int = PEN) -> np.ndarray:
    canvas = Image.new("L", (PAD, PAD), 0)
    draw = ImageDraw.Draw(canvas)
    for points in points_list:
        draw.line(points, fill=255, width=width, joint="curve")
        for x, y in (points[0], points[-1]):
            draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=255)
    return pad_pixels(canvas)


def random_drawing(rng: np.random.Generator) -> np.ndarray:
    """One to three pen strokes of a few segments each, kept inside the pad."""
    lines = []
    for _ in range(rng.integers(1, 4)):
        count = int(rng.integers(2, 7))
        lines.append([tuple(map(float, rng.uniform(30, 250, 2))) for _ in range(count)])
    return strokes(lines, int(rng.integers(8, 30)))


def mnist_on_pad(digit: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """An MNIST digit scaled to 120-240 px and placed somewhere on the pad, as if traced over."""
    size = int(rng.integers(120, 241))
    left, top = (int(v) for v in rng.integers(0, PAD - size + 1, 2))
    canvas = Image.new("L", (PAD, PAD), 0)
    canvas.paste(Image.fromarray(digit).resize((size, size), Image.Resampling.BILINEAR), (left, top))
    return pad_pixels(canvas)


def both_paths(image: np.ndarray, monkeypatch) -> tuple[digits.DigitNormalisation, digits.DigitNormalisation, bool]:
    shortcut = digits._clean_canvas(image, digits.WORK_SIDE) is not None
    fast = digits.normalise(image)
    with monkeypatch.context() as patched:
        patched.setattr(digits, "_clean_canvas", lambda *_: None)
        full = digits.normalise(image)
    return fast, full, shortcut


def assert_same(fast: digits.DigitNormalisation, full: digits.DigitNormalisation) -> None:
    assert fast.field.dtype == full.field.dtype == np.float32
    assert np.array_equal(fast.field, full.field)  # bit for bit: what the model is given
    assert fast.summary() == full.summary()  # path, polarity, background, unevenness, rulings, boxes, shift
    if full.ink is not None:
        assert np.array_equal(fast.ink, full.ink)
        assert np.array_equal(fast.mask, full.mask) if full.mask is not None else fast.mask is None


def test_pad_drawings_take_the_shortcut_and_give_the_general_paths_field(monkeypatch):
    rng = np.random.default_rng(13)
    with np.load(MNIST) as archive:
        mnist = archive["x"][:60]
    drawings = [random_drawing(rng) for _ in range(60)] + [mnist_on_pad(d, rng) for d in mnist]
    drawings += [np.zeros((SIDE, SIDE, 1), np.float32), strokes([[(140, 140), (140, 140)]])]  # blank, one dot
    taken = 0
    for image in drawings:
        fast, full, shortcut = both_paths(image, monkeypatch)
        assert_same(fast, full)
        taken += shortcut
    assert taken >= 0.9 * len(drawings), taken  # the shortcut is what pad drawings get


@pytest.mark.parametrize(
    "name",
    ["line across the pad", "line down the pad", "filled blob", "ink on the border", "light background", "three channels", "small picture"],
)
def test_drawings_the_shortcut_cannot_prove_take_the_general_path(name, monkeypatch):
    digit = strokes([[(140, 60), (140, 230)]])
    image = {
        "line across the pad": strokes([[(10, 140), (270, 140)], [(140, 60), (140, 230)]], width=6),
        "line down the pad": strokes([[(140, 10), (140, 270)], [(60, 140), (200, 140)]], width=6),
        "filled blob": strokes([[(140, 140), (141, 140)]], width=130),
        "ink on the border": strokes([[(0, 60), (140, 230)]]),
        "light background": 1.0 - digit,
        "three channels": np.repeat(digit, 3, axis=-1),
        "small picture": digit[::2, ::2],  # 28x28: no local ground, no rulings; still clean
    }[name]
    fast, full, shortcut = both_paths(image, monkeypatch)
    assert_same(fast, full)
    assert shortcut == (name == "small picture")
    if name == "line across the pad":
        assert full.inks.rulings == 1  # the general path found the ruling the shortcut must not skip
    if name == "filled blob":
        assert digits.ndimage.minimum_filter(image[..., 0], size=19).any()
