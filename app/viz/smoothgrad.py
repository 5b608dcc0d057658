"""SmoothGrad: Smilkov et al. 2017, "SmoothGrad: removing noise by adding noise", eq. 3:
the saliency map averaged over `samples` copies of the input with Gaussian noise of standard
deviation `noise_level` x (input range), in batches. Seeded, so repeatable.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from app.graph import ModelGraph
from app.viz.base import GRADIENT, Attribution, Cost, Method, MethodOptions, Progress, batch_size, normalise, passes, predict_target
from app.viz.gradient_saliency import ABSOLUTE_DESCRIPTION, saliency_map
from app.viz.gradients import input_gradients

BATCH = 32
MAX_SAMPLES = 256


class Options(MethodOptions):
    samples: int = Field(50, ge=1, le=MAX_SAMPLES, description=f"noisy copies averaged (1 to {MAX_SAMPLES})")
    # the paper finds 10-20% of the input range best
    noise_level: float = Field(0.15, ge=0, le=1, description="noise sigma as a fraction of the input range (0 to 1)")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="random seed of the noise")
    absolute: bool = Field(True, description=ABSOLUTE_DESCRIPTION)


def cost(graph: ModelGraph, options: Options) -> Cost:
    """One gradient per noisy copy, plus the prediction."""
    height, width, _ = graph.input_shape
    return Cost(
        passes(graph, options.samples, GRADIENT) + passes(graph, 1),
        f"SmoothGrad with samples={options.samples} on {height}x{width} inputs",
        "samples",
    )


def attribute(
    graph: ModelGraph, model_input: np.ndarray, class_index: int | None, options: Options, progress: Progress | None = None
) -> Attribution:
    target = predict_target(graph, model_input, class_index)  # the clean input's class, not each noisy copy's
    low, high = graph.input_range
    sigma = options.noise_level * (high - low)
    rng = np.random.default_rng(options.seed)
    total = np.zeros(model_input.shape[:2], np.float64)
    size = batch_size(graph, BATCH, backward=True)
    for start in range(0, options.samples, size):
        # one generator drawn in order: the noise does not depend on the batch size
        count = min(size, options.samples - start)
        noisy = model_input[None] + rng.normal(0.0, sigma, (count, *model_input.shape)).astype(np.float32)
        gradients = input_gradients(graph, noisy, target.class_index).gradient
        total += saliency_map(gradients, options.absolute).sum(axis=0)
        if progress:
            progress(start + len(noisy), options.samples)
    raw = (total / options.samples).astype(np.float32)
    extras = {"samples": options.samples, "noise_level": options.noise_level, "absolute": options.absolute}
    return Attribution(raw=raw, heatmap=normalise(np.abs(raw)), target=target, extras=extras)


METHOD = Method(
    name="smoothgrad",
    title="SmoothGrad",
    endpoint="saliency",
    options=Options,
    attribute=attribute,
    reference="Smilkov et al. 2017, SmoothGrad: removing noise by adding noise",
    long_job=True,
    cost=cost,
)
