"""The 2-D map a lab works on: a channel of the model input, or of one layer's output for it."""

from __future__ import annotations

import numpy as np

from app.errors import InvalidOption
from app.graph import INPUT_NAME, LayerNeed, ModelGraph


def feature_map(graph: ModelGraph, model_input: np.ndarray, layer: str | None, channel: int) -> tuple[str, np.ndarray]:
    """(the source's name, its map [h, w]); `layer` None or "input" is the model input itself."""
    if layer in (None, "", INPUT_NAME):
        name, values = INPUT_NAME, model_input
    else:
        node = graph.layers.get(layer, LayerNeed.spatial)
        name, values = node.name, graph.feature(graph.run(model_input[None]), node.name)[0]
    channels = values.shape[-1]
    if not 0 <= channel < channels:
        raise InvalidOption(f"channel {channel} is out of range: {name} has channels 0 to {channels - 1}.")
    return name, np.asarray(values[..., channel], np.float32)
