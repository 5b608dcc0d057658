"""Start the real server in its own process, for the benchmark and the end-to-end tests."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class ServerURL(str):
    """The server's base URL, which also knows the server's process id (for memory readings)."""

    pid: int


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """One `python -m app serve` process on a loopback port (start, wait until healthy, stop)."""

    def __init__(
        self, models_dir: Path | None = None, workers: int = 1, env: dict | None = None, cache: str | None = None, port: int | None = None,
        args: tuple[str, ...] = (),
    ) -> None:
        self.port = port or free_port()  # a port again: the same server back after a stop
        environment = {
            **os.environ,
            "CONVNET_VIS_MODELS_DIR": str(models_dir or PROJECT_ROOT / "models"),
            "CONVNET_VIS_CACHE_DIR": cache or tempfile.mkdtemp(prefix="convnet-vis-cache-"),
            "TF_CPP_MIN_LOG_LEVEL": "2",
            **(env or {}),
        }
        self.log = tempfile.NamedTemporaryFile("w+", prefix="convnet-vis-server-", suffix=".log", delete=False)
        command = [sys.executable, "-m", "app", "serve", "--port", str(self.port), "--workers", str(workers), *args]
        self.process = subprocess.Popen(
            command + ["--log-level", "warning"], cwd=PROJECT_ROOT, env=environment, stdout=self.log, stderr=subprocess.STDOUT
        )
        self.url = ServerURL(f"http://127.0.0.1:{self.port}")
        self.url.pid = self.process.pid

    def wait_healthy(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(self.url + "/api/health", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.log.seek(0)
                raise RuntimeError(f"the server did not start:\n{self.log.read()[-3000:]}")
            time.sleep(0.3)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.close()


@contextlib.contextmanager
def running_server(
    models_dir: Path | None = None, workers: int = 1, env: dict | None = None, timeout: float = 120, cache: str | None = None,
    args: tuple[str, ...] = (),
):
    """Yield the base URL of `python -m app serve` on a free loopback port; stop it afterwards.
    `cache`: its cache folder (default: a new empty one); `args`: more arguments to `serve`."""
    server = Server(models_dir, workers, env, cache, args=args)
    try:
        server.wait_healthy(timeout)
        yield server.url
    finally:
        server.stop()
