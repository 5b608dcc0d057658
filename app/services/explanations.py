"""Any method of the method table, answered with the fields every explanation shares."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from app.colormap import overlay
from app.encoding import ArrayOptions, png_data_url
from app.errors import InvalidOption
from app.registry import ServedModel
from app.services.analysis import response_head
from app.viz.base import Method, MethodOptions, Progress, check_class, normalise
from app.viz.methods import METHODS


def method_named(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise InvalidOption(f"Unknown method {name!r}. Methods: {', '.join(METHODS)} (GET /api/methods).") from None


def prepare(served: ServedModel, method: Method, values: dict) -> MethodOptions:
    """The method's options from request values, resolved for this model (422 before any work)."""
    fields = {name: values[name] for name in method.options.model_fields if name in values}
    return method.options(**fields).resolved(served.graph)


def explain(
    served: ServedModel,
    model_input: np.ndarray,
    method: Method,
    options: MethodOptions,
    class_index: int | None,
    arrays: ArrayOptions,
    progress: Progress | None = None,
) -> dict:
    """Attribute (the method predicts in the same pass), and add the overlay picture."""
    attribution = method.attribute(served.graph, model_input, class_index, options, progress)
    target = attribution.target
    # Occlusion's heatmap is in signed probability units; the picture shows its positive part.
    picture = overlay(model_input, normalise(attribution.heatmap), served.card.input_range)
    return {
        **response_head(served, model_input, target.probabilities, arrays),
        "method": method.name,
        "class_index": target.class_index,
        "label": served.card.classes[target.class_index],
        method.raw_field: arrays.encode(attribution.raw),
        "heatmap": arrays.encode(attribution.heatmap),
        "overlay": png_data_url(picture),
        **attribution.extras,
    }


def job(served: ServedModel, model_input: np.ndarray, method: Method, values: dict, arrays: ArrayOptions) -> Callable:
    """Options checked now; the work as `job(progress)` for a thread or a progress stream."""
    options = prepare(served, method, values)
    class_index = values.get("class_index")
    check_class(served.graph, class_index)

    def run(progress: Progress | None) -> dict:
        return explain(served, model_input, method, options, class_index, arrays, progress)

    return run
