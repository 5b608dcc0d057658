"""Grad-CAM++: Chattopadhyay et al. 2018, "Grad-CAM++: Generalized Gradient-based Visual
Explanations for Deep Convolutional Networks" (WACV), eq. 19.

With Y = exp(S) and S the pre-softmax score, the higher derivatives of Y are powers of the first
derivative g = dS/dA (exact for piecewise-linear networks), so

    alpha_kij = g^2 / (2 g^2 + sum_ab A_kab g^3)     (0 where the denominator is 0)
    w_k       = sum_ij alpha_kij ReLU(g_kij)
    raw       = ReLU(sum_k w_k A^k)

The common factor exp(S) of the weights is left out, as in tf-keras-vis: it scales `raw` only.

`normalise_alpha=true` divides alpha by its spatial sum per channel before weighting, as
tf-keras-vis 0.8.7 (`GradcamPlusPlus`) does; its maps then equal tf-keras-vis's. Eq. 19 as
written stays the default: the normalisation is not in the paper, and on small maps the two can
disagree even in sign (on mnist-convnet's conv3, over the first 100 test digits, their maps
correlate at a median of 0.85 and at -0.45 for test digit 43).
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from app.graph import ModelGraph
from app.viz import gradcam
from app.viz.base import Attribution, Method, Progress
from app.viz.gradcam import class_map, weighted_map
from app.viz.gradients import layer_gradients


class Options(gradcam.Options):
    normalise_alpha: bool = Field(
        False, description="divide alpha by its spatial sum per channel (tf-keras-vis's convention); default: eq. 19 as written"
    )


def attribute(
    graph: ModelGraph, model_input: np.ndarray, class_index: int | None, options: Options, progress: Progress | None = None
) -> Attribution:
    result = layer_gradients(graph, options.layer, model_input[None], class_index)
    activations, g = result.feature_map[0].astype(np.float64), result.gradient[0].astype(np.float64)
    g2, g3 = g**2, g**3
    denominator = 2.0 * g2 + activations.sum(axis=(0, 1), keepdims=True) * g3
    safe = np.where(np.abs(denominator) > 1e-12, denominator, 1.0)
    alpha = np.where(np.abs(denominator) > 1e-12, g2 / safe, 0.0)
    if options.normalise_alpha:
        total = alpha.sum(axis=(0, 1), keepdims=True)
        alpha = alpha / np.where(total == 0.0, 1.0, total)
    weights = (alpha * np.maximum(g, 0.0)).sum(axis=(0, 1))
    raw = weighted_map(activations.astype(np.float32), weights.astype(np.float32))
    attribution = class_map(graph, raw, options.layer, result.target)
    attribution.extras["normalise_alpha"] = options.normalise_alpha
    return attribution


METHOD = Method(
    name="gradcam++",
    title="Grad-CAM++",
    endpoint="gradcam",
    options=Options,
    attribute=attribute,
    reference="Chattopadhyay et al. 2018, Grad-CAM++: Generalized Gradient-based Visual Explanations for Deep Convolutional Networks",
)
