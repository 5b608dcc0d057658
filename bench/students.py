"""A class drawing at once: `python -m bench.load students [--page live engine] [--max-clients N]
[--workers 1 2] [--compare] [--step-seconds 10] [--pen-up pair one]`.

`--page live` (the default; the page as it was before issue 26). Each simulated student holds one
live WebSocket, as the page does (`?dtype=float16`, a 56x56 pad sent as JSON pixels with
`preprocess: digit`), and draws like a person: strokes of 0.4-1.5 s with a frame every 33 ms while
the pen moves, 0.2-0.8 s between strokes, 1-3 s between digits (looking at the result, clearing
the pad). Students use a mix of the bundled models (two in three the convnet) and start at random
moments in the first second, not in lock step.

For each student: the achieved update rate (answers per second of drawing) and the latency of
every frame, pen to answer as the page measures it (a frame is answered by the first answer whose
`seq` is at least its own, since the server skips stale frames). A class size *holds* when every
student gets >= 15 updates/s and the p95 latency over all frames is <= 50 ms. Class sizes grow
(4, 8, 12, 16, 24, ...) until one does not hold twice in a row (the machine is shared); then the
size halfway between is tried once.

`--page engine` (issue 26: the view computed in the student's browser). Each student has its own
HTTP connections (`httpx.AsyncClient`, at most 6, as a browser) and loads the page and its model
once (`PAGE_LOAD`: `/`, `/api/models`, the model's detail, `/browser` and the binary
`/browser/weights`; on a server without the last two, the first three only, with a note). It then
draws with the same strokes and pauses as above, from the same random sequence, but sends nothing
while the pen moves: at each pen-up, the drawing's 28x28 field (real MNIST test digits from
tests/data, ink appearing top to bottom as above) as `{"pixels": ...}` to
`/embedding/place?preprocess=none` and `/neighbors?preprocess=none&k=8` at once (`--pen-up pair`,
the default: what static/js/mapcard.js sent before the engine), or the single
`/embedding/place?preprocess=none&nearest=8` (`--pen-up one`: what it sends since; `--pen-up pair
one` measures both), one request (or pair) at a time: a pen-up while one is out is sent when it is
back, with the newest field, as the page does (the page also waits for 250 ms without input, so
it sends at most as often as this); and one Grad-CAM (`/gradcam?preprocess=none`) per
student-minute, at a random moment in each minute.
Before any timing, each model's t-SNE map is computed (GET `/embedding`; about 13 s a model the
first time, then read from the run's shared cache folder by every later server) and the page load,
a pen-up and an explanation are made on a few fresh connections. A size's seconds are measured
from 1 s after the last student has loaded the page. A size *holds* when the pen-up requests' p95
<= 250 ms, the explanations' p95 <= 1 s and no request fails (status >= 400 or no answer). Sizes
grow 10, 20, 40, 60, 80, 120, 160, 200 (up to `--max-clients`), then as above. Every student's view
rate is the browser's, measured by the page benchmark, not here.

For both pages: the server's CPU seconds per student-minute at the pad (its process tree's CPU time
over the measured seconds, divided by students x minutes, pauses included; the idle server's own
use is printed once per server), and the students' process CPU share (all students run in one
asyncio process, on the same cores as the server), next to the load average. With both pages, one
server (per worker count) serves the live classes first, then the engine classes; a table side by
side ends the run.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import re
import resource
import time
from collections import Counter, deque
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
    client_cpu: float  # share of all cores, over the measured seconds
    server_cpu: float | None
    load: float
    server_cpu_seconds: float | None = None  # the server's CPU time over the measured seconds

    page = "live"

    @property
    def cpu_per_student_minute(self) -> float | None:
        return minute_share(self.server_cpu_seconds, self.size, self.seconds)

    @property
    def answer_ms(self) -> list[float]:
        return self.latencies

    @property
    def explanation_ms(self) -> list[float]:
        return []  # the live page's students ask for none here

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
            f"errors {errors}  CPU server {server}{per_minute(self.cpu_per_student_minute)} client {self.client_cpu * 100:3.0f}% of "
            f"{os.cpu_count()} cores  load {self.load:.1f}  "
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
    window = Window()
    window.open(measure[0], seconds)
    cpu = asyncio.create_task(cpu_in_window(window, server_pid))
    await asyncio.gather(*(draw(c, frames, random.Random(seed * 1000 + c.student.index), measure) for c in channels))
    client_seconds, server_seconds = await cpu
    await asyncio.sleep(0.3)  # the last answers
    for channel in channels:
        channel.closed = True
        if channel.socket is not None:
            await channel.socket.close()
    for runner in runners:
        runner.cancel()
    await asyncio.gather(*runners, return_exceptions=True)
    cores = os.cpu_count() or 1
    server = server_seconds / seconds / cores if server_pid else None
    return ClassResult(size, students, seconds, client_seconds / seconds / cores, server, load, server_seconds)


class Window:
    """The measured seconds of one class run: open from `start` to `end` (perf_counter), both
    unknown (infinite) until `open` is called."""

    def __init__(self) -> None:
        self.start = self.end = math.inf
        self.opened = asyncio.Event()

    def open(self, start: float, seconds: float) -> None:
        self.start, self.end = start, start + seconds
        self.opened.set()

    def __contains__(self, moment: float) -> bool:
        return self.start <= moment < self.end


async def cpu_in_window(window: Window, server_pid: int | None) -> tuple[float, float | None]:
    """(this process's, the server's) CPU seconds between the window's start and end."""
    await window.opened.wait()
    await asyncio.sleep(max(0.0, window.start - time.perf_counter()))
    mine0, server0 = resource.getrusage(resource.RUSAGE_SELF), _cpu_seconds_of_tree(server_pid) if server_pid else None
    await asyncio.sleep(max(0.0, window.end - time.perf_counter()))
    mine1, server1 = resource.getrusage(resource.RUSAGE_SELF), _cpu_seconds_of_tree(server_pid) if server_pid else None
    mine = mine1.ru_utime + mine1.ru_stime - mine0.ru_utime - mine0.ru_stime
    return mine, (server1 - server0 if server_pid else None)


def minute_share(cpu_seconds: float | None, size: int, seconds: float) -> float | None:
    """CPU seconds per student-minute at the pad (pauses between strokes and digits included)."""
    return None if cpu_seconds is None or not size else cpu_seconds / (size * seconds / 60)


def per_minute(value: float | None) -> str:
    return f" ({value:5.2f} s/student-min)" if value is not None else ""


# --------------------------------------------------------------------------- the engine page
# What the page with the forward pass in the browser (issue 26) asks of the server. `{id}`: the
# student's model. Loaded once per student, in this order: the page, the model list, the model's
# detail, then its graph for the page's engine and its weights (binary, one download, ETag).
PAGE_LOAD = ("/", "/api/models", "/api/models/{id}", "/api/models/{id}/browser", "/api/models/{id}/browser/weights")
ENGINE_PATHS = ("/api/models/{id}/browser", "/api/models/{id}/browser/weights")  # the engine's; absent on older servers
# At each pen-up, the drawing's 28x28 field, both requests at once (as static/js/mapcard.js sends
# them), one pair at a time per student: a pen-up while a pair is out is sent once it is back,
# with the newest field (the page's own rule). `--pen-up one`: the single request that places the
# drawing and gives its nearest digits (`nearest=8`), for a page that asks once.
PEN_UP = {
    "pair": ("/api/models/{id}/embedding/place?preprocess=none", "/api/models/{id}/neighbors?preprocess=none&k=8"),
    "one": ("/api/models/{id}/embedding/place?preprocess=none&nearest=8",),
}
PEN_UP_NAMES = {"pair": "place + neighbors (two requests)", "one": "place?nearest=8 (one request)"}
EXPLANATION = "/api/models/{id}/gradcam?preprocess=none"  # once per student-minute, at a random moment in it
MAP = "/api/models/{id}/embedding"  # the t-SNE map: computed on first use (about 13 s a model), warmed before timing
ENGINE_CLASS_SIZES = (10, 20, 40, 60, 80, 120, 160, 200)
PEN_UP_P95_MS = 250.0
EXPLANATION_P95_MS = 1000.0
REQUEST_TIMEOUT = 30.0
JSON_HEADERS = {"content-type": "application/json"}
IDLE_SECONDS = 3.0
_SSL = None


def _client(base: str) -> "httpx.AsyncClient":
    """One student's browser: its own connections (at most 6 to a host, as browsers), no proxy."""
    import ssl

    import httpx

    global _SSL
    _SSL = _SSL or ssl.create_default_context()  # one, not one per student (its CA bundle takes ~10 ms to load)
    # Idle connections are dropped after 4 s, before uvicorn closes them (5 s): reusing one the
    # server is closing fails the request (httpx.ReadError), where a browser would send it again.
    limits = httpx.Limits(max_connections=6, max_keepalive_connections=6, keepalive_expiry=4.0)
    return httpx.AsyncClient(base_url=base, timeout=REQUEST_TIMEOUT, limits=limits, verify=_SSL, trust_env=False)


def digit_fields(count: int = 8, steps: int = 24) -> list[list[bytes]]:
    """Per digit, the JSON body `{"pixels": 28x28 in [0, 1]}` after each of `steps` frames of pen
    (ink appears top to bottom, as `digit_frames`): real MNIST test digits, 3 decimals as the page."""
    bodies = []
    for digit in sample_digits(count):
        rows = np.flatnonzero(digit.max(axis=1) > 0.05)
        first, last = (rows[0], rows[-1] + 1) if rows.size else (0, 28)
        texts = []
        for step in range(1, steps + 1):
            shown = digit.astype(np.float64)
            shown[first + round((last - first) * step / steps) :] = 0.0
            texts.append(json.dumps({"pixels": np.round(shown, 3).tolist()}, separators=(",", ":")).encode())
        bodies.append(texts)
    return bodies


@dataclass
class PageStudent:
    index: int
    model: str
    load_seconds: float | None = None  # the whole PAGE_LOAD sequence
    load_bytes: int = 0
    pen_ups: int = 0  # in the window
    coalesced: int = 0  # pen-ups in the window sent later with a newer field (a pair was out)
    pen_up_ms: list[float] = field(default_factory=list)  # every pen-up request sent in the window
    explanation_ms: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # any request, any time
    body: bytes | None = None  # the drawing's current field
    again: bool = False
    placing: asyncio.Task | None = None


async def _request(client, student: PageStudent, method: str, path: str, body: bytes | None = None):
    """(ms, response or None); a failure (exception, or a status >= 400) is noted on the student."""
    started = time.perf_counter()
    try:
        response = await client.request(method, path, content=body, headers=JSON_HEADERS if body is not None else None)
        if response.status_code >= 400:
            student.failures.append(f"{method} {path.split('?')[0]}: {response.status_code}")
    except Exception as error:  # noqa: BLE001 - every failure counts, whatever it is
        response = None
        student.failures.append(f"{method} {path.split('?')[0]}: {type(error).__name__}")
    return (time.perf_counter() - started) * 1000, response


async def page_student(base: str, student: PageStudent, fields, load_paths, pen_up_paths, window: Window, loaded, seed: int) -> None:
    """Load the page and the model once, then draw as `draw` does (the same strokes and pauses from
    the same random sequence), sending the field at each pen-up and an explanation each minute."""
    rng, moments = random.Random(seed), random.Random(seed + 7_919)
    model = student.model
    await asyncio.sleep(rng.uniform(0, 1.0))
    async with _client(base) as client:
        started = time.perf_counter()
        for path in load_paths:
            _, response = await _request(client, student, "GET", path.format(id=model))
            student.load_bytes += len(response.content) if response is not None else 0
        student.load_seconds = time.perf_counter() - started
        loaded()

        async def place() -> None:
            while True:
                body, sent = student.body, time.perf_counter()
                answers = await asyncio.gather(*(_request(client, student, "POST", p.format(id=model), body) for p in pen_up_paths))
                if sent in window:
                    student.pen_up_ms += [ms for ms, _ in answers]
                if not student.again:
                    return
                student.again = False

        def pen_up() -> None:
            if time.perf_counter() in window:
                student.pen_ups += 1
            if student.placing is not None and not student.placing.done():
                student.again = True
                student.coalesced += time.perf_counter() in window
            else:
                student.placing = asyncio.create_task(place())

        async def explain() -> None:
            minute = 0
            while True:
                at = started + student.load_seconds + 60 * minute + moments.uniform(0, 60)
                while time.perf_counter() < min(at, window.end):
                    await asyncio.sleep(min(0.5, at - time.perf_counter()))
                if time.perf_counter() >= window.end:
                    return
                ms, _ = await _request(client, student, "POST", EXPLANATION.format(id=model), student.body or fields[0][-1])
                if at in window:
                    student.explanation_ms.append(ms)
                minute += 1

        explainer = asyncio.create_task(explain())
        while time.perf_counter() < window.end:
            digit = rng.choice(fields)
            shown = 0
            while shown < len(digit) and time.perf_counter() < window.end:
                stroke = rng.uniform(0.4, 1.5)
                await asyncio.sleep(stroke)  # the pen moves: the page computes the view itself
                shown += math.ceil(stroke / FRAME_SECONDS)
                student.body = digit[min(shown, len(digit)) - 1]
                pen_up()
                await asyncio.sleep(rng.uniform(0.2, 0.8))
            await asyncio.sleep(rng.uniform(1.0, 3.0))
        await explainer
        if student.placing is not None:
            await student.placing


@dataclass
class PageClassResult:
    size: int
    students: list[PageStudent]
    seconds: float
    client_cpu: float  # share of all cores, over the measured seconds
    server_cpu: float | None
    load: float
    server_cpu_seconds: float | None
    loading_seconds: float  # from the first student's start until every student had the page

    page = "engine"

    @property
    def answer_ms(self) -> list[float]:
        return [v for s in self.students for v in s.pen_up_ms]

    @property
    def explanation_ms(self) -> list[float]:
        return [v for s in self.students for v in s.explanation_ms]

    @property
    def failures(self) -> list[str]:
        return [f for s in self.students for f in s.failures]

    @property
    def cpu_per_student_minute(self) -> float | None:
        return minute_share(self.server_cpu_seconds, self.size, self.seconds)

    @property
    def holds(self) -> bool:
        pen, explained = self.answer_ms, self.explanation_ms
        return (
            bool(pen)
            and not self.failures
            and p(pen, 95) <= PEN_UP_P95_MS
            and (not explained or p(explained, 95) <= EXPLANATION_P95_MS)
        )

    def line(self) -> str:
        pen, explained = self.answer_ms or [math.nan], self.explanation_ms or [math.nan]
        loads = [s.load_seconds for s in self.students if s.load_seconds is not None] or [math.nan]
        server = f"{self.server_cpu * 100:3.0f}%" if self.server_cpu is not None else "  - "
        failures = Counter(self.failures)
        pen_ups = sum(s.pen_ups for s in self.students)
        return (
            f"  {self.size:>4} students  pen-up p50 {p(pen, 50):6.1f} p95 {p(pen, 95):6.1f} ms (n={len(self.answer_ms)}, "
            f"{pen_ups} pen-ups, {sum(s.coalesced for s in self.students)} sent later)   explanation p50 {p(explained, 50):6.1f} "
            f"p95 {p(explained, 95):6.1f} ms (n={len(self.explanation_ms)})   page load p50 {p(loads, 50):4.2f} p95 {p(loads, 95):4.2f} s "
            f"{float(np.mean([s.load_bytes for s in self.students])) / 1024:.0f} KiB/student   failures {len(self.failures)}"
            f"{' ' + str(dict(failures.most_common(3))) if failures else ''}   CPU server {server}"
            f"{per_minute(self.cpu_per_student_minute)} client {self.client_cpu * 100:3.0f}% of {os.cpu_count()} cores  "
            f"load {self.load:.1f}  {'holds' if self.holds else 'does not hold'}"
        )


async def run_page_class(
    base: str, size: int, seconds: float, fields, load_paths, pen_up_paths, server_pid: int | None = None, seed: int = 0, settle: float = 1.0
) -> PageClassResult:
    """`size` students of the engine page for `seconds`, measured from `settle` s after the last
    one has loaded the page (students start at random moments in the first second)."""
    rng = random.Random(seed)
    students = [PageStudent(i, rng.choice(MODELS)) for i in range(size)]
    window, start, remaining = Window(), time.perf_counter(), [size]
    load = os.getloadavg()[0]

    def loaded() -> None:
        remaining[0] -= 1
        if not remaining[0]:
            window.open(time.perf_counter() + settle, seconds)

    cpu = asyncio.create_task(cpu_in_window(window, server_pid))
    await asyncio.gather(
        *(page_student(base, s, fields, load_paths, pen_up_paths, window, loaded, seed * 1000 + s.index) for s in students)
    )
    client_seconds, server_seconds = await cpu
    cores = os.cpu_count() or 1
    server = server_seconds / seconds / cores if server_pid else None
    return PageClassResult(size, students, seconds, client_seconds / seconds / cores, server, load, server_seconds, window.start - settle - start)


async def warm_page(base: str, fields, pen_up_paths, clients: int = 6) -> tuple[tuple[str, ...], list[str]]:
    """Before any timing: each model's t-SNE map (GET /embedding: the first computation takes about
    13 s a model; later servers of the run read it from their shared cache folder) and, on
    `clients` fresh connections (so that every worker gets some), the page load, a pen-up and an
    explanation. Returns the page-load paths the server has (without the engine's on a server
    that lacks them) and notes to print."""
    notes, paths = [], PAGE_LOAD
    async with _client(base) as client:
        for model in dict.fromkeys(MODELS):
            started = time.perf_counter()
            response = await client.get(MAP.format(id=model), timeout=600)
            while response.status_code == 202:  # a map not shipped: computed meanwhile, asked again
                await asyncio.sleep(float(response.headers["retry-after"]))
                response = await client.get(MAP.format(id=model), timeout=600)
            response.raise_for_status()
            notes.append(f"warm-up: GET {MAP.format(id=model)} {time.perf_counter() - started:.1f} s (the t-SNE map, before any timing)")
            engine = await client.get(ENGINE_PATHS[0].format(id=model))
            if engine.status_code == 404 and paths == PAGE_LOAD:
                paths = tuple(p for p in PAGE_LOAD if p not in ENGINE_PATHS)
                notes.append(f"note: the server has no {ENGINE_PATHS[0]} yet (404): each student loads only {', '.join(paths)}")
            elif engine.status_code == 200:
                weights = await client.get(ENGINE_PATHS[1].format(id=model))
                etag = weights.headers.get("etag")
                again = await client.get(ENGINE_PATHS[1].format(id=model), headers={"if-none-match": etag or ""})
                notes.append(f"warm-up: {model} weights {len(weights.content) / 1024:.0f} KiB, ETag {etag}, sent again with it: {again.status_code}")
    for index in range(clients):
        student = PageStudent(index, MODELS[index % len(MODELS)])
        async with _client(base) as client:
            for path in paths:
                await _request(client, student, "GET", path.format(id=student.model))
            for path in pen_up_paths + (EXPLANATION,):
                await _request(client, student, "POST", path.format(id=student.model), fields[index % len(fields)][-1])
        if student.failures:
            notes.append(f"warm-up failures: {student.failures}")
    return paths, notes


async def find_capacity(run, sizes) -> tuple[int, object]:
    """Grow the class until a size does not hold (a failing size is tried again with other seeds:
    the machine is shared), then try the size halfway once. `run(size, seed)` gives a result with
    `holds` and `line()`. Returns the largest size that held and its result (or the first result)."""
    held, failed, best = 0, None, None
    for size in sizes:
        result = await run(size, 0)
        print(result.line(), flush=True)
        if not result.holds:  # the machine is shared: a size fails only if it fails twice
            result = await run(size, 1)
            print(result.line(), "(again)", flush=True)
        best = best or result
        if result.holds:
            held, best = size, result
        else:
            failed = size
            break
    if failed is not None and failed - held > 2:
        middle = (held + failed) // 2
        result = await run(middle, 0)
        print(result.line(), flush=True)
        if result.holds:
            held, best = middle, result
    return held, best


def students(max_clients: int | None, workers: list[int], compare: bool, seconds: float, pages=("live",), pen_ups=("pair",)) -> None:
    import tempfile

    from bench.server import running_server

    live_settings = [("batching off (one forward pass per frame, main's path)", {"CONVNET_VIS_LIVE_BATCH_WAIT_MS": "0"})] if compare else []
    live_settings.append(("micro-batching on (default settings)", {}))
    live_sizes = [s for s in CLASS_SIZES if s <= (max_clients or 128)] or [max_clients]
    engine_sizes = [s for s in ENGINE_CLASS_SIZES if s <= (max_clients or 200)] or [max_clients]
    cache = tempfile.mkdtemp(prefix="convnet-vis-students-cache-")  # one per run: the t-SNE maps computed once
    frames = digit_frames() if "live" in pages else None
    fields = digit_fields() if "engine" in pages else None
    summary = []
    if "live" in pages:
        print(f"live page: >= {TARGET_RATE:.0f} updates/s each and p95 <= {TARGET_P95_MS:.0f} ms; {seconds:.0f} s measured per "
              f"class size after a 2 s warm-up; {os.cpu_count()} cores", flush=True)
    if "engine" in pages:
        print(f"engine page: a size holds when pen-up requests p95 <= {PEN_UP_P95_MS:.0f} ms, explanations p95 <= "
              f"{EXPLANATION_P95_MS:.0f} ms and no request fails; {seconds:.0f} s measured per class size from 1 s after "
              f"every student has loaded the page. Pen-up: {'; or '.join(PEN_UP_NAMES[m] for m in pen_ups)}; an explanation ({EXPLANATION}) "
              f"once per student-minute. Every student's view rate is then the browser's, measured by the page "
              f"benchmark (`python -m bench --only page`), not here.", flush=True)
    print("server CPU per student-minute: the server's CPU seconds over the measured seconds / (students x minutes at the "
          "pad, pauses included)", flush=True)
    for count in workers:
        servers = [(name, env, "live") for name, env in live_settings] if "live" in pages else []
        if "engine" in pages:
            if servers:
                servers[-1] = (servers[-1][0], servers[-1][1], "both")
            else:
                servers.append(("default settings", {}, "engine"))
        for name, env, kind in servers:
            with running_server(workers=count, env=env, cache=cache) as base:
                if count > 1:
                    time.sleep(15)  # /api/health answered from the first worker; let the others load their models
                if kind in ("engine", "both"):
                    load_paths, notes = asyncio.run(warm_page(base, fields, tuple(u for m in pen_ups for u in PEN_UP[m])))
                    print("\n".join(notes), flush=True)
                idle0 = _cpu_seconds_of_tree(base.pid)
                time.sleep(IDLE_SECONDS)
                print(f"{count} worker(s), {name}: the server idle uses {(_cpu_seconds_of_tree(base.pid) - idle0) / IDLE_SECONDS * 60:.2f} "
                      f"CPU s per minute (measured over {IDLE_SECONDS:.0f} s with no client; included in the per-student figures)", flush=True)
                if kind in ("live", "both"):
                    print(f"{count} worker(s), live page, {name}:", flush=True)
                    held, best = asyncio.run(
                        find_capacity(lambda size, seed: run_class(base, size, seconds, frames, base.pid, seed), live_sizes)
                    )
                    summary.append(("live", count, name, held, best))
                for mode in pen_ups if kind in ("engine", "both") else ():
                    label = f"{name}; pen-up: {PEN_UP_NAMES[mode]}"
                    print(f"{count} worker(s), engine page, {label}:", flush=True)
                    held, best = asyncio.run(
                        find_capacity(
                            lambda size, seed: run_page_class(base, size, seconds, fields, load_paths, PEN_UP[mode], base.pid, seed),
                            engine_sizes,
                        )
                    )
                    summary.append(("engine", count, label, held, best))
    print_table(summary)


def print_table(summary) -> None:
    """Side by side; the CPU and latency columns are those of the largest class held (or of the
    first size tried when none held). Live's answer is per frame (pen to answer); engine's per
    pen-up request."""
    print("largest class held (CPU and latencies at that size; live: per frame, engine: per pen-up request):")
    print(f"  {'page':<7} {'workers':>7}  {'largest class':>13}  {'server CPU s/student-min':>24}  {'answer p50/p95 ms':>17}  "
          f"{'explanation p50/p95 ms':>22}  settings")
    for page, count, name, held, best in summary:
        answers, explained = best.answer_ms, best.explanation_ms
        answer = f"{p(answers, 50):.1f} / {p(answers, 95):.1f}" if answers else "-"
        explanation = f"{p(explained, 50):.0f} / {p(explained, 95):.0f}" if explained else "-"
        cpu = best.cpu_per_student_minute
        cpu_text = f"{cpu:.3f} (at {best.size})" if cpu is not None else "-"
        print(f"  {page:<7} {count:>7}  {held:>13}  {cpu_text:>24}  {answer:>17}  {explanation:>22}  {name}")
