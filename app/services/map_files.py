"""Maps shipped beside their models: `<model file stem>.map.npz`, made by `scripts/make_maps.py`.

A model's t-SNE map of its 3,000 reference images takes 13 s on an idle 2-core machine and up to
90 s on a busy one, so the bundled models come with theirs. A shipped map is used only if it was
made from this very model file and reference set (their SHA-256 are in the file) in the layer the
server maps; otherwise it is ignored, with a line in the log, and the map is computed as for any
other model. The file holds `points` (float32 [N, 2]), `layer`, `model_sha256`, `reference_sha256`
and `sklearn` (the version that made it, for the record).
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import numpy as np

from app.registry import ServedModel

log = logging.getLogger("convnet_vis.maps")


def path_for(served: ServedModel) -> Path:
    return served.path.with_suffix(".map.npz")


def reference_path(served: ServedModel) -> Path | None:
    name = served.card.extra.get("reference")
    return served.path.parent / name if name else None


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def write(served: ServedModel, layer: str, points: np.ndarray) -> Path:
    import sklearn

    path = path_for(served)
    np.savez_compressed(
        path,
        points=points.astype(np.float32),
        layer=np.array(layer),
        model_sha256=np.array(served.file_hash),
        reference_sha256=np.array(sha256(reference_path(served))),
        sklearn=np.array(sklearn.__version__),
    )
    return path


def read(served: ServedModel, layer: str) -> tuple[np.ndarray, np.ndarray] | None:
    """The shipped map's points and the reference set's labels, if there is a map for this model
    file, reference set and layer. The labels come with it so that the first answer needs no more:
    the reference images are loaded (and made into model inputs) only for a drawing's placement."""
    path, reference = path_for(served), reference_path(served)
    if not path.is_file() or reference is None or not reference.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as archive:
            found = {name: archive[name] for name in archive.files}
        made_for = (str(found["layer"]), str(found["model_sha256"]), str(found["reference_sha256"]))
        points = found["points"]
    except Exception as exc:  # noqa: BLE001 - a damaged file is no map: it is computed instead
        log.warning("ignoring %s (%s: %s); the map will be computed", path.name, type(exc).__name__, exc)
        return None
    if made_for != (layer, served.file_hash, sha256(reference)):
        log.warning("ignoring %s: made for another model file, reference set or layer; the map will be computed", path.name)
        return None
    with np.load(reference, allow_pickle=False) as archive:
        labels = archive["y"].astype(np.int64)
    if points.shape != (len(labels), 2):
        log.warning("ignoring %s: %s points for %d reference images", path.name, points.shape, len(labels))
        return None
    return points.astype(np.float32), labels
