"""`show(model)`: the page for a model of your own, served from this process, inline in Jupyter.

As TensorBoard's and Netron's notebook helpers do, a server runs in a background thread (uvicorn,
on a free loopback port) and the page is shown in an IFrame. An in-memory `keras.Model` is added
to that server's registry as is (`ModelRegistry.add`): no file is written. The server is the
checkout's `app` package: an install of this distribution ships only `convnet_vis`, so `show()`
imports `app` from the checkout this package lives in (an editable install, `scripts/setup`),
or from the current directory.

The page refuses to be framed (`frame-ancestors 'none'`, X-Frame-Options) to guard a classroom
server against clickjacking; this private loopback server lets the notebook's own origins frame
it (`frame_ancestors`), and nothing else.
"""

from __future__ import annotations

import atexit
import re
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

__all__ = ["show", "serve", "NotebookServer"]

# Jupyter (Lab, Notebook, Voila) on this machine, and VS Code's notebook webviews.
FRAME_ANCESTORS = "'self' http://localhost:* http://127.0.0.1:* https://localhost:* vscode-webview:"
_NONE = re.compile(r"frame-ancestors 'none'")


def _import_server():
    """The server code (`app`) from the checkout: this package's parent folder or the cwd."""
    try:
        import app.main  # noqa: F401
    except ImportError:
        for root in (Path(__file__).resolve().parents[1], Path.cwd()):
            if (root / "app" / "main.py").is_file():
                sys.path.insert(0, str(root))
                break
        else:
            raise ImportError(
                "show() runs the convnet-vis server, which lives in the project's checkout (app/): "
                "install the project from a checkout (scripts/setup, or pip install -e .) or run from it"
            ) from None
    import app.main

    return app


class _Framable:
    """ASGI wrapper: lets the given origins frame the page (the app forbids every framing)."""

    def __init__(self, asgi, ancestors: str) -> None:
        self.asgi = asgi
        self.ancestors = ancestors

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.asgi(scope, receive, send)
            return

        async def framed(message) -> None:
            if message["type"] == "http.response.start":
                headers = [
                    (name, _NONE.sub(f"frame-ancestors {self.ancestors}", value.decode()).encode()
                     if name.lower() == b"content-security-policy" else value)
                    for name, value in message.get("headers", []) if name.lower() != b"x-frame-options"
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.asgi(scope, receive, framed)


class NotebookServer:
    """One uvicorn server in a daemon thread, serving the models added to it."""

    def __init__(self, frame_ancestors: str = FRAME_ANCESTORS) -> None:
        import uvicorn

        server_code = _import_server()
        from app.config import Settings
        from app.registry import ModelRegistry

        folder = Path(tempfile.mkdtemp(prefix="convnet-vis-notebook-"))  # its cache; no model file
        atexit.register(shutil.rmtree, folder, True)
        self.registry = ModelRegistry({})
        settings = Settings(models_dir=folder, cache_dir=folder / "cache")
        asgi = _Framable(server_code.main.create_app(settings, registry=self.registry), frame_ancestors)
        import socket

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self._server = uvicorn.Server(uvicorn.Config(asgi, host="127.0.0.1", port=port, log_level="warning",
                                                     ws_per_message_deflate=False))
        self._server.install_signal_handlers = lambda: None  # not the main thread
        self._thread = threading.Thread(target=self._server.run, name="convnet-vis", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 120
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the convnet-vis server did not start (see the log above)")
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{port}"

    def add(self, model: Any, model_id: str | None = None, **card: Any) -> str:
        """Serve `model` (a keras.Model, or a .keras/.h5 path) under `model_id`; returns the id."""
        from app.registry import ModelCard, _file_hash, serve_model, slugify

        if isinstance(model, (str, Path)):
            import keras

            path = Path(model)
            fields = {**vars(ModelCard.load(path)), **card}  # the file's own card, then the caller's
            fields["id"] = model_id or fields["id"]
            keras_model = keras.saving.load_model(path, compile=False)
            served = serve_model(keras_model, ModelCard(**fields), path, _file_hash(path))
        else:
            model_id = model_id or slugify(model.name or "model")
            card.setdefault("name", model.name or model_id)
            served = serve_model(model, ModelCard(id=model_id, **card), Path(f"memory/{model_id}.keras"),
                                 f"memory-{model_id}-{id(model)}")
        self.registry.add(served)
        return served.id

    def remove(self, model_id: str) -> None:
        self.registry.remove(model_id)

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=30)


_server: NotebookServer | None = None
_lock = threading.Lock()


def serve(model: Any = None, model_id: str | None = None, **card: Any) -> tuple[NotebookServer, str | None]:
    """The process's notebook server (started on first use), with `model` added to it."""
    global _server
    with _lock:
        if _server is None:
            _server = NotebookServer()
        added = _server.add(model, model_id, **card) if model is not None else None
    return _server, added


def show(model: Any, model_id: str | None = None, height: int = 820, display: bool = True, **card: Any) -> str:
    """Serve `model` (a keras.Model or a model file) and show its page inline in Jupyter.

    `card` takes the model card's fields (`classes`, `input_range`, `kind`, `description`...).
    Returns the page's URL; without IPython (a plain script) it only returns it."""
    server, added = serve(model, model_id, **card)
    url = f"{server.url}/?model={added}"
    if display:
        try:
            from IPython import get_ipython
            from IPython.display import IFrame, display as ipython_display
        except ImportError:
            return url
        if get_ipython() is not None:
            ipython_display(IFrame(url, width="100%", height=height))
    return url
