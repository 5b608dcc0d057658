"""Grad-CAM++: Chattopadhyay et al. 2018, "Grad-CAM++: Generalized Gradient-based Visual
Explanations for Deep Convolutional Networks" (WACV), eq. 19.

With Y = exp(S) and S the pre-softmax score, the higher derivatives of Y are powers of the first
derivative g = dS/dA (exact for piecewise-linear networks), so

    alpha_kij = g^2 / (2 g^2 + sum_ab A_kab g^3)     (0 where the denominator is 0)
    w_k       = sum_ij alpha_kij ReLU(g_kij)
    raw       = ReLU(sum_k w_k A^k)

The common factor exp(S) of the weights is left out, as in tf-keras-vis: it scales `raw` only.
"""

from __future__ import annotations

import numpy as np

from app.graph import ModelGraph
from app.viz.base import Attribution, Method, Progress
from app.viz.gradcam import Options, class_map, weighted_map
from app.viz.gradients import layer_gradients


def attribute(
    graph: ModelGraph, model_input: np.ndarray, class_index: int | None, options: Options, progress: Progress | None = None
) -> Attribution:
    result = layer_gradients(graph, options.layer, model_input[None], class_index)
    activations, g = result.feature_map[0].astype(np.float64), result.gradient[0].astype(np.float64)
    g2, g3 = g**2, g**3
    denominator = 2.0 * g2 + activations.sum(axis=(0, 1), keepdims=True) * g3
    safe = np.where(np.abs(denominator) > 1e-12, denominator, 1.0)
    alpha = np.where(np.abs(denominator) > 1e-12, g2 / safe, 0.0)
    weights = (alpha * np.maximum(g, 0.0)).sum(axis=(0, 1))
    raw = weighted_map(activations.astype(np.float32), weights.astype(np.float32))
    return class_map(graph, raw, options.layer, result.target)


METHOD = Method(
    name="gradcam++",
    title="Grad-CAM++",
    endpoint="gradcam",
    options=Options,
    attribute=attribute,
    reference="Chattopadhyay et al. 2018, Grad-CAM++: Generalized Gradient-based Visual Explanations for Deep Convolutional Networks",
)
