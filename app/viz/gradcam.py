"""Grad-CAM: Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization" (ICCV), eqs. 1-2, with the score the pre-softmax logit:

alpha_k = mean over (i, j) of d score / d A^k_ij, per image (keras.io's example also averages
over the batch, which is right only for a batch of one); raw = ReLU(sum_k alpha_k A^k) at layer
L's resolution, unnormalised; heatmap = raw / max(raw), bilinearly resized to the input size.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from app.errors import InvalidOption
from app.graph import LayerNeed, ModelGraph
from app.viz.base import Attribution, Method, MethodOptions, Progress, Target, normalise
from app.viz.gradients import layer_gradients, warm_up_layer_gradients
from app.viz.resize import upsample


class Options(MethodOptions):
    layer: str | None = Field(None, description="a layer with a spatial output; default: default_gradcam_layer")

    def resolved(self, graph: ModelGraph) -> "Options":
        name = self.layer or graph.layers.default_gradcam_layer
        if name is None:
            raise InvalidOption("This model has no layer with a spatial [h, w, c] output, so Grad-CAM cannot be computed.")
        graph.layers.get(name, LayerNeed.spatial)
        return self.model_copy(update={"layer": name})


def weighted_map(feature_map: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """ReLU(sum_k w_k A^k) for one image: A [h, w, k], w [k]."""
    return np.maximum(np.tensordot(feature_map, weights, axes=([-1], [0])), 0.0).astype(np.float32)


def class_map(graph: ModelGraph, raw: np.ndarray, layer: str, target: Target) -> Attribution:
    """The CAM family's common result: the raw map, and its normalised upsampling."""
    heatmap = upsample(normalise(raw), graph.input_shape[:2])
    return Attribution(raw=raw, heatmap=heatmap, target=target, extras={"layer": layer})


def attribute(
    graph: ModelGraph, model_input: np.ndarray, class_index: int | None, options: Options, progress: Progress | None = None
) -> Attribution:
    result = layer_gradients(graph, options.layer, model_input[None], class_index)
    weights = result.gradient[0].mean(axis=(0, 1))
    return class_map(graph, weighted_map(result.feature_map[0], weights), options.layer, result.target)


METHOD = Method(
    name="gradcam",
    title="Grad-CAM",
    endpoint="gradcam",
    options=Options,
    attribute=attribute,
    reference="Selvaraju et al. 2017, Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization",
    warm_up=warm_up_layer_gradients,
)
