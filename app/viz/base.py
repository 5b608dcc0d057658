"""What every attribution method shares: its signature, its result, and how it names its target.

Each method module exposes

    attribute(graph, model_input, class_index, options, progress=None) -> Attribution

`model_input` is the `[H, W, C]` array the model sees (in its own input range); `class_index` is
already validated; `options` is the method's own frozen dataclass of documented parameters;
`progress(done, total)` is called for long runs and may raise `Cancelled` to stop one.
The "score" differentiated is the class's pre-softmax logit (methods.md, trap 3).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from app.errors import InvalidOption, NotFound
from app.graph import ModelGraph

Progress = Callable[[int, int], None]


class Cancelled(Exception):
    """Raised by a progress callback when the client has gone away."""


@dataclass
class Attribution:
    raw: np.ndarray  # the method's own map, unnormalised (Grad-CAM: at the layer's resolution)
    heatmap: np.ndarray  # [H, W] in [0, 1], at the input's resolution
    extras: dict = field(default_factory=dict)  # method-specific values for the response


def normalise(values: np.ndarray) -> np.ndarray:
    """Scale to [0, 1] by the maximum; an all-zero map stays zero (no NaN)."""
    values = np.maximum(np.asarray(values, dtype=np.float32), 0.0)
    peak = float(values.max()) if values.size else 0.0
    return values / peak if peak > 1e-12 else np.zeros_like(values)


def resolve_class(graph: ModelGraph, class_index: int | None, probabilities: np.ndarray) -> int:
    if class_index is None:
        return int(np.argmax(probabilities))
    if not 0 <= class_index < graph.num_classes:
        raise InvalidOption(f"class_index {class_index} is out of range: this model has classes 0 to {graph.num_classes - 1}.")
    return class_index


def resolve_spatial_layer(graph: ModelGraph, layer: str | None) -> str:
    name = layer or graph.default_gradcam_layer
    if name is None:
        raise InvalidOption("This model has no layer with a spatial [h, w, c] output, so Grad-CAM cannot be computed.")
    if name not in graph.nodes:
        raise NotFound(f"Unknown layer {name!r}. Layers with a spatial output: {', '.join(graph.spatial_layers())}.")
    if len(graph.nodes[name].output_shape) != 3:
        raise InvalidOption(
            f"Layer {name!r} has output shape {list(graph.nodes[name].output_shape)}, not a spatial [h, w, c] map. "
            f"Choose one of: {', '.join(graph.spatial_layers())}."
        )
    return name


def check_cap(name: str, value: int | float, low: int | float, high: int | float) -> None:
    if not low <= value <= high:
        raise InvalidOption(f"{name} must be between {low} and {high}; got {value}.")
