"""Micro-batching: work items that arrive at about the same time for one key -> one call.

The live channel sends each model's concurrent frames (from many connections) through one
forward pass: a batch of 8 costs about twice one frame, not eight times. A lane per key (a
model) collects items for at most `wait_seconds` after the first, or until `max_batch` are
waiting, then runs `work(key, items)` on a thread. While a lane's batch runs, new items wait and
go together as soon as it lands, so under load batches grow by themselves. A key with one
client (`joined`/`left` count them) never waits: there is nobody to batch with, so a lone
student's frame starts at once. `work` returns one result per item, in order; it handles
per-item errors itself (one bad frame must not fail the others), so an exception it raises
reaches every item of that batch.
"""

from __future__ import annotations

import asyncio
import functools
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from starlette.concurrency import run_in_threadpool


@dataclass
class _Lane:
    waiting: list[tuple[Any, asyncio.Future]] = field(default_factory=list)
    timer: asyncio.TimerHandle | None = None
    busy: bool = False


class MicroBatcher:
    def __init__(self, work: Callable[[Hashable, list], list], wait_seconds: float, max_batch: int) -> None:
        self._work = work
        self._wait = wait_seconds
        self._max = max(1, max_batch)
        self._lanes: dict[Hashable, _Lane] = {}
        self._clients: dict[Hashable, int] = {}
        self._running: set[asyncio.Future] = set()  # keeps the thread hops referenced
        self.batch_sizes: deque[int] = deque(maxlen=1000)  # the last batches' sizes, for tests

    def joined(self, key: Hashable) -> None:
        self._clients[key] = self._clients.get(key, 0) + 1

    def left(self, key: Hashable) -> None:
        self._clients[key] = max(0, self._clients.get(key, 0) - 1)

    async def submit(self, key: Hashable, item: Any) -> Any:
        loop = asyncio.get_running_loop()
        lane = self._lanes.setdefault(key, _Lane())
        future = loop.create_future()
        lane.waiting.append((item, future))
        if not lane.busy:
            if len(lane.waiting) >= self._max or self._clients.get(key, 0) <= 1:
                self._start(key, lane)
            elif lane.timer is None:
                lane.timer = loop.call_later(self._wait, self._start, key, lane)
        return await future

    def _start(self, key: Hashable, lane: _Lane) -> None:
        if lane.timer is not None:
            lane.timer.cancel()
            lane.timer = None
        if lane.busy or not lane.waiting:
            return
        batch, lane.waiting = lane.waiting[: self._max], lane.waiting[self._max :]
        lane.busy = True
        self.batch_sizes.append(len(batch))
        hop = asyncio.ensure_future(run_in_threadpool(self._work, key, [item for item, _ in batch]))
        self._running.add(hop)
        hop.add_done_callback(functools.partial(self._land, key, lane, batch))

    def _land(self, key: Hashable, lane: _Lane, batch: list, hop: asyncio.Future) -> None:
        self._running.discard(hop)
        lane.busy = False
        error = None if hop.cancelled() else hop.exception()
        results = None if hop.cancelled() or error is not None else hop.result()
        for index, (_, future) in enumerate(batch):
            if future.done():  # its connection went away
                continue
            if results is not None:
                future.set_result(results[index])
            elif error is not None:
                future.set_exception(error)
            else:
                future.cancel()
        if lane.waiting:  # they have waited through a whole batch already
            self._start(key, lane)
