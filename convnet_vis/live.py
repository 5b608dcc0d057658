"""The live channel (`WS /api/models/{id}/live`) from Python.

`ask` sends one drawing and waits for its answer, so no message is dropped as stale (the server
answers only the newest of messages that arrive while it computes). Answers come as binary frames
(`answers=binary`): the arrays' bytes as they are, no base64 and no JSON numbers.
"""

from __future__ import annotations

import base64
import itertools
import json
import urllib.parse
from typing import Any

from websockets.exceptions import ConnectionClosed

from convnet_vis.arrays import decode, decode_binary_frame
from convnet_vis.client import ImageLike, _image_body
from convnet_vis.errors import ConvnetVisError

__all__ = ["LiveChannel"]


class LiveChannel:
    """An open WebSocket to one model; use as a context manager, or `close()` it."""

    def __init__(self, url: str, model: str) -> None:
        from websockets.sync.client import connect  # websockets comes with uvicorn[standard]

        parts = urllib.parse.urlsplit(url)
        scheme = "wss" if parts.scheme == "https" else "ws"
        path = f"{parts.path}/api/models/{urllib.parse.quote(model, safe='')}/live?answers=binary"
        # Scripts send no Origin header: the server accepts them as non-browser clients.
        self._socket = connect(f"{scheme}://{parts.netloc}{path}", max_size=None, compression=None)
        self._seq = itertools.count()

    def __enter__(self) -> "LiveChannel":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._socket.close()

    def ask(self, image: ImageLike, **message: Any) -> dict:
        """One drawing in, its answer out: `input`, `prediction`, `layers` (and `outputs`, by name).
        `message` takes the channel's fields: layers, max_side, channels, dtype, preprocess."""
        body, content_type = _image_body(image)
        if content_type == "application/json":
            fields = json.loads(body)
        else:
            fields = {"image": base64.b64encode(body).decode()}
        seq = next(self._seq)
        try:
            self._socket.send(json.dumps({**message, **fields, "seq": seq}))
            frame = self._socket.recv()
        except ConnectionClosed as closed:
            # 4404 unknown model (its error answer may already be waiting), 4429 too fast, 1009 too big
            frame = self._waiting_frame()
            if frame is None:
                code = closed.rcvd.code if closed.rcvd else 0
                raise ConvnetVisError(code - 4000 if code >= 4000 else code, closed.rcvd.reason if closed.rcvd else str(closed)) from None
        answer = decode_binary_frame(frame) if isinstance(frame, bytes) else decode(json.loads(frame))
        if "error" in answer:
            raise ConvnetVisError(answer["error"]["status"], answer["error"]["detail"])
        answer["outputs"] = {layer["name"]: layer["activations"] for layer in answer.get("layers", [])}
        return answer

    def _waiting_frame(self) -> str | bytes | None:
        """A frame the server sent before closing, if it is still buffered."""
        try:
            return self._socket.recv(timeout=0)
        except Exception:  # nothing left: only the close code speaks
            return None
