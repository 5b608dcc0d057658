"""RISE: Petsiuk, Das & Saenko 2018, "RISE: Randomized Input Sampling for Explanation of
Black-box Models" (BMVC), section 3, eq. 6 with the masks of section 3.2:

N binary grids of `cell` x `cell` cells, each cell kept with probability p, are upsampled
bilinearly (`app.viz.resize`: pixel centres aligned) to (cell + 1) x the cell size (ceil(H / cell), likewise W) and
cropped to H x W at a random shift of up to one cell, which gives smooth masks M_i in [0, 1]. With
the input seen through each mask, x_i = low + (x - low) * M_i (x * M_i for inputs starting at 0,
as in the paper), the saliency is

    S = sum_i p_c(x_i) M_i / (N p)

(the Monte Carlo estimate of E[p_c(x * M) | M(pixel) = 1]). No gradients: it explains any model
by forward passes only. The grids and shifts come from one seeded generator, drawn in full before
any pass, so a seed gives the same masks whatever the batch size. Masks are made a batch at a time,
so memory stays flat for big inputs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydantic import Field

from app.graph import ModelGraph
from app.viz.base import Attribution, Cost, Method, MethodOptions, Progress, batch_size, normalise, passes, predict_target
from app.viz.resize import bilinear_matrix

BATCH = 128
MAX_MASKS = 10_000
# Making a mask costs U_h * cell * (cell + U_w) multiply-adds (`MaskSampler.masks`), counted as this
# many a pixel pass: `python -m bench.rise_cost` measured 0.07-0.55 ns a multiply-add of the masks'
# products and 86 ns a pixel of mnist-convnet's pass, so this counts the making 2-20 times over.
MACS_PER_PIXEL_PASS = 64


class Options(MethodOptions):
    masks: int = Field(2000, ge=1, le=MAX_MASKS, description=f"random masks averaged (1 to {MAX_MASKS}); the paper uses 4000-8000 on ImageNet")
    cell: int = Field(7, ge=2, le=64, description="mask grid side in cells (2 to 64; the paper's s = 7)")
    probability: float = Field(0.5, gt=0, le=1, description="probability that a cell is kept (the paper's p = 0.5)")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="random seed of the masks")


@dataclass
class MaskSampler:
    """The seeded grids and shifts of all N masks; `masks(start, stop)` makes a slice of them."""

    grids: np.ndarray  # [N, cell, cell] of 0/1
    shifts: np.ndarray  # [N, 2]
    rows: np.ndarray  # interpolation matrices to the upsampled size
    cols: np.ndarray
    height: int
    width: int

    @classmethod
    def draw(cls, height: int, width: int, options: Options) -> "MaskSampler":
        rng = np.random.default_rng(options.seed)
        cell_height, cell_width = -(-height // options.cell), -(-width // options.cell)
        grids = (rng.random((options.masks, options.cell, options.cell)) < options.probability).astype(np.float64)
        shifts = np.stack([rng.integers(0, cell_height, options.masks), rng.integers(0, cell_width, options.masks)], axis=1)
        rows = bilinear_matrix(options.cell, (options.cell + 1) * cell_height)
        cols = bilinear_matrix(options.cell, (options.cell + 1) * cell_width)
        return cls(grids, shifts, rows, cols, height, width)

    def masks(self, start: int, stop: int) -> np.ndarray:
        """[stop - start, H, W] in [0, 1]."""
        # Two matrix products, rows @ grid @ cols^T: about U * cell * (cell + U) operations a mask
        # (U the upsampled side). The one einsum of three operands this replaced looped over every
        # (y, s, t, x), U^2 * cell^2 a mask: 1,280 masks of cell 64 took 17.3 s (issue 29).
        upsampled = np.matmul(np.matmul(self.rows, self.grids[start:stop]), self.cols.T)
        out = np.empty((stop - start, self.height, self.width), np.float32)
        for i, (dy, dx) in enumerate(self.shifts[start:stop]):
            out[i] = upsampled[i, dy : dy + self.height, dx : dx + self.width]
        return out


def cost(graph: ModelGraph, options: Options) -> Cost:
    """masks x (one forward pass + making one mask), plus the prediction: the masks' making grows
    with cell x (upsampled side)^2, which is what made cell=64 slow."""
    height, width, _ = graph.input_shape
    up_height = (options.cell + 1) * -(-height // options.cell)
    up_width = (options.cell + 1) * -(-width // options.cell)
    making = up_height * options.cell * (options.cell + up_width) / MACS_PER_PIXEL_PASS
    return Cost(
        passes(graph, options.masks + 1) + options.masks * making,
        f"RISE with masks={options.masks} and cell={options.cell} on {height}x{width} inputs",
        "masks (or cell)",
    )


def attribute(
    graph: ModelGraph, model_input: np.ndarray, class_index: int | None, options: Options, progress: Progress | None = None
) -> Attribution:
    target = predict_target(graph, model_input, class_index)
    height, width, _ = model_input.shape
    sampler = MaskSampler.draw(height, width, options)
    low = graph.input_range[0]
    total = np.zeros((height, width), np.float64)
    size = batch_size(graph, BATCH, backward=False)
    for start in range(0, options.masks, size):
        stop = min(start + size, options.masks)
        masks = sampler.masks(start, stop)
        scores = graph.probabilities(low + (model_input[None] - low) * masks[..., None])[:, target.class_index]
        total += np.tensordot(scores.astype(np.float64), masks, axes=(0, 0))
        if progress:
            progress(stop, options.masks)
    raw = (total / (options.masks * options.probability)).astype(np.float32)
    extras = {"masks": options.masks, "cell": options.cell, "probability": options.probability, "seed": options.seed}
    return Attribution(raw=raw, heatmap=normalise(raw), target=target, extras=extras)


METHOD = Method(
    name="rise",
    title="RISE",
    endpoint="saliency",
    options=Options,
    attribute=attribute,
    reference="Petsiuk, Das & Saenko 2018, RISE: Randomized Input Sampling for Explanation of Black-box Models",
    long_job=True,
    cost=cost,
)
