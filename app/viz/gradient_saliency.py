"""Vanilla gradient saliency: Simonyan, Vedaldi & Zisserman 2014, "Deep Inside Convolutional
Networks: Visualising Image Classification Models and Saliency Maps" (ICLR workshop), section 3.1:
M_ij = max_c |d S / d x_ijc|, S the pre-softmax class score.

`absolute=False` gives the signed map sum_c d S / d x_ijc instead: Adebayo et al. 2018 ("Sanity
Checks for Saliency Maps") show that absolute values keep the input's edges even when the
model's top layers are randomised, while signed maps reveal that the explanation changed.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from app.graph import ModelGraph
from app.viz.base import Attribution, Method, MethodOptions, Progress, normalise
from app.viz.gradients import input_gradients, warm_up_input_gradients

ABSOLUTE_DESCRIPTION = "max_c |gradient| (default) or, if false, the signed sum over c"


class Options(MethodOptions):
    absolute: bool = Field(True, description=ABSOLUTE_DESCRIPTION)


def saliency_map(gradients: np.ndarray, absolute: bool = True) -> np.ndarray:
    """[..., H, W, C] gradients -> [..., H, W]: max_c of the magnitude, or the signed sum over c."""
    return np.abs(gradients).max(axis=-1) if absolute else gradients.sum(axis=-1)


def attribute(
    graph: ModelGraph, model_input: np.ndarray, class_index: int | None, options: Options, progress: Progress | None = None
) -> Attribution:
    result = input_gradients(graph, model_input[None], class_index)
    raw = saliency_map(result.gradient[0], options.absolute).astype(np.float32)
    return Attribution(raw=raw, heatmap=normalise(np.abs(raw)), target=result.target, extras={"absolute": options.absolute})


METHOD = Method(
    name="gradient",
    title="Gradient saliency",
    endpoint="saliency",
    options=Options,
    attribute=attribute,
    reference="Simonyan, Vedaldi & Zisserman 2014, Deep Inside Convolutional Networks: Visualising Image "
    "Classification Models and Saliency Maps",
    warm_up=warm_up_input_gradients,
)
