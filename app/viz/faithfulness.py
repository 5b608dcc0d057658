"""Deletion and insertion: Petsiuk, Das & Saenko 2018, "RISE: Randomized Input Sampling for
Explanation of Black-box Models" (BMVC), section 4.1, the standard test of whether a map shows
what the model uses.

Rank the pixels by the map, highest first. Deletion: starting from the input, set the top-ranked
pixels (all channels) to the fill, the low end of the model's input range, in `steps` equal
steps, and record the class probability after each; a faithful map makes it fall at once, so a
lower area under the curve is better. Insertion: starting from a blurred copy of the input, put
the top-ranked pixels back in the same steps; a faithful map makes the probability rise at once,
so a higher area is better. Both curves have `steps + 1` points at the fractions 0, 1/steps, .., 1
of the pixels changed; the areas are trapezoids over that fraction, so they lie in [0, 1].

Ties in the map (Grad-CAM's zeros) are broken by pixel position, row by row, so the curves are
deterministic. Every perturbed copy runs in one batched sequence of forward passes. The blur is
Gaussian with sigma = 1/8 of the input's shorter side: Petsiuk et al. use sigma 5 px on 224 px
ImageNet images; on 28 px digits a blur must be about 3 px before the class is lost (the top-1
class survives sigma 2 for 96 of the first 100 test digits, sigma 4 for 19).
"""

from __future__ import annotations

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from scipy import ndimage

from app.graph import ModelGraph
from app.viz.base import Cost, batch_size, passes

BATCH = 128
BLUR_FRACTION = 1 / 8  # Gaussian sigma of the insertion start, as a fraction of the shorter side
MAX_STEPS = 256


class FaithfulnessOptions(BaseModel):
    """Query options of every explanation endpoint (declared once, here)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    faithfulness: bool = Field(
        False, description="add deletion and insertion curves and their areas (Petsiuk et al. 2018)"
    )
    faithfulness_steps: int = Field(
        20, ge=2, le=MAX_STEPS, description=f"steps of the deletion and insertion curves (2 to {MAX_STEPS})"
    )


def cost(graph: ModelGraph, steps: int) -> Cost:
    """Both curves: 2 (steps + 1) forward passes."""
    return Cost(passes(graph, 2 * (steps + 1)), f"and faithfulness curves of {steps} steps", "faithfulness_steps")


def pixel_order(heatmap: np.ndarray) -> np.ndarray:
    """Flat pixel indices, highest map value first; ties in row-major order."""
    return np.argsort(-np.asarray(heatmap, np.float64).ravel(), kind="stable")


def changed_counts(pixels: int, steps: int) -> np.ndarray:
    """How many pixels are changed at each of the `steps + 1` points."""
    return np.round(np.linspace(0, pixels, steps + 1)).astype(np.int64)


def blurred(model_input: np.ndarray) -> np.ndarray:
    sigma = BLUR_FRACTION * min(model_input.shape[:2])
    return ndimage.gaussian_filter(model_input, sigma=(sigma, sigma, 0), mode="nearest").astype(np.float32)


def area(curve: np.ndarray, fractions: np.ndarray) -> float:
    """Trapezoid rule over the fraction of pixels changed."""
    return float(((curve[1:] + curve[:-1]) / 2 * np.diff(fractions)).sum())


def deletion_insertion(
    graph: ModelGraph, model_input: np.ndarray, class_index: int, heatmap: np.ndarray, steps: int
) -> dict:
    """`{"steps", "fractions", "blur_sigma", "deletion": {"auc", "curve"}, "insertion": {"auc", "curve"}}`."""
    height, width, channels = model_input.shape
    order = pixel_order(heatmap)
    counts = changed_counts(height * width, steps)
    fill = np.full_like(model_input, graph.input_range[0])
    start_points = {"deletion": (model_input, fill), "insertion": (blurred(model_input), model_input)}
    # (curve, point) for every copy: deletion's steps + 1, then insertion's
    copies = [(name, i) for name in start_points for i in range(steps + 1)]
    probabilities = np.empty(len(copies), np.float64)
    size = batch_size(graph, BATCH, backward=False)
    for begin in range(0, len(copies), size):
        chunk = copies[begin : begin + size]
        batch = np.empty((len(chunk), height, width, channels), np.float32)
        for j, (name, i) in enumerate(chunk):
            start, end = start_points[name]
            image = start.reshape(-1, channels).copy()
            changed = order[: counts[i]]
            image[changed] = end.reshape(-1, channels)[changed]
            batch[j] = image.reshape(height, width, channels)
        probabilities[begin : begin + len(chunk)] = graph.probabilities(batch)[:, class_index]
    fractions = counts / (height * width)
    result: dict = {"steps": steps, "fractions": fractions.tolist(), "blur_sigma": BLUR_FRACTION * min(height, width)}
    for k, name in enumerate(start_points):
        curve = probabilities[k * (steps + 1) : (k + 1) * (steps + 1)]
        result[name] = {"auc": area(curve, fractions), "curve": curve.tolist()}
    return result
