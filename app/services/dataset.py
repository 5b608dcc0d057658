"""Dataset views for the API and the CLI: top examples, nearest neighbours, the t-SNE map.

The reference set's features are computed once per layer (`ReferenceStore`); rankings and the
map are cached on disk per model file, reference set and layer. Concurrent first requests for
one of them share a single computation on the executors' own threads (`Executors.once`), holding
no thread of the drawing path.

The map takes 13-90 s to compute, so no request waits for it: the bundled models' maps are
shipped ready (`app.services.map_files`, loaded at start), and for any other model the first
request starts the computation and every request until it is done gets a `MapProgress` (the API
answers 202 with `Retry-After`). Maps once known are held in memory for good (24 KB each).
"""

from __future__ import annotations

import asyncio
import logging
import os
import tempfile
import time
from dataclasses import dataclass, field

import numpy as np
from PIL import Image
from starlette.concurrency import run_in_threadpool

from app.cache import ArrayCache, cache_key
from app.encoding import ArrayOptions, png_data_url
from app.errors import InvalidOption, NotFound
from app.executors import Executors
from app.reference import ReferenceStore
from app.registry import ServedModel
from app.services import map_files
from app.services.analysis import response_head
from app.viz import dataset

log = logging.getLogger("convnet_vis.maps")

MAX_K = 64
MAX_NEIGHBOUR_FEATURES = 8192  # values per image; larger layers would hold N x D floats in memory


@dataclass
class MapProgress:
    """A map being computed: its stage (`features`: the reference images through the model;
    `layout`: t-SNE) and t-SNE's iterations done (counted in steps of 50)."""

    model: str
    images: int
    started: float = field(default_factory=time.monotonic)
    stage: str = "features"
    progress_file: str = ""
    seen: int = 0  # the file is removed when t-SNE ends, a moment before the map lands: keep the last count

    def body(self, retry_after: int) -> dict:
        read = dataset.iterations_done(self.progress_file) if self.progress_file else 0
        done = self.seen = max(self.seen, read)
        return {
            "status": "computing",
            "stage": self.stage,
            "iterations": done,
            "of": dataset.TSNE_ITERATIONS,
            "progress": round(done / dataset.TSNE_ITERATIONS, 3),
            "elapsed_seconds": round(time.monotonic() - self.started, 1),
            "detail": f"The map of {self.model}'s {self.images:,} reference images is being computed (t-SNE, once "
            f"per model). Ask again in {retry_after} s.",
        }


class DatasetViews:
    def __init__(self, references: ReferenceStore, cache: ArrayCache) -> None:
        self.references = references
        self.cache = cache
        self.maps: dict[str, dict] = {}  # map key -> {"layer", "points"}: shipped or computed
        self.computing: dict[str, MapProgress] = {}
        self.failed: dict[str, BaseException] = {}  # told to the next request, then tried again

    # ------------------------------------------------------------------ layers
    @staticmethod
    def map_layer(served: ServedModel) -> str:
        layer = served.graph.layers.last_hidden
        if layer is None:
            raise InvalidOption("This model has no hidden layer with a vector output to map.")
        return layer

    def neighbour_layer(self, served: ServedModel, layer: str | None) -> str:
        name = layer or self.map_layer(served)
        node = served.graph.layers.get(name)
        size = int(np.prod(node.output_shape))
        if size > MAX_NEIGHBOUR_FEATURES:
            raise InvalidOption(
                f"Layer {name!r} has {size:,} values per image; neighbour search takes layers of at most "
                f"{MAX_NEIGHBOUR_FEATURES:,}. Choose a deeper layer."
            )
        return name

    def check_unit(self, served: ServedModel, layer: str, unit: int) -> None:
        served.graph.layers.get(layer)
        units = served.graph.layers.units(layer)
        if not 0 <= unit < units:
            raise NotFound(f"Unit {unit} does not exist: layer {layer!r} has units 0 to {units - 1}.")

    # ------------------------------------------------------------- computation
    def thumbnail(self, served: ServedModel, index: int) -> dict:
        reference = self.references.get(served)
        if index not in reference.thumbnails:
            image = reference.images[index]
            reference.thumbnails[index] = png_data_url(Image.fromarray(image if image.ndim == 2 else image[..., :3]))
        label = int(reference.labels[index])
        return {
            "index": int(index),
            "source_index": int(reference.indices[index]),
            "label": served.card.classes[label] if 0 <= label < len(served.card.classes) else str(label),
            "png": reference.thumbnails[index],
        }

    @staticmethod
    def _top_key(served: ServedModel, layer: str) -> str:
        return cache_key(served.file_hash, served.card.extra.get("reference"), layer, "top-units")

    def _map_key(self, served: ServedModel) -> tuple[str, str]:
        layer = self.map_layer(served)
        return layer, cache_key(served.file_hash, served.card.extra.get("reference"), layer, "tsne")

    def top_units(self, served: ServedModel, layer: str) -> dict:
        """Every unit's top-64 reference images for a layer, cached on disk by the CLI or first use."""
        units = served.graph.layers.units(layer)
        cached = self.cache.get(self._top_key(served, layer), {"indices": (units, None), "values": (units, None)})
        if cached is None:
            indices, values = dataset.top_units(self.references.features(served, layer, "units"), MAX_K)
            cached = {"indices": indices, "values": values}
            self.cache.put(self._top_key(served, layer), cached)
        return cached

    def load_shipped(self, served: ServedModel) -> bool:
        """At start: hold the model's shipped map if it fits this model file (`map_files`)."""
        try:
            layer, key = self._map_key(served)
        except InvalidOption:
            return False
        found = map_files.read(served, layer)
        if found is not None:
            self.maps[key] = {"layer": layer, "points": found[0], "labels": found[1]}
        return found is not None

    def _from_disk(self, served: ServedModel) -> dict | None:
        layer, key = self._map_key(served)
        cached = self.cache.get(key, {"points": (len(self.references.get(served).labels), 2)})
        if cached is not None:
            self.maps[key] = {"layer": layer, "points": cached["points"]}
        return self.maps.get(key)

    def embedding(self, served: ServedModel, run=lambda fn, *args: fn(*args), progress: MapProgress | None = None) -> dict:
        """The map, computed once per model (13 s for 3,000 images on an idle machine), then
        cached. The server passes `run=Executors.in_child` (t-SNE holds the GIL for long
        stretches) and a `progress` to report the stage and t-SNE's iterations."""
        layer, key = self._map_key(served)
        known = self.maps.get(key) or self._from_disk(served)
        if known is not None:
            return known
        features = self.references.features(served, layer, "flat")
        if progress is None:
            points = run(dataset.embed, features)
        else:
            handle, progress.progress_file = tempfile.mkstemp(prefix="convnet-vis-map-", suffix=".progress")
            os.close(handle)
            progress.stage = "layout"
            try:
                points = run(dataset.embed, features, 0, progress.progress_file)
                progress.seen = dataset.TSNE_ITERATIONS
            finally:
                for leftover in (progress.progress_file, progress.progress_file + ".tmp"):
                    try:
                        os.unlink(leftover)
                    except FileNotFoundError:
                        pass
        self.cache.put(key, {"points": points})
        self.maps[key] = {"layer": layer, "points": points}
        return self.maps[key]

    async def shared_top_units(self, executors: Executors, served: ServedModel, layer: str) -> dict:
        key = self._top_key(served, layer)
        return self.cache.recall(key) or await executors.once(key, self.top_units, served, layer)

    async def map_or_progress(self, executors: Executors, served: ServedModel) -> dict | MapProgress:
        """The map if it is known (shipped, in memory or on disk); otherwise its computation's
        progress, starting it if no request has. Never waits for t-SNE."""
        layer, key = self._map_key(served)
        if key in self.maps:
            return self.maps[key]
        if key in self.failed:
            raise self.failed.pop(key)
        if key in self.computing:
            return self.computing[key]
        await run_in_threadpool(self.references.get, served)  # no reference set: 404 now, not later
        known = await run_in_threadpool(self._from_disk, served)
        if known is not None:
            return known
        if key not in self.computing and key not in self.maps:  # another request may have started it meanwhile
            progress = self.computing[key] = MapProgress(served.id, len(self.references.get(served).labels))
            job = asyncio.ensure_future(executors.once(key, self.embedding, served, executors.in_child, progress))
            job.add_done_callback(lambda done: self._landed(key, done))
        return self.maps.get(key) or self.computing[key]

    def _landed(self, key: str, job: asyncio.Future) -> None:
        self.computing.pop(key, None)
        if job.cancelled():
            return
        if job.exception() is not None:
            log.warning("the map %s failed: %s", key, job.exception())
            self.failed[key] = job.exception()

    def _features_of(self, served: ServedModel, model_input: np.ndarray, layer: str, arrays: ArrayOptions):
        """The response head for `model_input`, and its features in `layer`."""
        result = served.graph.run(model_input[None])
        head = {**response_head(served, model_input, result["probabilities"][0], arrays), "layer": layer}
        return head, served.graph.feature(result, layer).reshape(-1)

    # --------------------------------------------------------------- responses
    def top_examples(self, served: ServedModel, layer: str, unit: int, k: int, top: dict) -> dict:
        """`top`: the layer's `top_units`."""
        return {
            "layer": layer,
            "unit": unit,
            "examples": [
                {**self.thumbnail(served, i), "activation": float(v)}
                for i, v in zip(top["indices"][unit][:k], top["values"][unit][:k])
            ],
        }

    def neighbours(self, served: ServedModel, model_input: np.ndarray, layer: str, k: int, arrays: ArrayOptions) -> dict:
        head, query = self._features_of(served, model_input, layer, arrays)
        indices, distances = dataset.nearest(self.references.features(served, layer, "flat"), query, k)
        return {
            **head,
            "neighbors": [{**self.thumbnail(served, i), "distance": float(d)} for i, d in zip(indices, distances)],
        }

    def reference_map(self, served: ServedModel, arrays: ArrayOptions, mapped: dict) -> dict:
        """`mapped`: the model's `embedding`."""
        return {
            "layer": mapped["layer"],
            "method": "tsne",
            "points": arrays.encode(mapped["points"]),
            "labels": [int(label) for label in (mapped["labels"] if "labels" in mapped else self.references.get(served).labels)],
        }

    def place(self, served: ServedModel, model_input: np.ndarray, arrays: ArrayOptions, mapped: dict, nearest: int = 0) -> dict:
        """`mapped`: the model's `embedding`. `nearest` > 0 adds that many nearest reference images
        in the map's layer, as `/neighbors` gives them: the page's one request when a drawing settles."""
        head, query = self._features_of(served, model_input, mapped["layer"], arrays)
        features = self.references.features(served, mapped["layer"], "flat")
        point, indices = dataset.place(features, mapped["points"], query)
        placed = {**head, "point": [float(point[0]), float(point[1])], "neighbors": [int(i) for i in indices]}
        if nearest:
            found, distances = dataset.nearest(features, query, nearest)
            placed["nearest"] = [{**self.thumbnail(served, i), "distance": float(d)} for i, d in zip(found, distances)]
        return placed

    def precompute(self, served: ServedModel) -> tuple[int, dict]:
        """Every leaf layer's top examples and the map, for `python -m app reference precompute`."""
        leaves = [node.name for node in served.graph.layers.leaves]
        for layer in leaves:
            self.top_units(served, layer)
        return len(leaves), self.embedding(served)
