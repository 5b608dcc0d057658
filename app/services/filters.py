"""Filter patterns for the API and the CLI: a single channel's pattern or a layer's atlas, cached.

A single pattern and a whole-layer atlas share one cache entry per (model file, input range, layer,
parameters): a single pattern is served from its layer's atlas when one has been computed, and
otherwise computed alone (the method makes a channel's pattern independent of its batch).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Any

import numpy as np

from app.cache import ArrayCache, cache_key
from app.encoding import ArrayOptions, png_data_url
from app.errors import ClientGone, InvalidOption, NotFound
from app.graph import LayerNeed
from app.registry import ServedModel
from app.viz import filters
from app.viz.base import Progress


def check(
    served: ServedModel, layer: str, size: int | None = None, options: filters.Options | None = None, max_cost: float = float("inf")
) -> None:
    """The layer must have channels; `size` is accepted only as the model's own input side; a
    pattern's cost (`filters.cost`) at most `max_cost`."""
    served.graph.layers.get(layer, LayerNeed.channels)
    height, width, _ = served.graph.input_shape
    if size is not None and size != max(height, width):
        raise InvalidOption(
            f"size {size} is not available: model {served.id!r} takes {width}x{height} inputs only "
            "(size applies to models built for variable input sizes)."
        )
    if options is not None:
        filters.cost(served.graph, options).check(max_cost)


class FilterPatterns:
    """Computes patterns and keeps them in `cache` (memory and disk)."""

    def __init__(self, cache: ArrayCache) -> None:
        self.cache = cache
        self._flights: dict[Hashable, asyncio.Future] = {}  # atlases being computed (event loop only)
        self.streams: dict[Hashable, Any] = {}  # streamed atlases being computed (`streaming.respond`'s broadcasts)

    def flight_key(self, served: ServedModel, layer: str, options: filters.Options) -> str:
        return self._key(served, layer, options, "atlas")

    async def shared(self, key: Hashable, start: Callable[[], Awaitable[Any]]) -> Any:
        """`start()` once for identical requests that come while it runs (single flight, as the
        t-SNE map's `Executors.once`): the first holds the long-job slot, the others wait for its
        answer holding nothing. If the first one's client goes away, its job stops and a waiting
        request starts it again."""
        while True:
            flight = self._flights.get(key)
            if flight is None:
                flight = self._flights[key] = asyncio.ensure_future(start())
                flight.add_done_callback(lambda done: self._flights.pop(key, None) if self._flights.get(key) is done else None)
                return await asyncio.shield(flight)
            try:
                return await asyncio.shield(flight)
            except ClientGone:
                continue

    def _key(self, served: ServedModel, layer: str, options: filters.Options, scope: str) -> str:
        resolved = options.resolved(served.graph)  # "auto" and what it means share one entry
        return cache_key(served.file_hash, served.graph.input_range, layer, resolved.model_dump(), scope)

    @staticmethod
    def _expect(served: ServedModel, count: int) -> dict:
        """What a cached entry of `count` patterns must hold (anything else is recomputed)."""
        return {"patterns": (count, *served.graph.input_shape), "activations": (count,)}

    def _cached(self, served: ServedModel, layer: str, options: filters.Options, index: int | None) -> dict | None:
        if index is None:
            count = filters.channel_count(served.graph, layer)
            return self.cache.get(self._key(served, layer, options, "atlas"), self._expect(served, count))
        return self.cache.get(self._key(served, layer, options, f"filter-{index}"), self._expect(served, 1))

    def is_cached(self, served: ServedModel, layer: str, index: int | None, options: filters.Options) -> bool:
        """Whether the answer is already at hand (then it costs no long-job slot)."""
        if self._cached(served, layer, options, None) is not None:
            return True
        return index is not None and self._cached(served, layer, options, index) is not None

    def atlas(self, served: ServedModel, layer: str, options: filters.Options, progress: Progress | None = None) -> dict:
        cached = self._cached(served, layer, options, None)
        if cached is None:
            channels = list(range(filters.channel_count(served.graph, layer)))
            preview = None
            if progress is not None and getattr(progress, "takes_preview", False):
                progress, preview = self._previewing(served, len(channels), progress)
            images, activations = filters.patterns(served.graph, layer, channels, options, progress, preview)
            cached = {"patterns": images, "activations": activations}
            self.cache.put(self._key(served, layer, options, "atlas"), cached)
        return cached

    @staticmethod
    def _previewing(served: ServedModel, count: int, progress: Progress):
        """(progress, preview) for `filters.patterns`: the atlas as it forms (channels not reached
        yet blank, at mid-range) goes with the progress event that follows each preview, as a PNG
        data URL drawn exactly as the final atlas is (`atlas_image`)."""
        low, high = served.card.input_range
        sheet = np.full((count, *served.graph.input_shape), (low + high) / 2, np.float32)
        pending: list[str] = []

        def preview(first: int, images: np.ndarray) -> None:
            sheet[first : first + len(images)] = images
            pending[:] = [png_data_url(filters.atlas_image(sheet, served.card.input_range))]

        def with_preview(done: int, total: int) -> None:
            progress(done, total, preview=pending.pop() if pending else None)

        return with_preview, preview

    def single(self, served: ServedModel, layer: str, index: int, options: filters.Options) -> tuple[np.ndarray, float]:
        count = filters.channel_count(served.graph, layer)
        if not 0 <= index < count:
            raise NotFound(f"Filter {index} does not exist: layer {layer!r} has filters 0 to {count - 1}.")
        whole = self._cached(served, layer, options, None)
        if whole is not None:
            return whole["patterns"][index], float(whole["activations"][index])
        cached = self._cached(served, layer, options, index)
        if cached is None:
            images, activations = filters.patterns(served.graph, layer, [index], options)
            cached = {"patterns": images, "activations": activations}
            self.cache.put(self._key(served, layer, options, f"filter-{index}"), cached)
        return cached["patterns"][0], float(cached["activations"][0])

    # ---------------------------------------------------------------- responses
    def pattern_response(self, served: ServedModel, layer: str, index: int, options: filters.Options, arrays: ArrayOptions) -> dict:
        pattern, activation = self.single(served, layer, index, options)
        scale = max(1, 224 // max(pattern.shape[:2]))
        picture = filters.atlas_image(pattern[None], served.card.input_range, scale=scale, gap=0)
        return {
            "layer": layer,
            "filter": index,
            "pattern": arrays.encode(pattern),
            "activation": activation,
            "parameterization": options.resolved(served.graph).parameterization,
            "png": png_data_url(picture),
        }

    def atlas_response(
        self, served: ServedModel, layer: str, options: filters.Options, arrays: ArrayOptions, progress: Progress | None = None
    ) -> dict:
        result = self.atlas(served, layer, options, progress)
        return {
            "layer": layer,
            "count": int(len(result["activations"])),
            "activations": [float(a) for a in result["activations"]],
            "patterns": arrays.encode(result["patterns"]),
            "parameterization": options.resolved(served.graph).parameterization,
            "png": png_data_url(filters.atlas_image(result["patterns"], served.card.input_range)),
        }
