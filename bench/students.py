"""A class drawing at once: `python -m bench.load students [--max-clients 128] [--workers 1 2] [--compare]`.

Each simulated student holds one live WebSocket, as the page does (`?dtype=float16`, a 56x56 pad
sent as JSON pixels with `preprocess: digit`), and draws like a person: strokes of 0.4-1.5 s with
a frame every 33 ms while the pen moves, 0.2-0.8 s between strokes, 1-3 s between digits (looking
at the result, clearing the pad). Students use a mix of the bundled models (two in three the
convnet) and start at random moments in the first second, not in lock step.

For each student: the achieved update rate (answers per second of drawing) and the latency of
every frame, pen to answer as the page measures it (a frame is answered by the first answer whose
`seq` is at least its own, since the server skips stale frames). A class size *holds* when every
student gets >= 15 updates/s and the p95 latency over all frames is <= 50 ms. Class sizes grow
until one does not hold twice in a row (the machine is shared); then the size halfway between
is tried once.

All students run in one asyncio process (the `websockets` client, answers read as bytes and only
their `seq` parsed), which shares the machine's cores with the server: its CPU share is printed
with each step, next to the server's and the load average.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import resource
import time
from collections import deque
from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from bench.__main__ import p, sample_digits

FRAME_SECONDS = 0.033
TARGET_RATE = 15.0
TARGET_P95_MS = 50.0
MODELS = ("mnist-convnet", "mnist-convnet", "mnist-lenet")
CLASS_SIZES = (4, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384)
SEQ = re.compile(rb'^\{"seq":(-?\d+)')
RECONNECT_FIRST = 0.25  # as static/js/api.js: 250 ms, doubling up to 5 s


def digit_frames(count: int = 8, steps: int = 24) -> list[list[str]]:
    """Per digit, the pad's content as the pen goes: ink appears top to bottom in `steps` frames,
    as the JSON text after `{"seq":N` (the page rounds pixels to 3 decimals)."""
    frames = []
    for digit in sample_digits(count):
        pad = np.asarray(Image.fromarray((digit * 255).astype(np.uint8)).resize((56, 56), Image.Resampling.BILINEAR)) / 255.0
        rows = np.flatnonzero(pad.max(axis=1) > 0.05)
        first, last = (rows[0], rows[-1] + 1) if rows.size else (0, 56)
        texts = []
        for step in range(1, steps + 1):
            shown = pad.copy()
            shown[first + round((last - first) * step / steps) :] = 0.0
            pixels = np.round(shown, 3).tolist()
            texts.append("," + json.dumps({"pixels": pixels, "preprocess": "digit"}, separators=(",", ":"))[1:])
        frames.append(texts)
    return frames


@dataclass
class Student:
    index: int
    model: str
    drawing_seconds: float = 0.0
    answers: int = 0
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    reconnects: list[float] = field(default_factory=list)  # seconds from a lost channel to a new one
    answered_at: list[float] = field(default_factory=list)  # perf_counter of each counted answer
    pending: deque = field(default_factory=deque)  # (seq, sent at, counted) of frames not yet answered

    @property
    def rate(self) -> float:
        return self.answers / self.drawing_seconds if self.drawing_seconds else 0.0


class Channel:
    """One student's live channel, reconnecting by itself after the page's delays."""

    def __init__(self, url: str, student: Student) -> None:
        self.url, self.student = url, student
        self.socket = None
        self.latest: str | None = None  # unsent while disconnected: the newest frame only, as the page
        self.closed = False

    async def run(self) -> None:
        from websockets.asyncio.client import connect

        delay, lost_at = RECONNECT_FIRST, None
        while not self.closed:
            try:
                async with connect(self.url, max_size=None, compression=None, proxy=None, open_timeout=10) as socket:
                    self.socket, delay = socket, RECONNECT_FIRST
                    if lost_at is not None:
                        self.student.reconnects.append(time.perf_counter() - lost_at)
                        lost_at = None
                    if self.latest is not None:
                        await socket.send(self.latest)
                        self.latest = None
                    while True:
                        self._answered(await socket.recv(decode=False))
            except Exception:
                pass
            self.socket = None
            if self.closed:
                return
            lost_at = lost_at or time.perf_counter()
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _answered(self, data: bytes) -> None:
        now = time.perf_counter()
        match = SEQ.match(data)
        if match is None or b'"error":' in data[:80]:
            self.student.errors += 1
            if match is None:
                return
        seq, counted_answer = int(match.group(1)), False
        pending = self.student.pending
        while pending and pending[0][0] <= seq:
            _, sent, counted = pending.popleft()
            if counted:
                self.student.latencies_ms.append((now - sent) * 1000)
                counted_answer = True
        if counted_answer:
            self.student.answers += 1
            self.student.answered_at.append(now)

    async def send(self, text: str) -> None:
        if self.socket is None:
            self.latest = text
            return
        try:
            await self.socket.send(text)
        except Exception:
            self.latest = text


async def draw(channel: Channel, frames: list[list[str]], rng: random.Random, measure: tuple[float, float]) -> None:
    """Strokes and pauses until the end of the run; frames sent inside `measure` are counted."""
    student = channel.student
    seq = 0
    await asyncio.sleep(rng.uniform(0, 1.0))
    while time.perf_counter() < measure[1]:
        digit = rng.choice(frames)
        shown = 0
        while shown < len(digit) and time.perf_counter() < measure[1]:
            stroke_end = time.perf_counter() + rng.uniform(0.4, 1.5)
            stroke_start = time.perf_counter()
            tick = stroke_start
            while tick < stroke_end:
                seq += 1
                counted = measure[0] <= tick < measure[1]
                student.pending.append((seq, time.perf_counter(), counted))
                await channel.send('{"seq":' + str(seq) + digit[min(shown, len(digit) - 1)])
                shown += 1
                tick += FRAME_SECONDS
                await asyncio.sleep(max(0.0, tick - time.perf_counter()))
            overlap = min(tick, measure[1]) - max(stroke_start, measure[0])
            student.drawing_seconds += max(0.0, overlap)
            await asyncio.sleep(rng.uniform(0.2, 0.8))
        await asyncio.sleep(rng.uniform(1.0, 3.0))


def _cpu_seconds_of_tree(pid: int) -> float:
    """utime + stime of a process and its children (uvicorn's workers), from /proc."""
    total, todo = 0.0, [pid]
    ticks = os.sysconf("SC_CLK_TCK")
    while todo:
        current = todo.pop()
        try:
            with open(f"/proc/{current}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
            for task in os.listdir(f"/proc/{current}/task"):
                with open(f"/proc/{current}/task/{task}/children") as children:
                    todo += [int(c) for c in children.read().split()]
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total


@dataclass
class ClassResult:
    size: int
    students: list[Student]
    seconds: float
    client_cpu: float  # share of all cores
    server_cpu: float | None
    load: float

    @property
    def latencies(self) -> list[float]:
        return [v for s in self.students for v in s.latencies_ms]

    @property
    def holds(self) -> bool:
        rates = [s.rate for s in self.students]
        return bool(self.latencies) and min(rates) >= TARGET_RATE and p(self.latencies, 95) <= TARGET_P95_MS

    def line(self) -> str:
        rates = [s.rate for s in self.students]
        worst95 = max((p(s.latencies_ms, 95) for s in self.students if s.latencies_ms), default=float("nan"))
        errors = sum(s.errors for s in self.students)
        server = f"{self.server_cpu * 100:3.0f}%" if self.server_cpu is not None else "  - "
        lat = self.latencies or [float("nan")]
        return (
            f"  {self.size:>4} students  rate/student min {min(rates):5.1f} median {float(np.median(rates)):5.1f}/s   "
            f"latency p50 {p(lat, 50):6.1f} p95 {p(lat, 95):6.1f} ms (worst student p95 {worst95:6.1f})   "
            f"errors {errors}  CPU server {server} client {self.client_cpu * 100:3.0f}% of 2 cores  load {self.load:.1f}  "
            f"{'holds' if self.holds else 'does not hold'}"
        )


async def run_class(base: str, size: int, seconds: float, frames, server_pid: int | None = None, seed: int = 0, warmup: float = 2.0) -> ClassResult:
    """`size` students for `seconds` against the server at `base` (http://host:port)."""
    rng = random.Random(seed)
    ws_base = base.replace("http", "ws", 1)
    students = [Student(i, rng.choice(MODELS)) for i in range(size)]
    channels = [Channel(f"{ws_base}/api/models/{s.model}/live?dtype=float16", s) for s in students]
    runners = [asyncio.create_task(c.run()) for c in channels]
    start = time.perf_counter()
    measure = (start + warmup, start + warmup + seconds)
    load = os.getloadavg()[0]
    cpu0, server0 = resource.getrusage(resource.RUSAGE_SELF), _cpu_seconds_of_tree(server_pid) if server_pid else None
    await asyncio.gather(*(draw(c, frames, random.Random(seed * 1000 + c.student.index), measure) for c in channels))
    cpu1, server1 = resource.getrusage(resource.RUSAGE_SELF), _cpu_seconds_of_tree(server_pid) if server_pid else None
    elapsed = time.perf_counter() - start
    await asyncio.sleep(0.3)  # the last answers
    for channel in channels:
        channel.closed = True
        if channel.socket is not None:
            await channel.socket.close()
    for runner in runners:
        runner.cancel()
    await asyncio.gather(*runners, return_exceptions=True)
    cores = os.cpu_count() or 1
    client = (cpu1.ru_utime + cpu1.ru_stime - cpu0.ru_utime - cpu0.ru_stime) / elapsed / cores
    server = (server1 - server0) / elapsed / cores if server_pid else None
    return ClassResult(size, students, seconds, client, server, load)


async def find_capacity(base: str, max_clients: int, seconds: float, server_pid: int | None) -> int:
    """Grow the class until it does not hold; try the size halfway once; return the largest that held."""
    frames = digit_frames()
    held, failed = 0, None
    for size in [s for s in CLASS_SIZES if s <= max_clients] or [max_clients]:
        result = await run_class(base, size, seconds, frames, server_pid)
        print(result.line(), flush=True)
        if not result.holds:  # the machine is shared: a size fails only if it fails twice
            result = await run_class(base, size, seconds, frames, server_pid, seed=1)
            print(result.line(), "(again)", flush=True)
        if result.holds:
            held = size
        else:
            failed = size
            break
    if failed is not None and failed - held > 2:
        middle = (held + failed) // 2
        result = await run_class(base, middle, seconds, frames, server_pid)
        print(result.line(), flush=True)
        held = middle if result.holds else held
    return held


def students(max_clients: int, workers: list[int], compare: bool, seconds: float) -> None:
    from bench.server import running_server

    settings = [("batching off (one forward pass per frame, main's path)", {"CONVNET_VIS_LIVE_BATCH_WAIT_MS": "0"})] if compare else []
    settings.append(("micro-batching on (default settings)", {}))
    summary = []
    print(f"students: >= {TARGET_RATE:.0f} updates/s each and p95 <= {TARGET_P95_MS:.0f} ms; {seconds:.0f} s measured per "
          f"class size after a 2 s warm-up; {os.cpu_count()} cores", flush=True)
    for count in workers:
        for name, env in settings:
            with running_server(workers=count, env=env) as base:
                if count > 1:
                    time.sleep(15)  # /api/health answered from the first worker; let the others load their models
                print(f"{count} worker(s), {name}:", flush=True)
                held = asyncio.run(find_capacity(base, max_clients, seconds, base.pid))
            summary.append((count, name, held))
    print("largest class held:")
    for count, name, held in summary:
        print(f"  {count} worker(s), {name}: {held} students")
