"""Guided Grad-CAM: Selvaraju et al. 2017, "Grad-CAM: Visual Explanations from Deep Networks via
Gradient-based Localization" (ICCV), section 3.1: guided backpropagation (Springenberg et al.
2015) multiplied pixel by pixel by the Grad-CAM heatmap upsampled to the input size, so that the
sharp guided gradients are kept only where Grad-CAM localises the class.

raw = guided gradient [H, W, C] * Grad-CAM heatmap [H, W] (in [0, 1]); heatmap = max_c |raw|
scaled to [0, 1]. The guided factor makes it fail Adebayo et al.'s randomisation check as guided
backprop does (tests/viz/test_saliency.py).
"""

from __future__ import annotations

import numpy as np

from app.graph import ModelGraph
from app.viz import gradcam
from app.viz.base import Attribution, Method, Progress, normalise
from app.viz.gradient_saliency import saliency_map
from app.viz.gradients import input_gradients
from app.viz.guided_backprop import WARNING


def attribute(
    graph: ModelGraph, model_input: np.ndarray, class_index: int | None, options: gradcam.Options, progress: Progress | None = None
) -> Attribution:
    cam = gradcam.attribute(graph, model_input, class_index, options)
    guided = input_gradients(graph, model_input[None], cam.target.class_index, guided=True).gradient[0]
    raw = (guided * cam.heatmap[..., None]).astype(np.float32)
    return Attribution(raw=raw, heatmap=normalise(saliency_map(raw)), target=cam.target, extras=cam.extras)


METHOD = Method(
    name="guided_gradcam",
    title="Guided Grad-CAM",
    endpoint="gradcam",
    options=gradcam.Options,
    attribute=attribute,
    reference="Selvaraju et al. 2017, Grad-CAM: Visual Explanations from Deep Networks via Gradient-based Localization",
    warning=WARNING,
)
