"""Layer-CAM: Jiang et al. 2021, "LayerCAM: Exploring Hierarchical Class Activation Maps for
Localization" (IEEE TIP), eq. 5: each position weighs its own activations by the positive part of
its own gradient, instead of one spatial mean per channel as Grad-CAM does,

    raw = ReLU(sum_k ReLU(d S / d A^k_ij) * A^k_ij)

so maps from early, high-resolution layers keep their fine detail.
"""

from __future__ import annotations

import numpy as np

from app.graph import ModelGraph
from app.viz.base import Attribution, Method, Progress
from app.viz.gradcam import Options, class_map
from app.viz.gradients import layer_gradients


def attribute(
    graph: ModelGraph, model_input: np.ndarray, class_index: int | None, options: Options, progress: Progress | None = None
) -> Attribution:
    result = layer_gradients(graph, options.layer, model_input[None], class_index)
    positive = np.maximum(result.gradient[0], 0.0)
    raw = np.maximum((positive * result.feature_map[0]).sum(axis=-1), 0.0).astype(np.float32)
    return class_map(graph, raw, options.layer, result.target)


METHOD = Method(
    name="layercam",
    title="Layer-CAM",
    endpoint="gradcam",
    options=Options,
    attribute=attribute,
    reference="Jiang et al. 2021, LayerCAM: Exploring Hierarchical Class Activation Maps for Localization",
)
