"""SmoothGrad: Smilkov et al. 2017, "SmoothGrad: removing noise by adding noise", eq. 3:
the saliency map averaged over `samples` copies of the input with Gaussian noise of standard
deviation `noise_level` x (input range), all in one or a few batches. Seeded, so repeatable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.graph import ModelGraph
from app.viz.base import Attribution, Progress, normalise
from app.viz.gradient_saliency import saliency_map
from app.viz.gradients import input_gradients

BATCH = 32


@dataclass(frozen=True)
class Options:
    samples: int
    noise_level: float  # sigma as a fraction of the model's input range (the paper: 10-20%)
    input_range: tuple[float, float]
    seed: int = 0
    absolute: bool = True


def attribute(
    graph: ModelGraph, model_input: np.ndarray, class_index: int, options: Options, progress: Progress | None = None
) -> Attribution:
    low, high = options.input_range
    sigma = options.noise_level * (high - low)
    rng = np.random.default_rng(options.seed)
    total = np.zeros(model_input.shape[:2], np.float64)
    for start in range(0, options.samples, BATCH):
        count = min(BATCH, options.samples - start)
        noisy = model_input[None] + rng.normal(0.0, sigma, (count, *model_input.shape)).astype(np.float32)
        gradients, _ = input_gradients(graph, noisy, class_index)
        total += saliency_map(gradients, options.absolute).sum(axis=0)
        if progress:
            progress(start + count, options.samples)
    raw = (total / options.samples).astype(np.float32)
    extras = {"samples": options.samples, "noise_level": options.noise_level, "absolute": options.absolute}
    return Attribution(raw=raw, heatmap=normalise(np.abs(raw)), extras=extras)
