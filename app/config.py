"""All settings in one place, read from `CONVNET_VIS_*` environment variables."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _env(name: str, default: str) -> str:
    return os.environ.get(f"CONVNET_VIS_{name}", default)


def _env_list(name: str) -> tuple[str, ...]:
    """A comma-separated variable as a tuple; unset or empty is ()."""
    return tuple(item.strip() for item in _env(name, "").split(",") if item.strip())


@dataclass(frozen=True)
class Settings:
    """Operator settings; every field has a `CONVNET_VIS_<FIELD>` environment variable."""

    models_dir: Path = field(default_factory=lambda: Path(_env("MODELS_DIR", str(PROJECT_ROOT / "models"))))
    cache_dir: Path = field(default_factory=lambda: Path(_env("CACHE_DIR", str(PROJECT_ROOT / ".cache"))))
    max_upload_bytes: int = field(default_factory=lambda: int(_env("MAX_UPLOAD_BYTES", str(10 * 1024 * 1024))))
    # Decoded size cap: a 10 MB PNG can still declare 40000x40000 pixels.
    max_image_pixels: int = field(default_factory=lambda: int(_env("MAX_IMAGE_PIXELS", str(40_000_000))))
    # Long jobs (occlusion, saliency, filter patterns) running at once per process; more get 503.
    max_long_jobs: int = field(default_factory=lambda: int(_env("MAX_LONG_JOBS", "2")))
    # Uploads decoded and preprocessed at once per process; more wait their turn (this bounds memory).
    max_decodes: int = field(default_factory=lambda: int(_env("MAX_DECODES", "2")))
    # A one-pass explanation of a drawing (Grad-CAM, saliency) whose last run took at most this many
    # ms runs on the event loop itself when no other is being worked on: the thread hop costs a
    # lone user about half a millisecond an answer. 0 keeps it on the threads always.
    inline_budget_ms: float = field(default_factory=lambda: float(_env("INLINE_BUDGET_MS", "3")))
    # The live channel's micro-batching: frames of one model arriving within this many ms go
    # through one forward pass together (at most `live_batch_max`); 0 turns batching off.
    live_batch_wait_ms: float = field(default_factory=lambda: float(_env("LIVE_BATCH_WAIT_MS", "4")))
    live_batch_max: int = field(default_factory=lambda: int(_env("LIVE_BATCH_MAX", "16")))
    # After SIGTERM: how long running long jobs may go on before they are cancelled.
    shutdown_grace_seconds: float = field(default_factory=lambda: float(_env("SHUTDOWN_GRACE_SECONDS", "10")))
    # Host names the server answers to (`*.school.org` patterns); empty: any.
    allowed_hosts: tuple[str, ...] = field(default_factory=lambda: _env_list("ALLOWED_HOSTS"))
    # Pages on other origins allowed to open the live WebSocket; the server's own origin always is.
    allowed_origins: tuple[str, ...] = field(default_factory=lambda: _env_list("ALLOWED_ORIGINS"))
    # Opt-in only: Lambda layers run arbitrary code when a model is loaded.
    unsafe_model_loading: bool = field(default_factory=lambda: _env("UNSAFE_MODEL_LOADING", "0") == "1")

    def __post_init__(self) -> None:
        object.__setattr__(self, "models_dir", Path(self.models_dir))
        object.__setattr__(self, "cache_dir", Path(self.cache_dir))
        object.__setattr__(self, "allowed_hosts", tuple(self.allowed_hosts))
        object.__setattr__(self, "allowed_origins", tuple(self.allowed_origins))
