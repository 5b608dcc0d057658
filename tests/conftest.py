"""Shared fixtures: the bundled models behind a real app, MNIST digits, tiny models built here."""

from __future__ import annotations

import base64
import io
import os
from pathlib import Path

import keras
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image

# The background warm-up (app/warm.py) off in tests, so counts of compiled functions stay
# deterministic; tests/test_warm_up.py turns it on.
os.environ.setdefault("CONVNET_VIS_BACKGROUND_WARM_UP", "0")

from app.config import PROJECT_ROOT, Settings  # noqa: E402
from app.encoding import decode_array
from app.main import create_app

DATA = Path(__file__).parent / "data"
MODELS_DIR = PROJECT_ROOT / "models"


@pytest.fixture(scope="session")
def mnist():
    """300 real MNIST test digits: (uint8 [N, 28, 28], labels)."""
    with np.load(DATA / "mnist_test_300.npz") as archive:
        return archive["x"], archive["y"]


@pytest.fixture(scope="session")
def client(tmp_path_factory):
    settings = Settings(models_dir=MODELS_DIR, cache_dir=tmp_path_factory.mktemp("cache"))
    with TestClient(create_app(settings)) as test_client:
        yield test_client


@pytest.fixture(scope="session")
def keras_models():
    """The bundled models loaded independently of the app, as the oracle."""
    return {
        model_id: keras.saving.load_model(MODELS_DIR / f"{model_id}.keras", safe_mode=True, compile=False)
        for model_id in ("mnist-convnet", "mnist-lenet")
    }


def client_for(models_dir: Path, **settings) -> TestClient:
    return TestClient(create_app(Settings(models_dir=models_dir, cache_dir=models_dir / ".cache", **settings)))


def png_bytes(array: np.ndarray, mode: str | None = None, fmt: str = "PNG", **save) -> bytes:
    image = Image.fromarray(array) if mode is None else Image.fromarray(array).convert(mode)
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **save)
    return buffer.getvalue()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def arr(obj: dict) -> np.ndarray:
    return decode_array(obj)


def until_ready(get, url: str, limit_seconds: float = 600):
    """GET `url` (a map: 202 while it is computed) until it is not 202, waiting Retry-After between.
    The limit guards against a hang; it is no timing assertion."""
    import time

    deadline = time.monotonic() + limit_seconds
    while (response := get(url)).status_code == 202:
        assert time.monotonic() < deadline, f"{url} still 202 after {limit_seconds} s"
        time.sleep(min(float(response.headers["retry-after"]), 0.5))
    return response


def assert_error(response, status: int) -> None:
    """The documented status, with a `detail` sentence that says what is wrong."""
    assert response.status_code == status, response.text
    detail = response.json()["detail"]
    assert isinstance(detail, str) and len(detail) > 15, detail


@pytest.fixture(scope="session")
def live_server():
    """The real app under uvicorn in its own process, on a free loopback port."""
    from bench.server import running_server

    with running_server(MODELS_DIR) as url:
        yield url
