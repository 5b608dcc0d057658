"""Guided Backpropagation: Springenberg, Dosovitskiy, Brox & Riedmiller 2015, "Striving for
Simplicity: The All Convolutional Net" (ICLR workshop), section 3.4 and figure 1: the gradient of
the class score with respect to the input, where every ReLU passes the gradient back only where
both its input and the incoming gradient are positive (`app.viz.gradients`, `guided=True`).

`raw` is the signed guided gradient [H, W, C]; the heatmap is max_c |raw|, scaled to [0, 1], as for
gradient saliency. The maps are sharp, but Adebayo et al. 2018 ("Sanity Checks for Saliency
Maps") show they barely change when the model's top layers are re-initialised: they reconstruct
the input's edges more than they show what the model uses (tests/viz/test_saliency.py shows it
on mnist-convnet).
"""

from __future__ import annotations

import numpy as np

from app.graph import ModelGraph
from app.viz.base import Attribution, Method, MethodOptions, Progress, normalise
from app.viz.gradient_saliency import saliency_map
from app.viz.gradients import input_gradients

WARNING = (
    "Fails Adebayo et al.'s (2018) randomisation check: the map barely changes when the model's top layers "
    "are re-initialised, so it shows the input's edges more than what the model uses. Prefer Grad-CAM, "
    "occlusion or RISE to learn what the model relies on."
)


class Options(MethodOptions):
    pass


def attribute(
    graph: ModelGraph, model_input: np.ndarray, class_index: int | None, options: Options, progress: Progress | None = None
) -> Attribution:
    result = input_gradients(graph, model_input[None], class_index, guided=True)
    raw = result.gradient[0].astype(np.float32)
    return Attribution(raw=raw, heatmap=normalise(saliency_map(raw)), target=result.target)


METHOD = Method(
    name="guided_backprop",
    title="Guided Backprop",
    endpoint="saliency",
    options=Options,
    attribute=attribute,
    reference="Springenberg et al. 2015, Striving for Simplicity: The All Convolutional Net",
    warning=WARNING,
)
