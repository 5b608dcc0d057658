"""Occlusion sensitivity: Zeiler & Fergus 2014, "Visualizing and Understanding Convolutional
Networks" (ECCV), section 4.2, with the exact grid of the API contract:

positions y in range(0, H - P + 1, S) (likewise x); at each, input[y:y+P, x:x+P, :] = fill;
grid[i, j] = p_K(original) - p_K(occluded); heatmap[y, x] = mean of grid over the patches that
cover (y, x), 0 where none does.

All positions run as batched forward passes, in batches bounded by the model's activation memory
(`batch_size`), so that memory stays flat for big models, big inputs and small strides.
"""

from __future__ import annotations

import math

import numpy as np
from pydantic import Field

from app.errors import InvalidOption
from app.graph import ModelGraph
from app.viz.base import Attribution, Cost, Method, MethodOptions, Progress, batch_size, passes, predict_target

BATCH = 256  # at most this many copies per forward pass (fewer for big models: `batch_size`)
MAX_POSITIONS = 10_000


class Options(MethodOptions):
    patch: int | None = Field(None, ge=1, description="patch side in pixels, at most the input side; default: about 1/7 of it")
    stride: int | None = Field(None, ge=1, description="step between patches; default: half the patch (at least 1)")
    fill: float | None = Field(None, description="value put in the patch, in the model's input range; default: its low end")

    def resolved(self, graph: ModelGraph) -> "Options":
        height, width, _ = graph.input_shape
        low, high = graph.input_range
        patch = default_patch(height, width) if self.patch is None else self.patch
        if patch > min(height, width):
            raise InvalidOption(f"patch must be between 1 and {min(height, width)} (the input side); got {patch}.")
        stride = max(1, patch // 2) if self.stride is None else self.stride
        if stride > max(height, width):
            raise InvalidOption(f"stride must be between 1 and {max(height, width)}; got {stride}.")
        fill = low if self.fill is None else self.fill
        if not math.isfinite(fill):
            raise InvalidOption(f"fill must be a finite number in the model's input range [{low}, {high}].")
        rows, cols = positions(height, width, patch, stride)
        if len(rows) * len(cols) > MAX_POSITIONS:
            raise InvalidOption(
                f"patch {patch} with stride {stride} gives {len(rows) * len(cols):,} positions; the limit is "
                f"{MAX_POSITIONS:,}. Use a larger stride."
            )
        return self.model_copy(update={"patch": patch, "stride": stride, "fill": float(fill)})


def default_patch(height: int, width: int) -> int:
    """About 1/7 of the input side: 4 px on MNIST, 32 px on 224x224."""
    return max(1, round(min(height, width) / 7))


def positions(height: int, width: int, patch: int, stride: int) -> tuple[list[int], list[int]]:
    return list(range(0, height - patch + 1, stride)), list(range(0, width - patch + 1, stride))


def cost(graph: ModelGraph, options: Options) -> Cost:
    """One forward pass per patch position, plus the prediction."""
    height, width, _ = graph.input_shape
    rows, cols = positions(height, width, options.patch, options.stride)
    return Cost(
        passes(graph, len(rows) * len(cols) + 1),
        f"Occlusion with patch={options.patch} and stride={options.stride} ({len(rows) * len(cols):,} positions) on {height}x{width} inputs",
        "the positions: a larger stride (or patch)",
    )


def attribute(
    graph: ModelGraph, model_input: np.ndarray, class_index: int | None, options: Options, progress: Progress | None = None
) -> Attribution:
    height, width, _ = model_input.shape
    rows, cols = positions(height, width, options.patch, options.stride)
    spots = [(y, x) for y in rows for x in cols]
    target = predict_target(graph, model_input, class_index)
    class_index = target.class_index
    baseline = float(target.probabilities[class_index])
    size = batch_size(graph, BATCH, backward=False)
    scores = np.empty(len(spots), np.float32)
    for start in range(0, len(spots), size):
        chunk = spots[start : start + size]
        batch = np.repeat(model_input[None], len(chunk), axis=0)
        for i, (y, x) in enumerate(chunk):
            batch[i, y : y + options.patch, x : x + options.patch, :] = options.fill
        scores[start : start + len(chunk)] = graph.probabilities(batch)[:, class_index]
        if progress:
            progress(start + len(chunk), len(spots))
    grid = (baseline - scores).reshape(len(rows), len(cols)).astype(np.float32)

    total = np.zeros((height, width), np.float64)
    count = np.zeros((height, width), np.int32)
    for i, y in enumerate(rows):
        for j, x in enumerate(cols):
            total[y : y + options.patch, x : x + options.patch] += grid[i, j]
            count[y : y + options.patch, x : x + options.patch] += 1
    heatmap = np.where(count > 0, total / np.maximum(count, 1), 0.0).astype(np.float32)
    return Attribution(
        raw=grid,
        heatmap=heatmap,
        target=target,
        extras={"patch": options.patch, "stride": options.stride, "fill": options.fill, "positions": len(spots)},
    )


METHOD = Method(
    name="occlusion",
    title="Occlusion",
    endpoint="occlusion",
    options=Options,
    attribute=attribute,
    reference="Zeiler & Fergus 2014, Visualizing and Understanding Convolutional Networks",
    long_job=True,
    raw_field="grid",
    cost=cost,
)
