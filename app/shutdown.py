"""Graceful shutdown, with a bound.

On SIGTERM (or Ctrl+C), uvicorn stops accepting connections, closes idle ones and the live
channels (close code 1012) and waits for the requests in flight: those finish normally. What
this module adds, `grace_seconds` (`CONVNET_VIS_SHUTDOWN_GRACE_SECONDS`, default 10) after the
signal: the `on_expiry` callbacks run on the event loop (long jobs are cancelled at their next
step, so a progress stream ends with an `error` event and a plain request gets 503; callers
waiting for a shared result get 503, a map's child process is stopped). `FORCE_EXIT_SECONDS`
later, if something still holds the process (a computation with no progress steps), it exits anyway.

uvicorn tells an app nothing of a shutdown until every request has finished, so the signal is
seen by chaining to the handler uvicorn installed before it started the app's lifespan. Signal
handlers can only be set in the main thread: an app run by a TestClient never installs one.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import threading
import time
from collections.abc import Callable

log = logging.getLogger("convnet_vis")

FORCE_EXIT_SECONDS = 2.0
SIGNALS = (signal.SIGTERM, signal.SIGINT)


class GracefulShutdown:
    def __init__(self, grace_seconds: float, on_expiry: list[Callable[[], None]]) -> None:
        self.grace_seconds = grace_seconds
        self.on_expiry = on_expiry
        self.signalled_at: float | None = None
        self._previous: dict[int, object] = {}
        self._loop: asyncio.AbstractEventLoop | None = None

    def install(self) -> None:
        """Chain to the current SIGTERM/SIGINT handlers (uvicorn's); call from the lifespan."""
        if threading.current_thread() is not threading.main_thread():
            return
        self._loop = asyncio.get_running_loop()
        for signum in SIGNALS:
            self._previous[signum] = signal.signal(signum, self._on_signal)

    def uninstall(self) -> None:
        for signum, handler in self._previous.items():
            if signal.getsignal(signum) == self._on_signal:
                signal.signal(signum, handler)
        self._previous.clear()

    def _on_signal(self, signum: int, frame) -> None:
        if self.signalled_at is None:
            self.signalled_at = time.monotonic()
            self._loop.call_soon_threadsafe(self._begin)
        previous = self._previous.get(signum)
        if callable(previous):
            previous(signum, frame)
        elif previous == signal.SIG_DFL:  # no server handler: do what the signal would have done
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)

    def _begin(self) -> None:
        log.info("shutting down: running requests may finish; long jobs are stopped after %g s", self.grace_seconds)
        self._loop.call_later(self.grace_seconds, self._expire)
        threading.Thread(target=self._force_exit, name="shutdown-bound", daemon=True).start()

    def _expire(self) -> None:
        log.warning("shutdown grace period (%g s) is over: stopping long jobs", self.grace_seconds)
        for callback in self.on_expiry:
            callback()

    def _force_exit(self) -> None:
        time.sleep(self.grace_seconds + FORCE_EXIT_SECONDS)
        log.error("still running %g s after the shutdown signal: exiting now", self.grace_seconds + FORCE_EXIT_SECONDS)
        for handler in logging.getLogger().handlers + log.handlers:
            handler.flush()
        os._exit(0)
