"""A bound on long jobs (occlusion, SmoothGrad, Integrated Gradients, filter patterns), so a
class full of students asking for atlases cannot starve the drawing path, which is never bounded.

Per process: at most `max_long_jobs` run at once; the next one is refused at once with 503 and
`Retry-After` rather than queued, so no queue grows without bound.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from app.errors import Busy

RETRY_AFTER_SECONDS = 2


class JobLimiter:
    def __init__(self, max_jobs: int) -> None:
        self.max_jobs = max_jobs
        self._slots = threading.BoundedSemaphore(max_jobs)

    def acquire(self) -> Callable[[], None]:
        """Take a slot now or raise Busy; returns the function that gives it back."""
        if not self._slots.acquire(blocking=False):
            raise Busy(
                f"The server is already running {self.max_jobs} long job(s) (occlusion, saliency or filter "
                f"patterns). Try again in a few seconds.",
                RETRY_AFTER_SECONDS,
            )
        return self._slots.release
