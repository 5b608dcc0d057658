"""Filter patterns for the API and the CLI: option checks, the cache, and atlas computation.

A single pattern and a whole-layer atlas share one cache entry per (model file, layer,
parameters): a single pattern is served from its layer's atlas when one has been computed, and
otherwise computed alone (the method makes a channel's pattern independent of its batch).
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from app.cache import ArrayCache, cache_key
from app.errors import InvalidOption, NotFound
from app.registry import ServedModel
from app.viz import filters
from app.viz.base import Progress, check_cap

MAX_STEPS = 1024
STEP_SIZE_RANGE = (1e-4, 1.0)
MAX_JITTER = 8
MAX_TOTAL_VARIATION = 10.0


def filter_layers(served: ServedModel) -> list[str]:
    """Layers whose channels (or units) can be maximised: spatial maps and dense units."""
    graph = served.graph
    return [
        name
        for name, node in graph.nodes.items()
        if not node.is_container and (len(node.output_shape) == 3 or node.class_name == "Dense")
    ]


def check_layer(served: ServedModel, layer: str) -> None:
    if layer not in served.graph.nodes:
        raise NotFound(f"Unknown layer {layer!r}. Layers with channels: {', '.join(filter_layers(served))}.")
    if layer not in filter_layers(served):
        raise InvalidOption(
            f"Layer {layer!r} ({served.graph.nodes[layer].class_name}) has no channels to maximise. "
            f"Choose one of: {', '.join(filter_layers(served))}."
        )


def make_options(served: ServedModel, steps: int, seed: int, size: int | None, step_size: float, jitter: int, total_variation: float) -> filters.Options:
    check_cap("steps", steps, 1, MAX_STEPS)
    check_cap("step_size", step_size, *STEP_SIZE_RANGE)
    check_cap("jitter", jitter, 0, MAX_JITTER)
    check_cap("total_variation", total_variation, 0.0, MAX_TOTAL_VARIATION)
    height, width, _ = served.graph.input_shape
    if size is not None and size != max(height, width):
        raise InvalidOption(
            f"size {size} is not available: model {served.id!r} takes {width}x{height} inputs only "
            "(size applies to models built for variable input sizes)."
        )
    return filters.Options(
        steps=steps, step_size=step_size, jitter=jitter, total_variation=total_variation, seed=seed,
        input_range=served.card.input_range,
    )


def _key(served: ServedModel, layer: str, options: filters.Options, scope: str) -> str:
    return cache_key(served.file_hash, layer, asdict(options), scope)


def _expect(served: ServedModel, count: int) -> dict:
    """What a cached entry of `count` patterns must hold (anything else is recomputed)."""
    return {"patterns": (count, *served.graph.input_shape), "activations": (count,)}


def atlas(served: ServedModel, layer: str, options: filters.Options, cache: ArrayCache, progress: Progress | None = None) -> dict:
    key = _key(served, layer, options, "atlas")
    cached = cache.get(key, _expect(served, filters.channel_count(served.graph, layer)))
    if cached is None:
        channels = list(range(filters.channel_count(served.graph, layer)))
        images, activations = filters.patterns(served.graph, layer, channels, options, progress)
        cached = {"patterns": images, "activations": activations}
        cache.put(key, cached)
    return cached


def is_cached(served: ServedModel, layer: str, index: int | None, options: filters.Options, cache: ArrayCache) -> bool:
    """Whether the answer is already at hand (then it costs no long-job slot)."""
    if cache.get(_key(served, layer, options, "atlas"), _expect(served, filters.channel_count(served.graph, layer))) is not None:
        return True
    return index is not None and cache.get(_key(served, layer, options, f"filter-{index}"), _expect(served, 1)) is not None


def single(served: ServedModel, layer: str, index: int, options: filters.Options, cache: ArrayCache) -> tuple[np.ndarray, float]:
    count = filters.channel_count(served.graph, layer)
    if not 0 <= index < count:
        raise NotFound(f"Filter {index} does not exist: layer {layer!r} has filters 0 to {count - 1}.")
    whole = cache.get(_key(served, layer, options, "atlas"), _expect(served, count))
    if whole is not None:
        return whole["patterns"][index], float(whole["activations"][index])
    key = _key(served, layer, options, f"filter-{index}")
    cached = cache.get(key, _expect(served, 1))
    if cached is None:
        images, activations = filters.patterns(served.graph, layer, [index], options)
        cached = {"patterns": images, "activations": activations}
        cache.put(key, cached)
    return cached["patterns"][0], float(cached["activations"][0])
