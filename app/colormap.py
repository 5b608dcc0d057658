"""Heatmaps -> coloured PNG overlays on the model input.

The colormap is matplotlib's *inferno*: perceptually uniform (equal steps in value look like equal
steps in colour), readable in grey and by colour-blind readers, dark = 0 and pale yellow = 1. It
is a 256-colour table made from the degree-6 polynomial fit by Matt Zucker (shadertoy WlfXRN), within about 1%
of matplotlib's table, so no plotting library is needed.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

_INFERNO = np.array(
    [
        [0.0002189403691192265, 0.001651004631001012, -0.01948089843709184],
        [0.1065134194856116, 0.5639564367884091, 3.932712388889277],
        [11.60249308247187, -3.972853965665698, -15.9423941062914],
        [-41.70399613139459, 17.43639888205313, 44.35414519872813],
        [77.162935699427, -33.40235894210092, -81.80730925738993],
        [-71.31942824499214, 32.62606426397723, 73.20951985803202],
        [25.13112622477341, -12.24266895238567, -23.07032500287172],
    ]
)
OVERLAY_MIN_SIDE = 224  # small inputs (28x28) are enlarged, pixel for pixel, to be visible
HEAT_OPACITY = 0.6


def inferno_polynomial(values: np.ndarray) -> np.ndarray:
    """[...] in [0, 1] -> [..., 3] RGB in [0, 1], from the polynomial."""
    t = np.clip(np.asarray(values, dtype=np.float64), 0.0, 1.0)[..., None]
    rgb = np.zeros(t.shape[:-1] + (3,))
    for coefficients in _INFERNO[::-1]:
        rgb = rgb * t + coefficients
    return np.clip(rgb, 0.0, 1.0)


# Applied as a 256-colour table, as matplotlib applies its colormaps: one lookup per pixel instead
# of seven passes of the polynomial (an overlay is on every Grad-CAM answer, the drawing path).
INFERNO_TABLE = inferno_polynomial(np.linspace(0.0, 1.0, 256)).astype(np.float32)


def inferno(values: np.ndarray) -> np.ndarray:
    """[...] in [0, 1] -> [..., 3] RGB in [0, 1]: the table's colour nearest each value (NaN as 0)."""
    t = np.array(values, dtype=np.float32)  # a copy, worked on in place
    np.fmax(t, 0.0, out=t)  # fmax and fmin pass over NaN: NaN -> 0, like +-inf -> the ends
    np.fmin(t, 1.0, out=t)
    t *= 255
    return INFERNO_TABLE[np.rint(t, out=t).astype(np.intp)]


def input_as_grey(model_input: np.ndarray, input_range: tuple[float, float]) -> np.ndarray:
    """[H, W, 1] in [0, 1]: a grey-scale input itself, a colour one's mean of R, G and B."""
    low, high = input_range
    image = np.clip((model_input.astype(np.float32, copy=False) - np.float32(low)) / np.float32(max(high - low, 1e-12)), 0.0, 1.0)
    return image if image.shape[-1] == 1 else image[..., :3].mean(axis=-1, keepdims=True)


def overlay_pixels(model_input: np.ndarray, heatmap: np.ndarray, input_range: tuple[float, float]) -> np.ndarray:
    """The input in grey-scale under the coloured heatmap: uint8 RGB at the input's size (on every
    Grad-CAM answer, so a few whole-array steps)."""
    blended = inferno(heatmap)
    blended *= np.float32(HEAT_OPACITY)
    blended += np.float32(1 - HEAT_OPACITY) * input_as_grey(model_input, input_range)
    blended *= 255
    return np.rint(blended, out=blended).astype(np.uint8)


def enlargement(height: int, width: int) -> int:
    """The whole factor that brings the shorter side to at least 224 px."""
    return max(1, -(-OVERLAY_MIN_SIDE // min(height, width)))


def overlay(model_input: np.ndarray, heatmap: np.ndarray, input_range: tuple[float, float]) -> Image.Image:
    """`overlay_pixels`, enlarged pixel for pixel to at least 224 px a side."""
    pixels = overlay_pixels(model_input, heatmap, input_range)
    factor = enlargement(*pixels.shape[:2])
    return Image.fromarray(pixels.repeat(factor, axis=0).repeat(factor, axis=1), "RGB")
