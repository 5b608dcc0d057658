"""`python -m bench.limits`: re-measures issue 29's red-team items 2 and 6 against a server of our
own on loopback (`python -m app serve`, one worker, the bundled models), bounded in count and time.

- item 2: 1,600 distinct `max_side` values (1-1600) on /activations: the worker's RSS before and after.
- item 6: 16 live connections each sending one 16 MB frame while /api/health is polled.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time

import httpx
import numpy as np
from websockets.sync.client import connect

from bench.server import rss_bytes, running_server
from tests.conftest import MODELS_DIR


def main() -> None:
    pixels = {"pixels": np.zeros((28, 28)).tolist()}
    server_env = {"CONVNET_VIS_CACHE_DIR": tempfile.mkdtemp()}
    with running_server(MODELS_DIR, env=server_env) as url:
        pid = url.pid  # one worker: the server process itself
        with httpx.Client(timeout=60) as client:
            client.post(url + "/api/models/mnist-convnet/activations?max_side=8", json=pixels)
            before = rss_bytes(pid) if pid else None
            started = time.perf_counter()
            for max_side in range(1, 1601):
                assert client.post(url + f"/api/models/mnist-convnet/activations?max_side={max_side}", json=pixels).status_code == 200
            took = time.perf_counter() - started
            after = rss_bytes(pid) if pid else None
        if pid:
            print(f"item 2: 1,600 max_side values in {took:.1f} s; RSS {before / 2**20:.0f} -> {after / 2**20:.0f} MiB")
        else:
            print(f"item 2: 1,600 max_side values in {took:.1f} s (no pid in /api/health: RSS not read)")

        closes = []
        frame = json.dumps({"seq": 1, "image": "A" * (16 * 2**20)})

        def flood():
            try:
                with connect(url.replace("http", "ws") + "/api/models/mnist-convnet/live", max_size=2**25, open_timeout=30) as socket:
                    socket.send(frame)
                    socket.recv(timeout=30)
            except Exception as exc:  # closed by the server: what we expect
                closes.append(getattr(getattr(exc, "rcvd", None), "code", type(exc).__name__))

        latencies = []
        workers = [threading.Thread(target=flood) for _ in range(16)]
        with httpx.Client(timeout=30) as client:
            client.get(url + "/api/health")
            for worker in workers:
                worker.start()
            while any(worker.is_alive() for worker in workers):
                t = time.perf_counter()
                client.get(url + "/api/health")
                latencies.append(time.perf_counter() - t)
                time.sleep(0.02)
        latencies.sort()
        print(f"item 6: 16 x 16 MB live frames: close codes {sorted(map(str, closes))}; health {len(latencies)} polls, "
              f"p50 {latencies[len(latencies) // 2] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms")


if __name__ == "__main__":
    main()
