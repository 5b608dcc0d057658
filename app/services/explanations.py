"""Any method of the method table, answered with the fields every explanation shares.

Every explanation endpoint also takes the options of `ResponseOptions`, declared once here:
`fields=` to leave out the parts a caller does not need (each part left out is work not done:
the overlay's PNG, an array's encoding), and `faithfulness=true` for the deletion and insertion
curves of the map (`app.viz.faithfulness`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from pydantic import Field

from app.colormap import enlargement, overlay_pixels
from app.encoding import ArrayOptions, enlarged_png_data_url
from app.errors import InvalidOption
from app.registry import ServedModel
from app.services.analysis import response_head
from app.viz.base import Cost, Method, MethodOptions, Progress, check_class, normalise
from app.viz import faithfulness
from app.viz.faithfulness import FaithfulnessOptions, deletion_insertion
from app.viz.methods import METHODS

PARTS = ("input", "prediction", "raw", "heatmap", "overlay")


class ResponseOptions(FaithfulnessOptions):
    fields: str | None = Field(
        None,
        description="comma-separated parts to send, of input, prediction, raw (occlusion: grid), heatmap, overlay; "
        "default: all. The method, class and its scalars are always sent",
    )

    def parts(self, method: Method) -> set[str]:
        """The parts to send; 422 names an unknown one."""
        if self.fields is None:
            return set(PARTS)
        names = {name.strip() for name in self.fields.split(",") if name.strip()}
        names = {"raw" if name == method.raw_field else name for name in names}
        unknown = sorted(names - set(PARTS))
        if unknown:
            allowed = ", ".join(PARTS if method.raw_field == "raw" else [*PARTS, method.raw_field])
            raise InvalidOption(f"Unknown field(s) {', '.join(map(repr, unknown))} in fields=; fields: {allowed}.")
        return names


def method_named(name: str) -> Method:
    try:
        return METHODS[name]
    except KeyError:
        raise InvalidOption(f"Unknown method {name!r}. Methods: {', '.join(METHODS)} (GET /api/methods).") from None


def prepare(served: ServedModel, method: Method, values: dict) -> MethodOptions:
    """The method's options from request values, resolved for this model (422 before any work)."""
    fields = {name: values[name] for name in method.options.model_fields if name in values}
    return method.options(**fields).resolved(served.graph)


def cost(served: ServedModel, method: Method, options: MethodOptions, response: ResponseOptions) -> Cost:
    """The method's cost for these options, with the faithfulness curves if asked for."""
    total = method.cost(served.graph, options)
    if response.faithfulness:
        total = total + faithfulness.cost(served.graph, response.faithfulness_steps)
    return total


def explain(
    served: ServedModel,
    model_input: np.ndarray,
    method: Method,
    options: MethodOptions,
    class_index: int | None,
    arrays: ArrayOptions,
    progress: Progress | None = None,
    response: ResponseOptions | None = None,
) -> dict:
    """Attribute (the method predicts in the same pass), then add the parts asked for."""
    response = response or ResponseOptions()
    parts = response.parts(method)
    graph = served.graph
    attribution = method.attribute(graph, model_input, class_index, options, progress)
    target = attribution.target
    answer = {
        **response_head(served, model_input, target.probabilities, arrays, parts),
        "method": method.name,
        "class_index": target.class_index,
        "label": served.card.classes[target.class_index],
        **attribution.extras,
    }
    if "raw" in parts:
        answer[method.raw_field] = arrays.encode(attribution.raw)
    if "heatmap" in parts:
        answer["heatmap"] = arrays.encode(attribution.heatmap)
    if "overlay" in parts:
        # Occlusion's heatmap is in signed probability units; the picture shows its positive part.
        pixels = overlay_pixels(model_input, normalise(attribution.heatmap), served.card.input_range)
        answer["overlay"] = enlarged_png_data_url(pixels, enlargement(*pixels.shape[:2]))
    if response.faithfulness:
        answer["faithfulness"] = deletion_insertion(
            graph, model_input, target.class_index, attribution.heatmap, response.faithfulness_steps
        )
    return answer


def job(
    served: ServedModel, method: Method, values: dict, arrays: ArrayOptions, max_cost: float = float("inf")
) -> Callable[[np.ndarray, Progress | None], dict]:
    """Options checked now, before the body is read, the cost too (422 past `max_cost`); the work
    as `job(model_input, progress)` for a thread or a progress stream."""
    options = prepare(served, method, values)
    response = ResponseOptions(**{name: values[name] for name in ResponseOptions.model_fields if name in values})
    response.parts(method)
    cost(served, method, options, response).check(max_cost)
    class_index = values.get("class_index")
    check_class(served.graph, class_index)

    def run(model_input: np.ndarray, progress: Progress | None) -> dict:
        return explain(served, model_input, method, options, class_index, arrays, progress, response)

    return run
