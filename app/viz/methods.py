"""The method table: every explanation method the API serves, by name.

Adding a method is one module that declares `METHOD` (see `app.viz.base`) and one line here; the
HTTP endpoints, their query parameters and bounds, and the page's method list come from this table.
"""

from __future__ import annotations

from app.graph import ModelGraph
from app.viz import (
    gradcam,
    gradcam_plus_plus,
    gradient_saliency,
    guided_backprop,
    guided_gradcam,
    integrated_gradients,
    layercam,
    occlusion,
    rise,
    scorecam,
    smoothgrad,
)
from app.viz.base import Method

METHODS: dict[str, Method] = {
    method.name: method
    for method in (
        gradcam.METHOD,
        gradcam_plus_plus.METHOD,
        layercam.METHOD,
        scorecam.METHOD,
        guided_gradcam.METHOD,
        occlusion.METHOD,
        gradient_saliency.METHOD,
        smoothgrad.METHOD,
        integrated_gradients.METHOD,
        rise.METHOD,
        guided_backprop.METHOD,
    )
}


def endpoints() -> dict[str, list[Method]]:
    """Methods grouped by the endpoint that serves them, in table order."""
    groups: dict[str, list[Method]] = {}
    for method in METHODS.values():
        groups.setdefault(method.endpoint, []).append(method)
    return groups


def warm_up(graph: ModelGraph) -> None:
    """Trace the methods' compiled functions at load, so no request pays for it."""
    for method in METHODS.values():
        if method.warm_up is not None:
            method.warm_up(graph)
