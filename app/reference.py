"""Reference sets: real images a model is compared with (top examples, neighbours, the map).

A model card names its set, `"reference": "<file>.npz"`, in the models folder: `x` uint8 images
`[N, H, W]` or `[N, H, W, C]`, `y` integer labels, optionally `indices` (their place in the source
data set). `python -m app reference build` makes one from a folder of images. Sets are loaded on
first use, turned into model inputs once, and their layer features are cached per layer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from app.errors import NotFound
from app.preprocess import resize_to
from app.registry import ServedModel

BATCH = 500


@dataclass
class ReferenceSet:
    images: np.ndarray  # uint8, as stored, for thumbnails
    inputs: np.ndarray  # float32 [N, H, W, C], exactly what the model sees
    labels: np.ndarray
    indices: np.ndarray
    features: dict = field(default_factory=dict)  # (layer, kind) -> [N, D]
    thumbnails: dict = field(default_factory=dict)  # index -> PNG data URL, made on first use


class ReferenceStore:
    """Holds each model's reference set once loaded; the features are computed lazily."""

    def __init__(self) -> None:
        self._sets: dict[str, ReferenceSet] = {}
        self._lock = threading.Lock()

    def get(self, served: ServedModel) -> ReferenceSet:
        with self._lock:
            if served.id not in self._sets:
                self._sets[served.id] = self._load(served)
            return self._sets[served.id]

    def is_loaded(self, model_id: str) -> bool:
        with self._lock:
            return model_id in self._sets

    @staticmethod
    def _load(served: ServedModel) -> ReferenceSet:
        name = served.card.extra.get("reference")
        path = served.path.parent / name if name else None
        if path is None or not path.is_file() or path.parent != served.path.parent:
            raise NotFound(
                f"Model {served.id!r} has no reference set. Give it one with `python -m app reference build` "
                "(see the README, 'Dataset views')."
            )
        with np.load(path) as archive:
            images, labels = archive["x"], archive["y"].astype(np.int64)
            indices = archive["indices"] if "indices" in archive.files else np.arange(len(labels))
        height, width, channels = served.graph.input_shape
        low, high = served.card.input_range
        planes = images[..., None] if images.ndim == 3 else images
        inputs = np.stack([resize_to(image.astype(np.float32) / 255.0, height, width, channels) for image in planes])
        return ReferenceSet(images=images, inputs=(inputs * (high - low) + low).astype(np.float32), labels=labels, indices=indices)

    def features(self, served: ServedModel, layer: str, kind: str) -> np.ndarray:
        """[N, D] per reference image: `units` (channel means for maps) or `flat` (every value)."""
        reference = self.get(served)
        key = (layer, kind)
        if key not in reference.features:
            graph = served.graph
            parts = []
            for start in range(0, len(reference.inputs), BATCH):
                values = graph.feature(graph.run(reference.inputs[start : start + BATCH]), layer)
                parts.append(unit_values(values) if kind == "units" else values.reshape(len(values), -1))
            reference.features[key] = np.concatenate(parts).astype(np.float32)
        return reference.features[key]


def unit_values(values: np.ndarray) -> np.ndarray:
    """A batch of layer outputs -> one value per unit: channel means for feature maps."""
    return values.mean(axis=(1, 2)) if values.ndim == 4 else values.reshape(len(values), -1)
