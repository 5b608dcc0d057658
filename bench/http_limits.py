"""`python -m bench.http_limits [--http limited|httptools]`: issue 29's item 1 against a server of
our own on loopback (`python -m app serve`, one worker, the bundled models), bounded in count and time.

- pipelined: 1.2 M `GET /static/js/api.js` (57 MB) written on one connection without reading; the worker's
  RSS before and after, and how many bytes the server took before the writes stalled.
- unfinished head: a 100 MB header that never ends; the server's answer and RSS at its highest.
- slow head: one byte of a head a second; when the server answers or closes.
- cost: 2,000 sequential keep-alive `GET /api/health`, and a 10 MB upload refused after it was read.

`--http httptools` runs uvicorn's default protocol instead of ours (app/http_protocol.py), for the
"before" row. The socket helpers are also used by tests/test_limits.py.
"""

from __future__ import annotations

import argparse
import select
import socket
import statistics
import tempfile
import time

import httpx

from bench.server import rss_bytes, running_server
from tests.conftest import MODELS_DIR

HEALTH = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
# A file answer: Starlette's FileResponse reads the request while it sends (to notice a disconnect),
# which let uvicorn read and queue the requests behind it. /api/health's answer never reads.
PIPELINED = b"GET /static/js/api.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def connect(url: str, timeout: float) -> socket.socket:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    connection = socket.create_connection((host, int(port)), timeout=timeout)
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)  # the client buffers little
    return connection


def write_until_stalled(connection: socket.socket, chunk: bytes, total: int) -> int:
    """Write `chunk` until `total` bytes went or a write stalled for the socket's timeout (the server
    stopped reading) or the server closed; the bytes written."""
    sent, view = 0, memoryview(chunk)
    try:
        while sent < total:
            sent += connection.send(view[sent % len(chunk) : min(len(chunk), sent % len(chunk) + total - sent)])
    except (TimeoutError, BrokenPipeError, ConnectionResetError):
        pass
    return sent


def answer(connection: socket.socket, wait: float) -> bytes:
    """What the server wrote back within `wait` seconds (b"" if it closed without a word)."""
    received = b""
    deadline = time.monotonic() + wait
    while (left := deadline - time.monotonic()) > 0:
        readable, _, _ = select.select([connection], [], [], left)
        if not readable:
            break
        try:
            data = connection.recv(65536)
        except ConnectionResetError:
            break
        if not data:
            break
        received += data
    return received


def is_closed(connection: socket.socket, wait: float) -> bool:
    """True if the server closed (or reset) the connection within `wait` seconds."""
    readable, _, _ = select.select([connection], [], [], wait)
    if not readable:
        return False
    try:
        return connection.recv(65536, socket.MSG_PEEK) == b""
    except ConnectionResetError:
        return True


def pipelined(url: str, requests: int) -> tuple[int, int, int]:
    """RSS before, RSS after (connection still open), bytes the server took."""
    before = rss_bytes(url.pid)
    with connect(url, timeout=5) as connection:
        sent = write_until_stalled(connection, PIPELINED * 2000, requests * len(PIPELINED))
        time.sleep(2)
        after = rss_bytes(url.pid)
    return before, after, sent


def unfinished_head(url: str, size: int) -> tuple[int, int, int, bytes]:
    """RSS before, RSS at its highest while writing, bytes written, the server's answer."""
    before = peak = rss_bytes(url.pid)
    with connect(url, timeout=5) as connection:
        connection.sendall(b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ")
        sent, block = 0, b"a" * 2**20
        while sent < size:
            wrote = write_until_stalled(connection, block, min(len(block), size - sent))
            sent += wrote
            peak = max(peak, rss_bytes(url.pid))
            if wrote < min(len(block), size - sent + wrote):
                break  # stalled or closed
        reply = answer(connection, 5)
        peak = max(peak, rss_bytes(url.pid))
    return before, peak, sent, reply


def slow_head(url: str, limit: float) -> tuple[float, bytes]:
    """Seconds from connecting until the server answered or closed (at most `limit`), and the answer."""
    head = b"GET /api/health HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"s" * 10_000
    started = time.monotonic()
    with connect(url, timeout=5) as connection:
        for byte in head:
            try:
                connection.send(bytes([byte]))
            except (BrokenPipeError, ConnectionResetError):
                break
            if select.select([connection], [], [], 1.0)[0] or time.monotonic() - started > limit:
                break  # an answer, or the server closed
        seconds = time.monotonic() - started
        return seconds, answer(connection, 2)


def cost(url: str) -> tuple[float, float]:
    """Median ms of a keep-alive GET /api/health, and of a 10 MB upload refused after it was read."""
    with httpx.Client(timeout=60) as client:
        times = []
        for _ in range(2000):
            started = time.perf_counter()
            client.get(url + "/api/health")
            times.append(time.perf_counter() - started)
        uploads = []
        body = b"\x89PNG\r\n\x1a\n" + b"\0" * (10 * 2**20 - 100)
        for _ in range(5):
            started = time.perf_counter()
            response = client.post(url + "/api/models/mnist-convnet/predict", content=body, headers={"content-type": "image/png"})
            uploads.append(time.perf_counter() - started)
            assert 400 <= response.status_code < 500, response.status_code
    return statistics.median(times) * 1000, statistics.median(uploads) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.http_limits")
    parser.add_argument("--http", default="limited", choices=["limited", "httptools"])
    parser.add_argument("--requests", type=int, default=1_200_000, help="pipelined requests to write")
    parser.add_argument("--head-mb", type=int, default=100)
    parser.add_argument("--slow-limit", type=float, default=40, help="seconds to give up on the slow head")
    args = parser.parse_args()
    mib = 2**20
    env = {"CONVNET_VIS_CACHE_DIR": tempfile.mkdtemp()}
    with running_server(MODELS_DIR, env=env, args=("--http", args.http)) as url:
        health, upload = cost(url)
        print(f"[{args.http}] cost: keep-alive GET /api/health median {health:.2f} ms; 10 MB upload median {upload:.0f} ms")
        before, after, sent = pipelined(url, args.requests)
        print(f"[{args.http}] pipelined: {args.requests:,} requests ({args.requests * len(PIPELINED) / 1e6:.0f} MB) to write, "
              f"{sent / 1e6:.1f} MB taken before the writes stalled; RSS {before / mib:.0f} -> {after / mib:.0f} MiB")
        before, peak, sent, reply = unfinished_head(url, args.head_mb * 10**6)
        print(f"[{args.http}] unfinished head: {sent / 1e6:.1f} MB of {args.head_mb} MB written; answer {reply[:40]!r}; "
              f"RSS {before / mib:.0f} -> at most {peak / mib:.0f} MiB")
        seconds, reply = slow_head(url, args.slow_limit)
        print(f"[{args.http}] slow head (a byte a second): answered or closed after {seconds:.1f} s "
              f"(gave up at {args.slow_limit:g} s); answer {reply[:40]!r}")
        with httpx.Client(timeout=10) as client:
            print(f"[{args.http}] still serving: /api/health {client.get(url + '/api/health').status_code}; "
                  f"RSS at the end {rss_bytes(url.pid) / mib:.0f} MiB")


if __name__ == "__main__":
    main()
