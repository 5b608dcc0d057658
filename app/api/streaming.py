"""Long jobs with progress: Server-Sent Events, cancelled when the client goes away.

`respond(stream, job, schema)` runs `job(progress)` and answers its result as JSON, or, with
`stream=true`, as `text/event-stream`: `progress` events `{"done", "total"}`, then one `result`
(the same JSON, through the endpoint's schema) or `error` `{"status", "detail"}`.
Long jobs (those given a `limiter`) run on the limiter's threads and stop at their next step when
the server's shutdown grace period is over: a stream then ends with an `error` event (503).
Identical streamed jobs (filter atlases) can share one run: see `Broadcast`.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable, Hashable

import orjson
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from app.errors import VisualizerError
from app.jobs import SHUTTING_DOWN, JobLimiter
from app.viz.base import Cancelled

log = logging.getLogger("convnet_vis.jobs")


def model_json(schema, answer: dict) -> dict:
    """The answer as its response model writes it: validated, `None` left out (FastAPI's
    `response_model_exclude_none=True`)."""
    return schema.model_validate(answer).model_dump(mode="json", exclude_none=True)


def json_response(schema, answer: dict) -> Response:
    """`model_json` written by orjson: what FastAPI answers for that response model, in 30 instead
    of 90 us for a Grad-CAM answer (the drawing path's explanations answer this way)."""
    return Response(orjson.dumps(model_json(schema, answer)), media_type="application/json")


def _sse(event: str, data: dict) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


class Broadcast:
    """One long job's events for every stream that asked for it: identical streamed requests (a
    class opening the same filter atlas) share one run, each seeing its progress from where it
    joined, and the run stops only once every one of them has gone away."""

    def __init__(self) -> None:
        self.queues: set[asyncio.Queue] = set()
        self.last_progress: dict | None = None
        self.finished = False
        self.cancelled = threading.Event()  # nobody is listening any more: stop at the next step
        self.task: asyncio.Future | None = None

    @property
    def joinable(self) -> bool:
        return not self.finished and not self.cancelled.is_set()

    def publish(self, event: str, data: dict) -> None:
        """On the event loop."""
        if event == "progress":
            self.last_progress = data
        else:
            self.finished = True
        for events in self.queues:
            events.put_nowait((event, data))

    def subscribe(self) -> asyncio.Queue:
        events: asyncio.Queue = asyncio.Queue()
        if self.last_progress is not None:
            events.put_nowait(("progress", self.last_progress))
        self.queues.add(events)
        return events

    def unsubscribe(self, events: asyncio.Queue) -> bool:
        """True when that was the last listener (the job is then told to stop)."""
        self.queues.discard(events)
        if not self.queues:
            self.cancelled.set()
            return True
        return False


def _listen(broadcast: Broadcast, limiter: JobLimiter | None) -> StreamingResponse:
    events = broadcast.subscribe()

    async def body():
        if limiter is not None:
            limiter.streams.add(events)  # at shutdown the limiter ends this stream at once
        try:
            while True:
                event, data = await events.get()
                yield _sse(event, data)
                if event != "progress":
                    break
        finally:
            if limiter is not None:
                limiter.streams.discard(events)
            if broadcast.unsubscribe(events) and broadcast.task is not None:
                await asyncio.shield(broadcast.task)  # the client went away (or we are done): stop at the next batch

    return StreamingResponse(body(), media_type="text/event-stream", headers={"cache-control": "no-cache"})


def stream_job(
    job: Callable[[Callable[[int, int], None]], dict],
    schema,
    limiter: JobLimiter | None = None,
    broadcast: Broadcast | None = None,
) -> StreamingResponse:
    """Run `job(progress)` in a thread; stream `progress` events, then `result` or `error`, to the
    caller and to every stream that joins `broadcast` while it runs.

    The result is serialised through the endpoint's response schema, exactly like the plain answer.
    """
    loop = asyncio.get_running_loop()
    broadcast = broadcast or Broadcast()

    def progress(done: int, total: int, preview: str | None = None) -> None:
        if broadcast.cancelled.is_set():
            raise Cancelled()
        if limiter is not None:
            limiter.check()
        data = {"done": done, "total": total}
        if preview is not None:  # a filter atlas as it forms: a PNG data URL
            data["preview"] = preview
        loop.call_soon_threadsafe(broadcast.publish, "progress", data)

    progress.takes_preview = True  # jobs may send an image with their progress (app/services/filters.py)

    def work() -> None:
        try:
            outcome = ("result", model_json(schema, job(progress)))
        except Cancelled:
            if broadcast.cancelled.is_set():  # every client went away: nobody to tell
                return
            outcome = ("error", {"status": 503, "detail": SHUTTING_DOWN})
        except VisualizerError as exc:
            outcome = ("error", {"status": exc.status_code, "detail": exc.detail})
        except Exception:  # a bug: say so, rather than leave the stream open forever
            log.exception("long job failed")
            outcome = ("error", {"status": 500, "detail": "The job failed on the server; the log says why."})
        loop.call_soon_threadsafe(broadcast.publish, *outcome)

    response = _listen(broadcast, limiter)
    broadcast.task = loop.run_in_executor(limiter.executor if limiter else None, work)
    return response


async def respond(
    stream: bool,
    job: Callable[[Callable | None], dict],
    schema,
    limiter: JobLimiter | None = None,
    gone=None,
    shared: tuple[dict, Hashable] | None = None,
):
    """Answer `job`'s result, streamed or not; with a `limiter`, hold one of its slots throughout.
    Not streamed, with `gone` (the request's `is_disconnected`): stopped when the client goes away.
    Streamed, with `shared` (a dict of running broadcasts and this job's key): an identical job
    already running is joined instead of started, holding no slot."""
    if not stream:
        return await (limiter.run(job, limiter.check, gone=gone) if limiter is not None else run_in_threadpool(job, None))
    if shared is not None:
        running, key = shared
        broadcast = running.get(key)
        if broadcast is not None and broadcast.joinable:
            return _listen(broadcast, limiter)
    if limiter is not None:
        release = limiter.acquire()  # raises Busy (503) before anything is sent

        def limited(progress, _job=job):
            try:
                return _job(progress)
            finally:
                release()

        job = limited
    broadcast = Broadcast()
    if shared is not None:
        running, key = shared
        running[key] = broadcast
        job = _forgetting(job, lambda: running.pop(key, None) if running.get(key) is broadcast else None)
    return stream_job(job, schema, limiter, broadcast)


def _forgetting(job: Callable, forget: Callable[[], None]) -> Callable:
    """`job`, after which its broadcast is no longer joined (run on the job's thread: `forget` only
    pops a dict entry, which is atomic)."""

    def run(progress):
        try:
            return job(progress)
        finally:
            forget()

    return run
