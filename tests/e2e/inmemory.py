"""Serve models built in memory (no file) under a real uvicorn server, for browser tests that need
an architecture we do not ship, such as VGG16 at 224x224 with random weights."""

from __future__ import annotations

import contextlib
import tempfile
import threading
import time
from pathlib import Path

from app.config import Settings
from app.main import create_app
from app.registry import ModelCard, ModelRegistry, ServedModel, serve_model
from bench.server import free_port


def vgg16(classes: int = 10, side: int = 224):
    """VGG16's convolutional part (random weights, 14.7M parameters) under a softmax head: its 19
    conv and pool layers at full size, without the 120M-parameter fully connected top."""
    import keras

    keras.utils.set_random_seed(0)
    base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(side, side, 3))
    pooled = keras.layers.GlobalAveragePooling2D(name="gap")(base.output)
    output = keras.layers.Dense(classes, activation="softmax", name="predictions")(pooled)
    return keras.Model(base.input, output, name="vgg16")


@contextlib.contextmanager
def serving(models: dict):
    """{model_id: (keras model, card fields) or a ServedModel} -> the base URL of a server holding them."""
    served = {}
    for model_id, entry in models.items():
        if isinstance(entry, ServedModel):
            served[model_id] = entry
            continue
        model, card = entry
        served[model_id] = serve_model(model, ModelCard(id=model_id, **card), Path(f"memory/{model_id}.keras"), f"memory-{model_id}")
    import uvicorn

    folder = Path(tempfile.mkdtemp(prefix="convnet-vis-inmemory-"))
    app = create_app(Settings(models_dir=folder, cache_dir=folder / "cache"), registry=ModelRegistry(served))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", timeout_graceful_shutdown=5))
    server.install_signal_handlers = lambda: None  # not the main thread
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the in-memory server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
