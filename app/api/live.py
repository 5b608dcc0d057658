"""The live channel: activations over a WebSocket while the user draws.

`WS /api/models/{model_id}/live[?encoding=&dtype=]`. The client sends JSON text messages
`{"seq": n, "pixels": [[...]]}` (or `"image"`, plus optional `"layers"`, `"max_side"`, `"channels"`
and `"preprocess"`),
as often as it likes. The server keeps only the newest unanswered message: while one is being
computed, newer ones replace each other and the replaced ones are dropped, never queued, so the
answer always describes the latest drawing. Each answer is the `activations` response plus
`seq` and `dropped` (messages skipped since the previous answer); a bad message gets
`{"seq", "error": {"status", "detail"}}` and the channel stays open.
"""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, WebSocket, WebSocketDisconnect
from starlette.concurrency import run_in_threadpool

from app.api.deps import model_input_for
from app.encoding import ArrayOptions, Encoding, TransferDtype
from app.errors import InvalidOption, VisualizerError
from app.inputs import image_from_payload, parse_json
from app.preprocess import PreprocessMode
from app.registry import ServedModel
from app.services.analysis import activations

router = APIRouter(tags=["live"])


def _answer(served: ServedModel, settings, message: dict, options: ArrayOptions) -> dict:
    received = image_from_payload({k: message[k] for k in ("image", "pixels") if k in message}, settings)
    try:
        mode = PreprocessMode(message.get("preprocess", "auto"))
        message_options = ArrayOptions(
            Encoding(message.get("encoding", options.encoding.value)),
            TransferDtype(message.get("dtype", options.dtype.value)),
        )
    except ValueError as exc:
        raise InvalidOption(f"{exc}. See the live channel in docs/api.md.") from None
    layers = message.get("layers")
    if layers is not None and not (isinstance(layers, list) and all(isinstance(n, str) for n in layers)):
        raise InvalidOption("'layers' must be a list of layer names.")
    max_side = message.get("max_side")
    if max_side is not None and not (isinstance(max_side, int) and not isinstance(max_side, bool) and 1 <= max_side <= 4096):
        raise InvalidOption("'max_side' must be a whole number from 1 to 4096.")
    channels = message.get("channels")
    if channels is not None and not (
        isinstance(channels, list) and len(channels) <= 4096 and all(isinstance(c, int) and not isinstance(c, bool) and c >= 0 for c in channels)
    ):
        raise InvalidOption("'channels' must be a list of at most 4096 channel indices (whole numbers from 0).")
    model_input = model_input_for(served, received, mode)
    return activations(served, model_input, layers, message_options, max_side, channels)


@router.websocket("/api/models/{model_id}/live")
async def live(
    websocket: WebSocket,
    model_id: str,
    encoding: Encoding = Encoding.base64,
    dtype: TransferDtype = TransferDtype.float32,
) -> None:
    registry = websocket.app.state.registry
    settings = websocket.app.state.settings
    await websocket.accept()
    try:
        served = registry.get(model_id)
    except VisualizerError as exc:
        await websocket.send_json({"seq": None, "error": {"status": exc.status_code, "detail": exc.detail}})
        await websocket.close(code=4404)
        return
    options = ArrayOptions(encoding, dtype)
    latest: list[str] = []  # at most one pending message: the newest
    dropped = 0
    arrived = asyncio.Event()

    async def receive() -> None:
        nonlocal dropped
        while True:
            text = await websocket.receive_text()
            if latest:
                dropped += 1
                latest[0] = text
            else:
                latest.append(text)
            arrived.set()

    receiver = asyncio.create_task(receive())
    try:
        while True:
            waiter = asyncio.create_task(arrived.wait())
            await asyncio.wait({receiver, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if receiver.done():
                waiter.cancel()
                break
            arrived.clear()
            text = latest.pop()
            skipped, dropped = dropped, 0
            seq = None
            try:
                message = parse_json(text)
                if not isinstance(message, dict):
                    raise InvalidOption("Each message must be a JSON object with 'pixels' or 'image'.")
                seq = message.get("seq")
                answer = await run_in_threadpool(_answer, served, settings, message, options)
                await websocket.send_json({"seq": seq, "dropped": skipped, **answer})
            except VisualizerError as exc:
                await websocket.send_json({"seq": seq, "error": {"status": exc.status_code, "detail": exc.detail}})
    except WebSocketDisconnect:
        pass
    finally:
        receiver.cancel()
        try:
            await receiver
        except (asyncio.CancelledError, WebSocketDisconnect, RuntimeError):
            pass
