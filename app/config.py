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
    # The filter patterns' folder in the cache: past this many bytes, the entries used least
    # recently are removed after each write (each seed/steps pair is a file of its own).
    cache_max_bytes: int = field(default_factory=lambda: int(_env("CACHE_MAX_BYTES", str(512 * 1024 * 1024))))
    max_upload_bytes: int = field(default_factory=lambda: int(_env("MAX_UPLOAD_BYTES", str(10 * 1024 * 1024))))
    # Decoded size cap: a 10 MB PNG can still declare 40000x40000 pixels.
    max_image_pixels: int = field(default_factory=lambda: int(_env("MAX_IMAGE_PIXELS", str(40_000_000))))
    # JSON arrays (counted as '[' before parsing) one body may hold: a [512][512][3] drawing has
    # 262,657. Parsing millions of tiny arrays holds Python's global lock for seconds even on a
    # worker thread (10 MB of one-element kernel rows stalled /api/health 2.7 s); more is 413.
    max_json_arrays: int = field(default_factory=lambda: int(_env("MAX_JSON_ARRAYS", "300000")))
    # One HTTP request head (request line and headers) may take at most this many bytes; past it
    # `python -m app serve` answers 431 (414 for the request line alone) and closes. Also the
    # pipelined requests one connection may have waiting unanswered before it is no longer read.
    max_head_bytes: int = field(default_factory=lambda: int(_env("MAX_HEAD_BYTES", str(32 * 1024))))
    # A head must be complete this many seconds after the connection could send it (opened, or
    # its previous answer sent); past it: 408 and closed (a connection that sent nothing: closed).
    head_timeout_seconds: float = field(default_factory=lambda: float(_env("HEAD_TIMEOUT_SECONDS", "20")))
    # What one explanation or filter pattern may cost, in pixel passes (a forward pass of one H x W
    # input counts H * W, a gradient 3 H * W; RISE adds its masks' making): past it, 422 naming
    # the options to lower. The defaults of every method pass on a 224x224 model (RISE's, the
    # dearest: 115 M); 10,000 RISE masks on 224x224 (576 M) do not, on 28x28 (92 M) they do.
    max_explanation_cost: float = field(default_factory=lambda: float(_env("MAX_EXPLANATION_COST", "250e6")))
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
    # The live channel: a message over this many bytes closes the connection with code 1009 (a
    # drawing is a few KB, a 280x280 canvas PNG as a data URL some hundred KB; send files over
    # HTTP). `python -m app serve` gives uvicorn the same limit, so a bigger frame is not buffered.
    live_max_message_bytes: int = field(default_factory=lambda: int(_env("LIVE_MAX_MESSAGE_BYTES", str(1024 * 1024))))
    # Messages per second a live connection may send (a burst of one second's worth at once); past
    # it the connection is closed with code 4429. The page sends at most one per animation frame
    # (60-240 a second); a client that waits for each answer cannot reach 1000 (an answer takes
    # over a millisecond). 0: no limit.
    live_max_messages_per_second: float = field(default_factory=lambda: float(_env("LIVE_MAX_MESSAGES_PER_SECOND", "1000")))
    # While a model's t-SNE map is computed, its requests get 202 and come back after this many
    # seconds (`Retry-After`): the page's progress bar moves at this pace.
    map_retry_seconds: int = field(default_factory=lambda: int(_env("MAP_RETRY_SECONDS", "2")))
    # After SIGTERM: how long running long jobs may go on before they are cancelled.
    shutdown_grace_seconds: float = field(default_factory=lambda: float(_env("SHUTDOWN_GRACE_SECONDS", "10")))
    # Host names the server answers to (`*.school.org` patterns); empty: any.
    allowed_hosts: tuple[str, ...] = field(default_factory=lambda: _env_list("ALLOWED_HOSTS"))
    # Pages on other origins allowed to open the live WebSocket; the server's own origin always is.
    allowed_origins: tuple[str, ...] = field(default_factory=lambda: _env_list("ALLOWED_ORIGINS"))
    # Compiled TensorFlow functions one model keeps (each 0.6-0.9 MiB for the bundled convnet);
    # past this the least recently used is forgotten and built again when next asked for.
    max_compiled_functions: int = field(default_factory=lambda: int(_env("MAX_COMPILED_FUNCTIONS", "128")))
    # After readiness, a background thread builds each model's page overview and long methods'
    # functions (app/warm.py) so no first request compiles them; 0: built on first use.
    background_warm_up: bool = field(default_factory=lambda: _env("BACKGROUND_WARM_UP", "1") == "1")
    # Opt-in only: Lambda layers run arbitrary code when a model is loaded.
    unsafe_model_loading: bool = field(default_factory=lambda: _env("UNSAFE_MODEL_LOADING", "0") == "1")

    def __post_init__(self) -> None:
        object.__setattr__(self, "models_dir", Path(self.models_dir))
        object.__setattr__(self, "cache_dir", Path(self.cache_dir))
        object.__setattr__(self, "allowed_hosts", tuple(self.allowed_hosts))
        object.__setattr__(self, "allowed_origins", tuple(self.allowed_origins))
