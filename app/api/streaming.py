"""Long jobs with progress: Server-Sent Events, cancelled when the client goes away.

`respond(stream, job, schema)` runs `job(progress)` and answers its result as JSON, or, with
`stream=true`, as `text/event-stream`: `progress` events `{"done", "total"}`, then one `result`
(the same JSON, through the endpoint's schema) or `error` `{"status", "detail"}`.
Long jobs (those given a `limiter`) run on the limiter's threads and stop at their next step when
the server's shutdown grace period is over: a stream then ends with an `error` event (503).
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
from collections.abc import Callable

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


def stream_job(job: Callable[[Callable[[int, int], None]], dict], schema, limiter: JobLimiter | None = None) -> StreamingResponse:
    """Run `job(progress)` in a thread; stream `progress` events, then `result` or `error`.

    The result is serialised through the endpoint's response schema, exactly like the plain answer.
    """
    loop = asyncio.get_running_loop()
    events: asyncio.Queue = asyncio.Queue()
    cancelled = threading.Event()

    def progress(done: int, total: int, preview: str | None = None) -> None:
        if cancelled.is_set():
            raise Cancelled()
        if limiter is not None:
            limiter.check()
        data = {"done": done, "total": total}
        if preview is not None:  # a filter atlas as it forms: a PNG data URL
            data["preview"] = preview
        loop.call_soon_threadsafe(events.put_nowait, ("progress", data))

    progress.takes_preview = True  # jobs may send an image with their progress (app/services/filters.py)

    def work() -> None:
        try:
            outcome = ("result", model_json(schema, job(progress)))
        except Cancelled:
            if cancelled.is_set():  # the client went away: nobody to tell
                return
            outcome = ("error", {"status": 503, "detail": SHUTTING_DOWN})
        except VisualizerError as exc:
            outcome = ("error", {"status": exc.status_code, "detail": exc.detail})
        except Exception:  # a bug: say so, rather than leave the stream open forever
            log.exception("long job failed")
            outcome = ("error", {"status": 500, "detail": "The job failed on the server; the log says why."})
        loop.call_soon_threadsafe(events.put_nowait, outcome)

    async def body():
        task = loop.run_in_executor(limiter.executor if limiter else None, work)
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
            cancelled.set()  # the client went away (or we are done): stop at the next batch
            await asyncio.shield(task)

    return StreamingResponse(body(), media_type="text/event-stream", headers={"cache-control": "no-cache"})


async def respond(stream: bool, job: Callable[[Callable | None], dict], schema, limiter: JobLimiter | None = None, gone=None):
    """Answer `job`'s result, streamed or not; with a `limiter`, hold one of its slots throughout.
    Not streamed, with `gone` (the request's `is_disconnected`): stopped when the client goes away."""
    if not stream:
        return await (limiter.run(job, limiter.check, gone=gone) if limiter is not None else run_in_threadpool(job, None))
    if limiter is not None:
        release = limiter.acquire()  # raises Busy (503) before anything is sent

        def limited(progress, _job=job):
            try:
                return _job(progress)
            finally:
                release()

        job = limited
    return stream_job(job, schema, limiter)
