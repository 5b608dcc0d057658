"""Integrated Gradients: Sundararajan, Taly & Yan 2017, "Axiomatic Attribution for Deep
Networks" (ICML), eq. 3 with the trapezoid rule over `steps` intervals of the straight path:

attribution = (x - x') * mean over the path of d S / d x, S the pre-softmax class score.

Completeness (the paper's axiom): the attributions sum to S(x) - S(x'); the response reports both
sides and their relative gap, so a client can check the approximation. How many steps that needs
varies from input to input (bench/ig_completeness.py measures it), so `tolerance` doubles the
steps until the gap is small enough; the doubled grid reuses every gradient already computed.
`raw` keeps the channels [H, W, C] (signed); the heatmap is the channel sum of |attribution|,
scaled to [0, 1].
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from app.graph import ModelGraph
from app.viz.base import GRADIENT, Attribution, Cost, Method, MethodOptions, Progress, batch_size, normalise, passes, predict_target
from app.viz.gradients import input_gradients

BATCH = 32
MAX_STEPS = 512


class Options(MethodOptions):
    steps: int = Field(64, ge=1, le=MAX_STEPS, description=f"intervals on the path (1 to {MAX_STEPS}); with tolerance, the first try")
    baseline: float = Field(
        0.0, ge=0, le=1, description="baseline value as a fraction of the input range (0 = black)"
    )
    tolerance: float | None = Field(
        None,
        gt=0,
        le=1,
        description=f"adaptive steps: double them (up to {MAX_STEPS}) until the completeness gap "
        "|attribution_sum - score_difference| / |score_difference| is at most this; default: fixed steps",
    )


def most_steps(options: Options) -> int:
    """The steps of the last try: `steps`, or with a tolerance the last doubling within MAX_STEPS."""
    steps = options.steps
    while options.tolerance is not None and 2 * steps <= MAX_STEPS:
        steps *= 2
    return steps


def cost(graph: ModelGraph, options: Options) -> Cost:
    """One gradient per point of the path (steps + 1, the most a tolerance may reach), plus the prediction."""
    height, width, _ = graph.input_shape
    steps = most_steps(options)
    tolerance = "" if options.tolerance is None else f" (up to {steps} with tolerance={options.tolerance:g})"
    return Cost(
        passes(graph, steps + 1, GRADIENT) + passes(graph, 1),
        f"Integrated Gradients with steps={options.steps}{tolerance} on {height}x{width} inputs",
        "steps" if options.tolerance is None else "steps (or drop tolerance)",
    )


def relative_gap(attribution_sum: float, score_difference: float) -> float:
    """How far the attributions are from completeness, relative to what they must add up to."""
    gap = abs(attribution_sum - score_difference)
    return gap / abs(score_difference) if abs(score_difference) > 1e-6 else gap


def attribute(
    graph: ModelGraph, model_input: np.ndarray, class_index: int | None, options: Options, progress: Progress | None = None
) -> Attribution:
    target = predict_target(graph, model_input, class_index)
    low, high = graph.input_range
    baseline_value = low + options.baseline * (high - low)
    baseline = np.full_like(model_input, baseline_value)
    size = batch_size(graph, BATCH, backward=True)
    done, planned = 0, options.steps + 1

    def on_path(alphas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gradients [n, H, W, C] and scores [n] at baseline + alpha (x - baseline), batched."""
        nonlocal done
        gradients = np.empty((len(alphas), *model_input.shape), np.float64)
        scores = np.empty(len(alphas), np.float64)
        for start in range(0, len(alphas), size):
            chunk = alphas[start : start + size]
            path = baseline[None] + chunk[:, None, None, None] * (model_input - baseline)[None]
            result = input_gradients(graph, path, target.class_index)
            gradients[start : start + len(chunk)], scores[start : start + len(chunk)] = result.gradient, result.score
            done += len(chunk)
            if progress:
                progress(done, planned)
        return gradients, scores

    steps = options.steps
    gradients, scores = on_path(np.linspace(0.0, 1.0, steps + 1, dtype=np.float32))
    while True:
        average = (gradients[:-1] + gradients[1:]).sum(axis=0) / (2.0 * steps)
        attributions = ((model_input - baseline) * average).astype(np.float32)
        gap = relative_gap(float(attributions.sum()), float(scores[-1] - scores[0]))
        if options.tolerance is None or gap <= options.tolerance or 2 * steps > MAX_STEPS:
            break
        # the doubled grid keeps every point already computed: only the midpoints are new
        planned += steps
        midpoints = ((2 * np.arange(steps) + 1) / (2 * steps)).astype(np.float32)
        mid_gradients, mid_scores = on_path(midpoints)
        gradients = _interleave(gradients, mid_gradients)
        scores = _interleave(scores, mid_scores)
        steps *= 2
    return Attribution(
        raw=attributions,
        heatmap=normalise(np.abs(attributions).sum(axis=-1)),
        target=target,
        extras={
            "steps": steps,
            "baseline": baseline_value,
            "attribution_sum": float(attributions.sum()),
            "score_difference": float(scores[-1] - scores[0]),
            "completeness_gap": gap,
        },
    )


def _interleave(points: np.ndarray, midpoints: np.ndarray) -> np.ndarray:
    merged = np.empty((len(points) + len(midpoints), *points.shape[1:]), points.dtype)
    merged[0::2], merged[1::2] = points, midpoints
    return merged


METHOD = Method(
    name="integrated_gradients",
    title="Integrated Gradients",
    endpoint="saliency",
    options=Options,
    attribute=attribute,
    reference="Sundararajan, Taly & Yan 2017, Axiomatic Attribution for Deep Networks",
    long_job=True,
    cost=cost,
)
