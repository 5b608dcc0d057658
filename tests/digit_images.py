"""Pictures of real MNIST digits as users make them, for the evaluation sets of `digit` and `/read`.

Every generator starts from MNIST test digits (uint8 28x28, white ink on black; LeCun, Cortes &
Burges), which the bundled models never saw in training, and returns what a user would upload:
a tight crop, a small scan with few grey levels, a scan or a screenshot, coloured ink, lined or
squared paper, a phone photo, a canvas export, a row of digits. Each takes a seeded
`np.random.Generator`, so every set is the same on every run.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter


def encode(array: np.ndarray, fmt: str = "PNG", **save) -> bytes:
    """uint8 `[H, W]` or `[H, W, 3]` -> the bytes of an image file."""
    buffer = io.BytesIO()
    Image.fromarray(array).save(buffer, format=fmt, **save)
    return buffer.getvalue()


def ink_box(coverage: np.ndarray, level: float = 0) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the pixels above `level`, bottom and right exclusive."""
    rows = np.flatnonzero((coverage > level).any(axis=1))
    cols = np.flatnonzero((coverage > level).any(axis=0))
    return int(rows[0]), int(cols[0]), int(rows[-1]) + 1, int(cols[-1]) + 1


def tight_crop(digit: np.ndarray) -> np.ndarray:
    """The digit cropped to its ink, no margin at all (every edge touches a stroke)."""
    top, left, bottom, right = ink_box(digit)
    return digit[top:bottom, left:right]


def rescaled(digit: np.ndarray, side: int, levels: int, margin: int = 0) -> np.ndarray:
    """A small scan: the tight crop fitted into `side` x `side` (aspect kept, `margin` px around),
    averaged down (or up) and quantised to `levels` grey levels, as USPS- or optdigits-like data."""
    crop = Image.fromarray(tight_crop(digit))
    inner = side - 2 * margin
    factor = inner / max(crop.size)
    size = (max(1, round(crop.width * factor)), max(1, round(crop.height * factor)))
    small = np.asarray(crop.resize(size, Image.Resampling.BOX if factor < 1 else Image.Resampling.BILINEAR), np.float32)
    field = np.zeros((side, side), np.float32)
    top, left = (side - size[1]) // 2, (side - size[0]) // 2
    field[top : top + size[1], left : left + size[0]] = small
    steps = levels - 1
    return (np.round(field / 255.0 * steps) / steps * 255.0).astype(np.uint8)


def coverage_at(digit: np.ndarray, height: int) -> np.ndarray:
    """The digit's ink coverage in [0, 1], tightly cropped and enlarged to `height` px (bicubic)."""
    crop = Image.fromarray(tight_crop(digit))
    width = max(1, round(crop.width * height / crop.height))
    return np.clip(np.asarray(crop.resize((width, height), Image.Resampling.BICUBIC), np.float32) / 255.0, 0.0, 1.0)


def rulings(shape: tuple[int, int], spacing: float, offset: float, thickness: float, vertical: bool = False) -> np.ndarray:
    """Printed lines across the whole page, as coverage in [0, 1] with anti-aliased edges."""
    height, width = shape
    position = np.arange(width if vertical else height, dtype=np.float32)
    distance = np.abs(((position - offset) + spacing / 2) % spacing - spacing / 2)
    profile = np.clip(thickness / 2 + 0.5 - distance, 0.0, 1.0)
    return np.broadcast_to(profile[None, :] if vertical else profile[:, None], shape).astype(np.float32)


def texture(shape: tuple[int, int], rng: np.random.Generator, strength: float) -> np.ndarray:
    """Paper: slow blotches and fibres, a multiplicative brightness around 1."""
    from scipy import ndimage

    blotches = ndimage.gaussian_filter(rng.normal(0, 1, shape), sigma=max(shape) / 12)
    fibres = ndimage.gaussian_filter(rng.normal(0, 1, shape), sigma=(0.7, 3.0))
    blotches /= max(1e-6, float(np.abs(blotches).max()))
    fibres /= max(1e-6, float(np.abs(fibres).max()))
    return 1.0 + strength * (0.6 * blotches + 0.4 * fibres)


def page(
    coverage: np.ndarray,
    rng: np.random.Generator,
    *,
    ink=(0.1, 0.1, 0.12),
    paper=(0.97, 0.97, 0.95),
    lines: np.ndarray | None = None,
    line_colour=(0.55, 0.7, 0.9),
    grain: float = 0.0,
    noise: float = 0.0,
    light: np.ndarray | None = None,
) -> np.ndarray:
    """Ink coverage laid on paper (with printed lines under the ink), lit and noisy -> uint8 RGB."""
    shape = coverage.shape
    sheet = np.broadcast_to(np.asarray(paper, np.float32), (*shape, 3)).copy()
    if grain:
        sheet *= texture(shape, rng, grain)[..., None]
    if lines is not None:
        sheet = sheet * (1 - lines[..., None]) + np.asarray(line_colour, np.float32) * lines[..., None]
    image = sheet * (1 - coverage[..., None]) + np.asarray(ink, np.float32) * coverage[..., None]
    if light is not None:
        image *= light[..., None]
    if noise:
        image += rng.normal(0, noise, image.shape)
    return (np.clip(image, 0, 1) * 255).round().astype(np.uint8)


def placed(coverage: np.ndarray, page_shape: tuple[int, int], top: int, left: int) -> np.ndarray:
    sheet = np.zeros(page_shape, np.float32)
    bottom, right = min(page_shape[0], top + coverage.shape[0]), min(page_shape[1], left + coverage.shape[1])
    sheet[top:bottom, left:right] = coverage[: bottom - top, : right - left]
    return sheet


def with_margin(coverage: np.ndarray, rng: np.random.Generator, low: float = 0.3, high: float = 0.8):
    """The coverage on a page with a random margin on each side (a fraction of the digit's height)."""
    height = coverage.shape[0]
    top, bottom, left, right = (int(height * rng.uniform(low, high)) for _ in range(4))
    shape = (coverage.shape[0] + top + bottom, coverage.shape[1] + left + right)
    return placed(coverage, shape, top, left)


# ---------------------------------------------------------------------------- one digit
def scan(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A flatbed scan: off-white paper with a little grain, pencil or pen, PNG or JPEG."""
    coverage = with_margin(coverage_at(digit, int(rng.integers(50, 140))), rng)
    ink = (0.3, 0.3, 0.32) if rng.random() < 0.4 else (0.05, 0.05, 0.1)  # pencil or pen
    image = page(coverage, rng, ink=ink, paper=(0.96, 0.95, 0.92), grain=0.02, noise=0.01)
    return encode(image, "JPEG", quality=88) if rng.random() < 0.5 else encode(image)


def screenshot(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """A digit drawn in an app, on a light or a dark theme: flat colours, anti-aliased, PNG."""
    coverage = with_margin(coverage_at(digit, int(rng.integers(40, 120))), rng, 0.2, 1.0)
    themes = [((0.13, 0.13, 0.13), (1.0, 1.0, 1.0)), ((0.87, 0.87, 0.87), (0.12, 0.12, 0.14)), ((0.2, 0.2, 0.3), (0.93, 0.94, 0.96))]
    ink, paper = themes[int(rng.integers(len(themes)))]
    return encode(page(coverage, rng, ink=ink, paper=paper))


INKS = [(0.75, 0.1, 0.1), (0.1, 0.2, 0.7), (0.05, 0.5, 0.15), (0.45, 0.1, 0.55), (0.9, 0.45, 0.05)]
PAPERS = [(1.0, 1.0, 1.0), (0.99, 0.95, 0.6), (0.8, 0.9, 0.98), (0.98, 0.85, 0.88)]


def coloured(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """Coloured ink (red, blue, green, purple, orange) on white or coloured paper."""
    coverage = with_margin(coverage_at(digit, int(rng.integers(50, 120))), rng)
    ink, paper = INKS[int(rng.integers(len(INKS)))], PAPERS[int(rng.integers(len(PAPERS)))]
    return encode(page(coverage, rng, ink=ink, paper=paper, grain=0.02, noise=0.01), "JPEG", quality=90)


RULINGS = [(0.55, 0.7, 0.9), (0.35, 0.5, 0.85), (0.55, 0.55, 0.55)]  # light blue, blue, grey: up to half the pen's contrast


def ruled(digit: np.ndarray, rng: np.random.Generator, squared: bool) -> bytes:
    """Lined paper (the digit spans about one line spacing) or squared paper (about two squares)."""
    height = int(rng.integers(60, 130))
    coverage = with_margin(coverage_at(digit, height), rng, 0.4, 0.9)
    thickness = max(1.0, height / 60) * rng.uniform(0.8, 1.5)
    if squared:
        spacing = height / rng.uniform(1.6, 2.4)
        lines = np.maximum(
            rulings(coverage.shape, spacing, rng.uniform(0, spacing), thickness),
            rulings(coverage.shape, spacing, rng.uniform(0, spacing), thickness, vertical=True),
        )
    else:
        spacing = height * rng.uniform(0.9, 1.3)
        lines = rulings(coverage.shape, spacing, rng.uniform(0, spacing), thickness)
    colour = RULINGS[int(rng.integers(len(RULINGS)))]
    ink = (0.35, 0.35, 0.37) if rng.random() < 0.5 else (0.05, 0.05, 0.1)  # pencil or pen
    image = page(coverage, rng, ink=ink, lines=lines, line_colour=colour, grain=0.02, noise=0.01)
    return encode(image, "JPEG", quality=90)


def touching_border(digit: np.ndarray, rng: np.random.Generator) -> bytes:
    """Dark ink on paper, the digit touching one or two edges of the picture (cut off by the framing)."""
    coverage = with_margin(coverage_at(digit, int(rng.integers(50, 120))), rng)
    top, left, bottom, right = ink_box(coverage, 0.05)
    sides = rng.choice(4, size=int(rng.integers(1, 3)), replace=False)
    box = [0, 0, coverage.shape[0], coverage.shape[1]]
    for side in sides:  # cut the margin on that side away, down to the ink
        box[side] = (top, left, bottom, right)[side]
    coverage = coverage[box[0] : box[2], box[1] : box[3]]
    return encode(page(coverage, rng, grain=0.02, noise=0.01))


def phone_photo(digit: np.ndarray, rng: np.random.Generator, thin: bool = False) -> bytes:
    """A handwritten digit photographed on paper: big, off-centre, dark ink, uneven warm light, JPEG noise."""
    height, width = 900, 1200
    ink = Image.fromarray(digit).resize((360, 360), Image.Resampling.BICUBIC)
    if thin:  # a fine pen: only the cores of MNIST's strokes, about half as wide
        ink = ink.point(lambda v: 255 if v > 230 else 0)
    ink = ink.filter(ImageFilter.GaussianBlur(2))
    canvas = np.zeros((height, width), np.float32)
    top, left = rng.integers(80, height - 440), rng.integers(80, width - 440)
    canvas[top : top + 360, left : left + 360] = np.asarray(ink, np.float32) / 255.0
    ys, xs = np.mgrid[0:height, 0:width]
    light = 0.55 + 0.35 * (xs / width) + 0.1 * np.sin(ys / height * np.pi)  # shadow on one side
    paper = np.stack([light * 0.97, light * 0.93, light * 0.82], axis=-1)  # warm, off-white
    ink_colour = np.array([0.12, 0.12, 0.25])  # blue-black pen
    photo = paper * (1 - canvas[..., None]) + ink_colour * canvas[..., None]
    photo += rng.normal(0, 0.03, photo.shape)
    image = Image.fromarray((np.clip(photo, 0, 1) * 255).astype(np.uint8), "RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def canvas_export(digit: np.ndarray) -> bytes:
    """What a browser canvas gives: black ink whose coverage is the alpha, on transparency."""
    big = np.asarray(Image.fromarray(digit).resize((280, 280), Image.Resampling.BICUBIC))
    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[..., 3] = big
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


# ----------------------------------------------------------------------------- numbers
def number_row(digits: list[np.ndarray], rng: np.random.Generator, style: str = "scan") -> bytes:
    """Digits written in a row: each tight crop at its MNIST size, 20 px tall in the 28 px fields,
    gaps between their ink from touching (0 px) to wide (9 px), a little up and down, then
    enlarged 3-5x and laid on paper: `scan` (grain, JPEG), `photo` (uneven light), `lined`,
    `squared`, `screen` (light ink on a dark theme)."""
    crops = [tight_crop(d).astype(np.float32) / 255.0 for d in digits]
    gaps = [int(rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 9], p=[0.04, 0.08, 0.12, 0.14, 0.16, 0.16, 0.12, 0.1, 0.08])) for _ in crops[1:]]
    drops = [int(rng.integers(0, 4)) for _ in crops]
    height = max(c.shape[0] + d for c, d in zip(crops, drops))
    width = sum(c.shape[1] for c in crops) + sum(gaps)
    row = np.zeros((height, width), np.float32)
    left = 0
    for index, crop in enumerate(crops):
        top = drops[index]
        area = row[top : top + crop.shape[0], left : left + crop.shape[1]]
        np.maximum(area, crop, out=area)  # touching strokes merge, as ink does
        left += crop.shape[1] + (gaps[index] if index < len(gaps) else 0)
    factor = float(rng.uniform(3, 5))
    size = (round(width * factor), round(height * factor))
    big = np.clip(np.asarray(Image.fromarray(row).resize(size, Image.Resampling.BICUBIC), np.float32), 0, 1)
    coverage = with_margin(big, rng, 0.3, 0.8)
    shape = coverage.shape
    if style == "photo":
        ys, xs = np.mgrid[0 : shape[0], 0 : shape[1]]
        light = 0.6 + 0.35 * xs / shape[1] + 0.05 * np.sin(ys / shape[0] * np.pi)
        return encode(page(coverage, rng, ink=(0.12, 0.12, 0.25), paper=(0.97, 0.93, 0.82), light=light, noise=0.03), "JPEG", quality=80)
    if style in ("lined", "squared"):
        line_height = big.shape[0] / 1.1
        lines = rulings(shape, line_height, rng.uniform(0, line_height), max(1.0, line_height / 60))
        if style == "squared":
            spacing = line_height / 2
            lines = np.maximum(
                rulings(shape, spacing, rng.uniform(0, spacing), max(1.0, line_height / 60)),
                rulings(shape, spacing, rng.uniform(0, spacing), max(1.0, line_height / 60), vertical=True),
            )
        return encode(page(coverage, rng, lines=lines, grain=0.02, noise=0.01), "JPEG", quality=90)
    if style == "screen":
        return encode(page(coverage, rng, ink=(0.9, 0.9, 0.9), paper=(0.12, 0.12, 0.14)))
    return encode(page(coverage, rng, ink=(0.08, 0.08, 0.12), paper=(0.96, 0.95, 0.92), grain=0.02, noise=0.01), "JPEG", quality=88)
