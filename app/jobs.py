"""A bound on long jobs (occlusion, SmoothGrad, Integrated Gradients, filter patterns), so a
class full of students asking for atlases cannot starve the drawing path, which is never bounded.

Per process: at most `max_long_jobs` run at once, on threads of their own; the next one is
refused at once with 503 and `Retry-After` rather than queued, so no queue grows without bound.
When the server shuts down, `stop()` runs once the grace period is over: every open progress
stream is told at once (its `error` event does not wait for the job), and a job sees `cancelled`
at its next progress step (`check`) and stops.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from app.errors import Busy
from app.viz.base import Cancelled

RETRY_AFTER_SECONDS = 2
SHUTTING_DOWN = "The server is shutting down; the job was stopped. Try again in a few seconds."


class JobLimiter:
    def __init__(self, max_jobs: int, cancelled: threading.Event | None = None) -> None:
        self.max_jobs = max_jobs
        self._slots = threading.BoundedSemaphore(max_jobs)
        # One thread per slot: a job holding a slot never waits for a thread.
        self.executor = ThreadPoolExecutor(max_jobs, thread_name_prefix="long-job")
        self.cancelled = cancelled or threading.Event()
        self.streams: set = set()  # the asyncio queues of open progress streams (event loop only)

    def stop(self) -> None:
        """The grace period is over (on the event loop): stop every job, end every stream now."""
        self.cancelled.set()
        for events in list(self.streams):
            events.put_nowait(("error", {"status": 503, "detail": SHUTTING_DOWN}))

    def acquire(self) -> Callable[[], None]:
        """Take a slot now or raise Busy; returns the function that gives it back."""
        if not self._slots.acquire(blocking=False):
            raise Busy(
                f"The server is already running {self.max_jobs} long job(s) (occlusion, saliency or filter "
                f"patterns). Try again in a few seconds.",
                RETRY_AFTER_SECONDS,
            )
        return self._slots.release

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)` on a job thread, holding a slot (Busy at once when none is free). The slot
        is given back when `fn` is done, or when it is cancelled before it started (its caller went
        away): never while it runs, never lost."""
        release = self.acquire()
        try:
            future = self.executor.submit(fn, *args)
        except BaseException:  # the pool is shut down
            release()
            raise
        future.add_done_callback(lambda _: release())
        try:
            return await asyncio.wrap_future(future)
        except Cancelled:
            raise Busy(SHUTTING_DOWN, RETRY_AFTER_SECONDS) from None

    def check(self, done: int = 0, total: int = 0) -> None:
        """A progress callback for jobs nobody watches: stops them when the server shuts down."""
        if self.cancelled.is_set():
            raise Cancelled()

    def shutdown(self) -> None:
        self.executor.shutdown(wait=False, cancel_futures=True)
