"""Grad-CAM: Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization" (ICCV), eq. 1-2.

alpha_k = spatial mean of d y^c / d A^k, with y^c the pre-softmax class score;
raw = ReLU(sum_k alpha_k A^k) at layer L's resolution, unnormalised;
heatmap = raw / max(raw), bilinearly resized to the input size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from app.graph import ModelGraph
from app.viz.base import Attribution, Progress, normalise
from app.viz.gradients import layer_gradients
from app.viz.resize import upsample


@dataclass(frozen=True)
class Options:
    layer: str  # a layer with a spatial [h, w, c] output (already resolved)


def weighted_map(feature_map: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ReLU(sum_k w_k A^k) for one image: A [h, w, k], w [k]."""
    return np.maximum(np.tensordot(feature_map, weights, axes=([-1], [0])), 0.0).astype(np.float32)


def attribute(
    graph: ModelGraph, model_input: np.ndarray, class_index: int, options: Options, progress: Progress | None = None
) -> Attribution:
    feature_map, gradient, _ = layer_gradients(graph, options.layer, model_input[None], class_index)
    # Per-sample spatial mean; the keras.io version also averages over the batch (methods.md).
    weights = gradient[0].mean(axis=(0, 1))
    raw = weighted_map(feature_map[0], weights)
    return Attribution(raw=raw, heatmap=upsample(normalise(raw), graph.input_shape[:2]), extras={"layer": options.layer})
