"""The live channel: activations over a WebSocket while the user draws.

`WS /api/models/{model_id}/live[?encoding=&dtype=]`. The client sends JSON text messages
`{"seq": n, "pixels": [[...]]}` (or `"image"`, plus optional `"layers"` and `"preprocess"`), or
the same as a binary frame with the pixels as bytes (`app.api.live_binary`; the page's pad does),
as often as it likes. The server keeps only the newest unanswered message: while one is being
computed, newer ones replace each other and the replaced ones are dropped, never queued, so the
answer always describes the latest drawing. Each answer is the `activations` response plus
`seq` and `dropped` (messages skipped since the previous answer); a bad message (a binary frame
a malformed binary frame too) gets `{"seq", "error": {"status", "detail"}}` and the channel stays open. Each message is
parsed, decoded and answered in one hop off the event loop (`Executors.run`: a message carrying
an image file waits for the bounded decode pool, a drawing's pixels do not).

Micro-batching (`live_batch_wait_ms` > 0, the default): a drawing's message joins the other
connections' messages for the same model that arrive within a few ms (`app.services.micro_batch`);
the batch is parsed, run through one forward pass and encoded to JSON text on one thread, and
each connection gets its own answer back. Messages with image files and drawings too big for the
light path take the one-message path above.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from app.api.deps import model_input_for
from app.api.live_binary import BinaryArrays, binary_message
from app.config import Settings
from app.encoding import ArrayOptions, Encoding, TransferDtype
from app.errors import InvalidOption, VisualizerError
from app.executors import LIGHT_BODY_BYTES, NeedsDecodePool
from app.inputs import image_from_payload, parse_json
from app.preprocess import PreprocessMode
from app.registry import ServedModel
from app.services.analysis import activations, activations_payload
from app.services.micro_batch import MicroBatcher
from app.services.rate import TokenBucket
from app.viz import activations as activation_method

router = APIRouter(tags=["live"])


class LiveAnswers(str, Enum):
    """`?answers=`: JSON text answers (base64 arrays), or binary frames (`app.api.live_binary`)."""

    json = "json"
    binary = "binary"


def _message(text: str | bytes) -> dict:
    if isinstance(text, bytes):
        return binary_message(text)
    message = parse_json(text)
    if not isinstance(message, dict):
        raise InvalidOption("Each message must be a JSON object with 'pixels' or 'image'.")
    return message


def _error(seq, exc: VisualizerError) -> dict:
    return {"seq": seq, "error": {"status": exc.status_code, "detail": exc.detail}}


def _text(answer: dict) -> str:
    return json.dumps(answer, separators=(",", ":"), ensure_ascii=False)  # as Starlette's send_json


def _encoded(answer: dict, arrays) -> str | bytes:
    """An answer as its frame: a binary one when its arrays were kept as bytes, else JSON text."""
    return arrays.frame(answer) if isinstance(arrays, BinaryArrays) else _text(answer)


def _reply(served: ServedModel, settings, text, options: ArrayOptions, dropped: int, binary: bool, decode_pool: bool) -> str | bytes:
    """One message -> what to send back: the answer, or an error (JSON text) naming the message's `seq`."""
    seq = None
    try:
        message = _message(text)
        seq = message.get("seq")
        model_input, selection, arrays = _prepare(served, settings, message, options, decode_pool, binary)
        return _encoded({"seq": seq, "dropped": dropped, **activations(served, model_input, arrays=arrays, **selection)}, arrays)
    except VisualizerError as exc:
        return _text(_error(seq, exc))


@dataclass
class LiveFrame:
    """One connection's message waiting for a batch."""

    served: ServedModel
    text: str | bytes  # a JSON text frame or a binary frame
    options: ArrayOptions
    dropped: int
    binary: bool = False  # answer with a binary frame (`?answers=binary`)


def answer_batch(settings, frames: list[LiveFrame]) -> list[str | bytes | None]:
    """Frames of one model -> their answers (JSON text or binary frames), one forward pass per `max_side`.

    A frame that fails to parse gets its own error; `None` sends a frame back to the one-message
    path (its drawing turned out to be a big image for the decode pool)."""
    answers: list[str | bytes | None] = [None] * len(frames)
    groups: dict[Any, list] = {}
    for index, frame in enumerate(frames):
        seq = None
        try:
            message = _message(frame.text)
            seq = message.get("seq")
            model_input, selection, options = _prepare(frame.served, settings, message, frame.options, False, frame.binary)
            frame.served.graph.layers.select(selection["layers"])  # unknown layers: this frame's error
        except NeedsDecodePool:
            continue
        except VisualizerError as exc:
            answers[index] = _text(_error(seq, exc))
            continue
        groups.setdefault(selection["max_side"], []).append((index, seq, model_input, selection, options))
    for max_side, group in groups.items():
        graph = frames[group[0][0]].served.graph
        try:
            features, probabilities = activation_method.forward(graph, np.stack([item[2] for item in group]), max_side)
        except Exception:  # unexpected: each frame goes alone, so a failure stays with its own connection
            continue
        for position, (index, seq, model_input, selection, options) in enumerate(group):
            try:
                result = activation_method.select(graph, features, probabilities, position, selection["layers"], selection["channels"])
                payload = activations_payload(frames[index].served, model_input, result, options)
                answers[index] = _encoded({"seq": seq, "dropped": frames[index].dropped, **payload}, options)
            except VisualizerError as exc:
                answers[index] = _text(_error(seq, exc))
    return answers


def batcher_for(settings) -> MicroBatcher | None:
    """The live channel's batcher for an app, or None when batching is off."""
    if settings.live_batch_wait_ms <= 0:
        return None
    return MicroBatcher(lambda _model, frames: answer_batch(settings, frames), settings.live_batch_wait_ms / 1000, settings.live_batch_max)


def _prepare(served: ServedModel, settings, message: dict, options: ArrayOptions, decode_pool: bool, binary: bool = False):
    """One message -> (model input, what to send of it, array options): decoding and preprocessing.
    With `binary`, the array options keep the arrays' bytes for a binary answer (`encoding` is moot)."""
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
    selection = {"layers": layers, "max_side": max_side, "channels": channels}
    if binary:
        message_options = BinaryArrays(message_options.dtype)
    return model_input_for(served, received, mode, settings, decode_pool), selection, message_options


MESSAGE_TOO_BIG = 1009  # the WebSocket standard's code; uvicorn sends it too, past its own ws_max_size
TOO_MANY_MESSAGES = 4429  # as HTTP 429


class LiveLimit(Exception):
    """A message over a live-channel limit: the connection is closed with `code` and `reason`."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


def over_limits(message: str | bytes, bucket: TokenBucket, settings: Settings) -> LiveLimit | None:
    """Why this message closes the connection, or None. A close reason is at most 123 bytes."""
    limit = settings.live_max_message_bytes
    if len(message) > limit:  # characters of a text message: a lower bound of its bytes
        return LiveLimit(MESSAGE_TOO_BIG, f"message over {limit} bytes; send a drawing's pixels, files over HTTP")
    if not bucket.take():
        rate = settings.live_max_messages_per_second
        return LiveLimit(TOO_MANY_MESSAGES, f"over {rate:g} messages a second; send one per frame drawn")
    return None


@router.websocket("/api/models/{model_id}/live")
async def live(
    websocket: WebSocket,
    model_id: str,
    encoding: Encoding = Encoding.base64,
    dtype: TransferDtype = TransferDtype.float32,
    answers: LiveAnswers = LiveAnswers.json,
) -> None:
    registry = websocket.app.state.registry
    settings = websocket.app.state.settings
    executors = websocket.app.state.executors
    batcher = websocket.app.state.live_batcher
    await websocket.accept()
    try:
        served = registry.get(model_id)
    except VisualizerError as exc:
        await websocket.send_json({"seq": None, "error": {"status": exc.status_code, "detail": exc.detail}})
        await websocket.close(code=4404)
        return
    options = ArrayOptions(encoding, dtype)
    binary = answers is LiveAnswers.binary
    latest: list = []  # at most one pending message: the newest
    dropped = 0
    arrived = asyncio.Event()

    bucket = TokenBucket(settings.live_max_messages_per_second)

    async def receive() -> None:
        nonlocal dropped
        while True:
            frame = await websocket.receive()
            if frame["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(frame.get("code", 1000))
            text = frame.get("text")
            if text is None:
                text = frame.get("bytes") or b""
            refusal = over_limits(text, bucket, settings)
            if refusal is not None:
                raise refusal
            if latest:
                dropped += 1
                latest[0] = text
            else:
                latest.append(text)
            arrived.set()

    receiver = asyncio.create_task(receive())
    websocket.app.state.live_connections = getattr(websocket.app.state, "live_connections", 0) + 1
    if batcher is not None:
        batcher.joined(served.id)
    try:
        while True:
            waiter = asyncio.create_task(arrived.wait())
            await asyncio.wait({receiver, waiter}, return_when=asyncio.FIRST_COMPLETED)
            if receiver.done():
                waiter.cancel()
                if not receiver.cancelled() and isinstance(receiver.exception(), LiveLimit):
                    limit = receiver.exception()
                    await websocket.close(code=limit.code, reason=limit.reason)
                break
            arrived.clear()
            text = latest.pop()
            skipped, dropped = dropped, 0
            heavy = len(text) > LIGHT_BODY_BYTES
            if batcher is not None and not heavy:
                answer = await batcher.submit(served.id, LiveFrame(served, text, options, skipped, binary))
                if answer is None:
                    answer = await executors.run(True, _reply, served, settings, text, options, skipped, binary)
            else:
                answer = await executors.run(heavy, _reply, served, settings, text, options, skipped, binary)
            await (websocket.send_bytes(answer) if isinstance(answer, bytes) else websocket.send_text(answer))
    except WebSocketDisconnect:
        pass
    finally:
        websocket.app.state.live_connections -= 1
        if batcher is not None:
            batcher.left(served.id)
        receiver.cancel()
        try:
            await receiver
        except (asyncio.CancelledError, WebSocketDisconnect, LiveLimit, RuntimeError):
            pass
