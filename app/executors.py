"""The app's own bounded thread pools, so one kind of work cannot take another's threads.

- `run(heavy, fn, ...)`: parsing, decoding and preprocessing request bodies, for HTTP and the
  live channel. Heavy work (an image file, a body over `LIGHT_BODY_BYTES`) runs on the decode
  pool, `max_decodes` threads (default 2): more wait their turn holding only their bytes, so at
  most that many big images are in memory at once. Light work (a drawing's pixels) runs on the
  drawing path's threads and never queues behind an upload; if it turns out to hold an image
  over `LIGHT_PIXELS`, `fn` raises `NeedsDecodePool` and is run again on the decode pool.
  `fn` is called with `decode_pool=True/False` as its last argument. The event loop never decodes.
- `quick(key, fn)`: a drawing's one-pass explanation. It runs on the event loop itself, with no
  thread hop, when no other is being worked on and its last run under `key` (the model and the
  options: a new combination may have to compile first) took at most `inline_budget` seconds;
  otherwise on the drawing path's threads. A lone user drawing on a small model saves the two
  hops (about 0.5 ms of a 3 ms answer); a busy server, or a big model, keeps its loop free.
- `once(key, fn, ...)`: results computed once and shared (the t-SNE map, a layer's top examples):
  the first caller runs `fn` on a pool of its own (`ONCE_THREADS`); concurrent callers await the
  same asyncio future on the event loop, holding no thread (single flight).
- `in_child(fn, ...)`: `fn` in a child process, for work that holds the GIL for long stretches:
  scikit-learn's t-SNE holds it up to 0.1 s at a time, which would stall the event loop and the
  drawing path's threads however the threads are arranged. The child is spawned (it inherits
  none of TensorFlow's threads), lives for that one call, and is terminated at shutdown.
- Long jobs (occlusion, SmoothGrad, Integrated Gradients, filter patterns) have their pool in
  `app.jobs.JobLimiter`; the drawing path (predict, activations, Grad-CAM) keeps anyio's default
  thread pool to itself.
"""

from __future__ import annotations

import asyncio
import functools
import math
import multiprocessing
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.concurrency import run_in_threadpool

from app.errors import Busy

SHUTTING_DOWN = "The server is shutting down. Try again in a few seconds."

LIGHT_BODY_BYTES = 128 * 1024  # a 28x28 or 64x48x3 drawing as JSON pixels is well under this
LIGHT_PIXELS = 512 * 512  # a canvas export (280x280) decodes with the drawing path; a photo does not


class NeedsDecodePool(Exception):
    """Raised by light work that found a big image: run it again on the decode pool."""


# Shared results are rare (once per model or layer) but can be long: a map's thread waits ~13 s
# for its t-SNE child. Four threads: with two models being mapped at once, a layer's top examples
# (about a second) still start at once.
ONCE_THREADS = 4

QUICK_KEYS = 4096  # run times remembered for `quick`; past that they are forgotten and measured again


class Executors:
    def __init__(self, max_decodes: int, inline_budget: float = 0.0) -> None:
        self._inline_budget = inline_budget
        self._last_seconds: dict[Hashable, float] = {}
        self._quick_running = 0
        self.inline_runs = 0  # how many `quick` calls ran on the event loop (the tests read it)
        self._decode = ThreadPoolExecutor(max_decodes, thread_name_prefix="decode")
        self._once = ThreadPoolExecutor(ONCE_THREADS, thread_name_prefix="once")
        self._flights: dict[Hashable, asyncio.Future] = {}
        self._children: set = set()  # multiprocessing pools of running in_child calls
        self._stopping = threading.Event()

    async def run(self, heavy: bool, fn: Callable[..., Any], *args: Any) -> Any:
        if not heavy:
            try:
                return await run_in_threadpool(fn, *args, False)
            except NeedsDecodePool:
                pass
        return await asyncio.get_running_loop().run_in_executor(self._decode, functools.partial(fn, *args, True))

    async def quick(self, key: Hashable, fn: Callable[[], Any]) -> Any:
        inline = self._quick_running == 0 and self._last_seconds.get(key, math.inf) <= self._inline_budget
        self._quick_running += 1
        try:
            if inline:
                self.inline_runs += 1
                return self._timed(key, fn)
            return await run_in_threadpool(self._timed, key, fn)
        finally:
            self._quick_running -= 1

    def _timed(self, key: Hashable, fn: Callable[[], Any]) -> Any:
        start = time.perf_counter()
        result = fn()
        if len(self._last_seconds) >= QUICK_KEYS:
            self._last_seconds.clear()
        self._last_seconds[key] = time.perf_counter() - start
        return result

    async def once(self, key: Hashable, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)` for the first caller with this key; the callers that come while it runs get
        the same result (or exception) without running it again."""
        flight = self._flights.get(key)
        if flight is None:
            loop = asyncio.get_running_loop()
            flight = self._flights[key] = loop.create_future()
            work = loop.run_in_executor(self._once, functools.partial(fn, *args))
            work.add_done_callback(functools.partial(self._land, key, flight))
        # shield: a caller that goes away (cancelled) must not cancel the others' result.
        return await asyncio.shield(flight)

    def in_child(self, fn: Callable[..., Any], *args: Any) -> Any:
        """`fn(*args)` in a spawned child process; blocks the calling (worker) thread."""
        if self._stopping.is_set():
            raise Busy(SHUTTING_DOWN, retry_after=5)
        pool = multiprocessing.get_context("spawn").Pool(1)
        self._children.add(pool)
        try:
            pending = pool.apply_async(fn, args)
            while True:
                try:
                    return pending.get(timeout=0.5)
                except multiprocessing.TimeoutError:
                    if self._stopping.is_set():
                        raise Busy(SHUTTING_DOWN, retry_after=5) from None
        finally:
            self._children.discard(pool)
            pool.terminate()

    def _land(self, key: Hashable, flight: asyncio.Future, work: asyncio.Future) -> None:
        if self._flights.get(key) is flight:
            del self._flights[key]
        if flight.done():  # already answered by `abandon` at shutdown
            return
        if work.cancelled():
            flight.cancel()
        elif work.exception() is not None:
            flight.set_exception(work.exception())
        else:
            flight.set_result(work.result())

    def abandon(self, detail: str) -> None:
        """At shutdown: answer everyone still waiting with 503 and stop the child processes."""
        self._stop_children()
        for flight in self._flights.values():
            if not flight.done():
                flight.set_exception(Busy(detail, retry_after=5))
                flight.exception()  # marks it retrieved: no "never retrieved" warning without waiters
        self._flights.clear()

    def shutdown(self) -> None:
        """No new work; queued work is dropped; running work finishes on its own thread."""
        self._stop_children()
        self._decode.shutdown(wait=False, cancel_futures=True)
        self._once.shutdown(wait=False, cancel_futures=True)

    def _stop_children(self) -> None:
        self._stopping.set()
        for pool in list(self._children):
            pool.terminate()
