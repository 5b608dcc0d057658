"""Finds, loads and holds the served models: the app's only long-lived state.

Models are trusted files put in the models folder by the operator. They are loaded once at
start-up with `safe_mode`, rebuilt as a `ModelGraph` and warmed up, so no request pays for
loading or tracing. Names from requests are looked up here, never joined into paths.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

from app.config import Settings
from app.errors import NotFound
from app.graph import ModelGraph
from app.viz import methods

log = logging.getLogger("convnet_vis.registry")

MODEL_SUFFIXES = (".keras", ".h5")


def slugify(text: str) -> str:
    slug = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")
    return slug or "model"


DEFAULT_INPUT_SIZE = (224, 224)  # for models built for any size whose card gives none


@dataclass
class ModelCard:
    """The sidecar `<stem>.json`; every field has a default for models that come without one."""

    id: str
    name: str
    description: str = ""
    kind: str = "image"
    classes: list[str] = field(default_factory=list)
    input_range: tuple[float, float] = (0.0, 1.0)
    input_size: tuple[int, int] | None = None  # served size of a model built for any size
    extra: dict = field(default_factory=dict)

    @classmethod
    def load(cls, model_path: Path) -> "ModelCard":
        card_path = model_path.with_suffix(".json")
        data = json.loads(card_path.read_text()) if card_path.exists() else {}
        low, high = data.get("input_range", (0.0, 1.0))
        size = data.get("input_size")
        known = {"id", "name", "description", "kind", "classes", "input_range", "input_size"}
        return cls(
            id=slugify(data.get("id", model_path.stem)),
            name=data.get("name", model_path.stem),
            description=data.get("description", ""),
            kind=data.get("kind", "image"),
            classes=[str(c) for c in data.get("classes", [])],
            input_range=(float(low), float(high)),
            input_size=(int(size[0]), int(size[1])) if size else None,
            extra={k: v for k, v in data.items() if k not in known},
        )

    def fit_classes(self, num_classes: int, source: Path) -> None:
        """One label per class, or indices when the card has none or the wrong number."""
        if len(self.classes) != num_classes:
            if self.classes:
                log.warning("%s: card has %d classes, model has %d; using indices", source, len(self.classes), num_classes)
            self.classes = [str(i) for i in range(num_classes)]


@dataclass
class ServedModel:
    card: ModelCard
    graph: ModelGraph
    path: Path
    file_hash: str

    @property
    def id(self) -> str:
        return self.card.id

    @property
    def input_size_from(self) -> str:
        """"model", "card" or "default": where the served input size comes from."""
        if self.graph.input_size_from == "model":
            return "model"
        return "card" if self.card.input_size else "default"


def _file_hash(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def load_served_model(path: Path, safe_mode: bool = True) -> ServedModel:
    import keras

    model = keras.saving.load_model(path, compile=False, safe_mode=safe_mode)
    return serve_model(model, ModelCard.load(path), path, _file_hash(path))


def serve_model(model, card: ModelCard, path: Path, file_hash: str) -> ServedModel:
    """A loaded Keras model, traced, described and warmed up so no request pays for it."""
    graph = ModelGraph(model, input_range=card.input_range, input_size=card.input_size or DEFAULT_INPUT_SIZE)
    card.fit_classes(graph.num_classes, path)
    if graph.input_size_from != "model":
        log.info("%s takes any input size: served at %dx%d", path.name, *graph.input_shape[:2])
    graph.runner.warm_up()
    methods.warm_up(graph)
    return ServedModel(card=card, graph=graph, path=path, file_hash=file_hash)


NOT_VALID = "not a valid "  # how the reason of a damaged file begins
REASON_CHARS = 200  # a skipped model's reason is one line of at most this many characters


def why_not_loaded(path: Path, exc: Exception) -> str:
    """What is wrong with a model file, as one line a user can act on (Keras calls a truncated
    .keras "File not found", and its deserialization errors run to pages of config and server
    paths: those stay in the server log, where the registry writes the traceback)."""
    damaged = "truncated or corrupt; copy or save the model again"
    if path.suffix == ".keras" and (not zipfile.is_zipfile(path) or isinstance(exc, (zipfile.BadZipFile, zlib.error, EOFError))):
        return f"{NOT_VALID}.keras archive ({damaged})"
    if path.suffix == ".h5":
        import h5py

        if not h5py.is_hdf5(path):
            return f"{NOT_VALID}HDF5 .h5 file ({damaged})"
    text = str(exc)
    custom = re.search(r"Could not locate (?:class|function) '([^']+)'", text)
    if custom:
        return (f"uses the custom layer or function {custom.group(1)!r}, which this server cannot build: "
                "save the model with Keras's own layers only (details in the server log)")
    if "Lambda" in text and "safe_mode" in text:
        return ("has a Lambda layer (Python code run at loading), refused by default: if you trust this file, "
                "start the server with CONVNET_VIS_UNSAFE_MODEL_LOADING=1")
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    first = re.sub(r"(?:[A-Za-z]:)?[/\\][^\s'\",:;()]*[/\\]([^/\\\s'\",:;()]+)", r"\1", first)  # paths -> file names
    if len(first) > REASON_CHARS - 60:
        first = first[: REASON_CHARS - 61] + "…"
    return f"{type(exc).__name__}: {first} (details in the server log)" if first else f"{type(exc).__name__} (details in the server log)"


class ModelRegistry:
    def __init__(self, models: dict[str, ServedModel] | None = None) -> None:
        self._models: dict[str, ServedModel] = dict(models or {})
        self.skipped: dict[str, str] = {}  # file name -> why it is not served
        self.folder: Path | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> "ModelRegistry":
        registry = cls()
        folder = registry.folder = settings.models_dir
        if not folder.is_dir():
            log.error("models folder %s does not exist; serving no models", folder)
            return registry
        for path in sorted(p for p in folder.iterdir() if p.suffix in MODEL_SUFFIXES):
            try:
                served = load_served_model(path, safe_mode=not settings.unsafe_model_loading)
                served.graph.functions.limit = settings.max_compiled_functions
            except Exception as exc:  # any broken file is skipped, the others are served
                reason = registry.skipped[path.name] = why_not_loaded(path, exc)
                # the traceback for the operator, unless the file is plainly damaged (Keras's own
                # words for that, "File not found", would mislead)
                traceback = None if reason.startswith(NOT_VALID) else exc
                log.error("skipping %s: %s", path, reason, exc_info=traceback)
                continue
            if served.id in registry._models:
                registry.skipped[path.name] = f"duplicate model id {served.id!r}"
                log.error("skipping %s: model id %r is already served", path, served.id)
                continue
            registry._models[served.id] = served
            log.info("serving %s from %s", served.id, path.name)
        return registry

    def add(self, served: ServedModel) -> None:
        """Serve one more model built in memory (tests and notebooks; a folder's are loaded above)."""
        self._models[served.id] = served

    def remove(self, model_id: str) -> None:
        self._models.pop(model_id, None)

    def why_empty(self) -> str:
        """For readiness: why no model is served."""
        if self.folder is not None and not self.folder.is_dir():
            return f"the models folder {self.folder} does not exist (set CONVNET_VIS_MODELS_DIR or --models-dir)"
        if self.skipped:
            return f"every model file was skipped ({len(self.skipped)}); see 'skipped' in GET /api/models and the log"
        return f"the models folder {self.folder} has no {' or '.join(MODEL_SUFFIXES)} files"

    def __len__(self) -> int:
        return len(self._models)

    def __iter__(self):
        return iter(self._models.values())

    def get(self, model_id: str) -> ServedModel:
        try:
            return self._models[model_id]
        except KeyError:
            known = ", ".join(sorted(self._models)) or "none"
            raise NotFound(f"Unknown model {model_id!r}. Served models: {known} (GET /api/models).") from None
