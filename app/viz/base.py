"""What every attribution method shares: its signature, its options, its result, its table entry.

Each method module declares `METHOD = Method(...)` and exposes

    attribute(graph, model_input, class_index, options, progress=None) -> Attribution

`model_input` is the `[H, W, C]` array the model sees (in its own input range); `class_index` is
a valid class, or None for the model's top-1 prediction; `options` is the method's own pydantic
model, already `resolved` for this model; `progress(done, total)` is called for long runs and may
raise `Cancelled` to stop one. The score differentiated is the class's pre-softmax logit: a
saturated softmax has ~0 gradient (Selvaraju et al. 2017, section 3; Simonyan et al. 2014, section 3.1).

Every method also declares what a run costs for given options, `cost(graph, options) -> Cost`,
in pixel passes (`Cost`), so a request over `CONVNET_VIS_MAX_EXPLANATION_COST` is refused with
422 before any work, naming the options to lower (`Cost.check`).

Every method answers the class it explained and the model's probabilities for the input
(`Target`): a one-pass method gets them from the same compiled call as its gradients, so an
explanation costs one call into TensorFlow, not a prediction and then a gradient.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Self

import numpy as np
from pydantic import BaseModel, ConfigDict

from app.errors import InvalidOption
from app.graph import ModelGraph

Progress = Callable[[int, int], None]


class Cancelled(Exception):
    """Raised by a progress callback when the client has gone away."""


class MethodOptions(BaseModel):
    """A method's documented parameters; the bounds on each field are the API's limits."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def resolved(self, graph: ModelGraph) -> Self:
        """Fill defaults that depend on the model and check limits that do (InvalidOption)."""
        return self


# A forward pass of one image costs its pixels; a gradient (forward and backward) about three times that.
FORWARD, GRADIENT = 1, 3


@dataclass(frozen=True)
class Cost:
    """What a run costs, in pixel passes: a forward pass of one H x W image counts H * W, a
    gradient 3 H * W (the backward pass costs about twice the forward). The model's own size is
    not counted: the unit says how the options multiply the work, which is what a request chooses.
    `what` describes the run; `lower` names the options that make it cheaper."""

    pixel_passes: float
    what: str
    lower: str

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(self.pixel_passes + other.pixel_passes, f"{self.what} {other.what}", f"{self.lower}, or {other.lower}")

    def check(self, limit: float) -> None:
        """422 past `limit`, saying what the run costs, the limit's setting and what to lower."""
        if self.pixel_passes > limit:
            raise InvalidOption(
                f"{self.what} costs about {self.pixel_passes:,.0f} pixel passes; the limit is {limit:,.0f} "
                f"(CONVNET_VIS_MAX_EXPLANATION_COST). Lower {self.lower}."
            )


def passes(graph: ModelGraph, count: float, kind: int = FORWARD) -> float:
    """Pixel passes of `count` passes of the model's input."""
    height, width, _ = graph.input_shape
    return count * kind * height * width


def one_gradient(graph: ModelGraph, options: MethodOptions) -> Cost:
    """One-pass methods (Grad-CAM, saliency): no option changes their cost."""
    return Cost(passes(graph, 1, GRADIENT), "one gradient pass", "nothing: it is always allowed")


@dataclass(frozen=True)
class Target:
    """The class explained (the top-1 when none was asked for) and the model's probabilities."""

    class_index: int
    probabilities: np.ndarray


@dataclass
class Attribution:
    raw: np.ndarray  # the method's own map, unnormalised (Grad-CAM: at the layer's resolution)
    heatmap: np.ndarray  # [H, W] at the input's resolution; in [0, 1] except occlusion's signed map
    target: Target
    extras: dict = field(default_factory=dict)  # method-specific values for the response


@dataclass(frozen=True)
class Method:
    """One row of the method table (`app.viz.methods`)."""

    name: str  # the value of `method=` on its endpoint
    title: str
    endpoint: str  # gradcam | occlusion | saliency
    options: type[MethodOptions]
    attribute: Callable[..., Attribution]
    reference: str  # the paper
    long_job: bool = False  # many passes: limited per worker, can stream progress
    raw_field: str = "raw"
    warning: str | None = None  # shown wherever the method's maps are (page, docs, GET /api/methods)
    warm_up: Callable[[ModelGraph], None] | None = None
    cost: Callable[[ModelGraph, MethodOptions], Cost] = one_gradient  # options already resolved


ACTIVATION_BUDGET = 512 * 1024 * 1024  # activations one batched pass may hold


def batch_size(graph: ModelGraph, cap: int, backward: bool) -> int:
    """Images per pass: at most `cap`, and few enough that their activations fit the budget (a
    forward pass holds about two layers' outputs at a time; a backward pass keeps every layer's)."""
    layers = graph.layers
    per_image = 2 * (layers.activation_bytes if backward else layers.largest_output_bytes)
    return int(max(1, min(cap, ACTIVATION_BUDGET // max(1, per_image))))


def normalise(values: np.ndarray) -> np.ndarray:
    """Scale to [0, 1] by the maximum; an all-zero map stays zero (no NaN)."""
    values = np.maximum(np.asarray(values, dtype=np.float32), 0.0)
    peak = float(values.max()) if values.size else 0.0
    return values / peak if peak > 1e-12 else np.zeros_like(values)


def check_class(graph: ModelGraph, class_index: int | None) -> None:
    if class_index is not None and not 0 <= class_index < graph.num_classes:
        raise InvalidOption(f"class_index {class_index} is out of range: this model has classes 0 to {graph.num_classes - 1}.")


def predict_target(graph: ModelGraph, model_input: np.ndarray, class_index: int | None) -> Target:
    """One forward pass: for methods that need the class before their own (batched) passes."""
    check_class(graph, class_index)
    probabilities = graph.probabilities(model_input[None])[0]
    return Target(int(np.argmax(probabilities)) if class_index is None else class_index, probabilities)
