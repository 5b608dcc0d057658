"""A bound on long jobs (occlusion, SmoothGrad, Integrated Gradients, filter patterns), so a
class full of students asking for atlases cannot starve the drawing path, which is never bounded.

Per process: at most `max_long_jobs` run at once, on threads of their own; the next one is
refused at once with 503 and `Retry-After` rather than queued, so no queue grows without bound.
When the server shuts down, `stop()` runs once the grace period is over: every open progress
stream is told at once (its `error` event does not wait for the job), and a job sees `cancelled`
at its next progress step (`check`) and stops.

A job that is not streamed watches its client too (`run(..., gone=request.is_disconnected)`): the
client is asked every `WATCH_SECONDS` whether it is still there, and once it has gone the job
sees `cancelled` at its next step, as at shutdown, and gives its slot back (two abandoned requests
held every other user's long jobs at 503 for 38.6 s before, issue 29). `check` reads the job's
own flag from its thread, so the methods' progress callbacks need no change.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from app.errors import Busy, ClientGone
from app.viz.base import Cancelled

RETRY_AFTER_SECONDS = 2
WATCH_SECONDS = 0.25  # how often a job that is not streamed asks whether its client is still there
CLIENT_GONE = "The client went away; the job was stopped."
SHUTTING_DOWN = "The server is shutting down; the job was stopped. Try again in a few seconds."


class JobLimiter:
    def __init__(self, max_jobs: int, cancelled: threading.Event | None = None) -> None:
        self.max_jobs = max_jobs
        self._slots = threading.BoundedSemaphore(max_jobs)
        # One thread per slot: a job holding a slot never waits for a thread.
        self.executor = ThreadPoolExecutor(max_jobs, thread_name_prefix="long-job")
        self.cancelled = cancelled or threading.Event()
        self.streams: set = set()  # the asyncio queues of open progress streams (event loop only)
        self._local = threading.local()  # a job thread's own stop flag (`run`)
        self.refused = 0  # jobs refused with 503 since start-up
        self.abandoned = 0  # jobs stopped because their client went away

    def stop(self) -> None:
        """The grace period is over (on the event loop): stop every job, end every stream now."""
        self.cancelled.set()
        for events in list(self.streams):
            events.put_nowait(("error", {"status": 503, "detail": SHUTTING_DOWN}))

    def acquire(self) -> Callable[[], None]:
        """Take a slot now or raise Busy; returns the function that gives it back."""
        if not self._slots.acquire(blocking=False):
            self.refused += 1
            raise Busy(
                f"The server is already running {self.max_jobs} long job(s) (occlusion, saliency or filter "
                f"patterns). Try again in a few seconds.",
                RETRY_AFTER_SECONDS,
            )
        return self._slots.release

    async def run(self, fn: Callable[..., Any], *args: Any, gone: Callable[[], Awaitable[bool]] | None = None) -> Any:
        """`fn(*args)` on a job thread, holding a slot (Busy at once when none is free). The slot
        is given back when `fn` is done, or when it is cancelled before it started (its caller went
        away): never while it runs, never lost. With `gone` (the request's `is_disconnected`), the
        job is stopped at its next `check` once its client has gone (`ClientGone`)."""
        release = self.acquire()
        stop = threading.Event()

        def own_flag() -> Any:
            self._local.stop = stop
            try:
                return fn(*args)
            finally:
                self._local.stop = None

        try:
            future = self.executor.submit(own_flag)
        except BaseException:  # the pool is shut down
            release()
            raise
        future.add_done_callback(lambda _: release())
        waiting = asyncio.wrap_future(future)
        try:
            while gone is not None:
                done, _ = await asyncio.wait({waiting}, timeout=WATCH_SECONDS)
                if done:
                    break
                if await gone():
                    stop.set()
                    future.cancel()  # not started yet: it never will be
                    self.abandoned += 1
                    raise ClientGone(CLIENT_GONE)
            return await waiting
        except Cancelled:
            raise Busy(SHUTTING_DOWN, RETRY_AFTER_SECONDS) from None

    def check(self, done: int = 0, total: int = 0) -> None:
        """A progress callback for jobs nobody watches: stops them when the server shuts down, or
        (on a job thread of `run`) when the job's client has gone."""
        if self.cancelled.is_set():
            raise Cancelled()
        stop = getattr(self._local, "stop", None)
        if stop is not None and stop.is_set():
            raise Cancelled()

    @property
    def running(self) -> int:
        """Slots taken now."""
        return self.max_jobs - self._slots._value

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
