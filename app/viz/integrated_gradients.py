"""Integrated Gradients: Sundararajan, Taly & Yan 2017, "Axiomatic Attribution for Deep
Networks" (ICML), eq. 3 with the trapezoid rule over `steps` intervals of the straight path:

attribution = (x - x') * mean over the path of d S / d x, S the pre-softmax class score.

Completeness (the paper's axiom): the attributions sum to S(x) - S(x'); the response reports both
sides so a client can check the approximation. `raw` keeps the channels [H, W, C] (signed);
the heatmap is the channel sum of |attribution|, scaled to [0, 1].
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from app.graph import ModelGraph
from app.viz.base import Attribution, Method, MethodOptions, Progress, batch_size, normalise, predict_target
from app.viz.gradients import input_gradients

BATCH = 32
MAX_STEPS = 512


class Options(MethodOptions):
    steps: int = Field(64, ge=1, le=MAX_STEPS, description=f"intervals on the path (1 to {MAX_STEPS})")
    baseline: float = Field(
        0.0, ge=0, le=1, description="baseline value as a fraction of the input range (0 = black)"
    )


def attribute(
    graph: ModelGraph, model_input: np.ndarray, class_index: int | None, options: Options, progress: Progress | None = None
) -> Attribution:
    target = predict_target(graph, model_input, class_index)
    low, high = graph.input_range
    baseline_value = low + options.baseline * (high - low)
    baseline = np.full_like(model_input, baseline_value)
    alphas = np.linspace(0.0, 1.0, options.steps + 1, dtype=np.float32)
    gradients = np.empty((len(alphas), *model_input.shape), np.float64)
    scores = np.empty(len(alphas), np.float64)
    size = batch_size(graph, BATCH, backward=True)
    for start in range(0, len(alphas), size):
        chunk = alphas[start : start + size]
        path = baseline[None] + chunk[:, None, None, None] * (model_input - baseline)[None]
        result = input_gradients(graph, path, target.class_index)
        gradients[start : start + len(chunk)], scores[start : start + len(chunk)] = result.gradient, result.score
        if progress:
            progress(start + len(chunk), len(alphas))
    average = (gradients[:-1] + gradients[1:]).sum(axis=0) / (2.0 * options.steps)
    attributions = ((model_input - baseline) * average).astype(np.float32)
    return Attribution(
        raw=attributions,
        heatmap=normalise(np.abs(attributions).sum(axis=-1)),
        target=target,
        extras={
            "steps": options.steps,
            "baseline": baseline_value,
            "attribution_sum": float(attributions.sum()),
            "score_difference": float(scores[-1] - scores[0]),
        },
    )


METHOD = Method(
    name="integrated_gradients",
    title="Integrated Gradients",
    endpoint="saliency",
    options=Options,
    attribute=attribute,
    reference="Sundararajan, Taly & Yan 2017, Axiomatic Attribution for Deep Networks",
    long_job=True,
)
