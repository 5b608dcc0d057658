"""`python -m bench.limits [--items 2 3 5 6 7 8 9]`: re-measures issue 29's red-team items against a
server of our own on loopback (`python -m app serve`, one worker, the bundled models), bounded in
count and time.

- item 2: 1,600 distinct `max_side` values (1-1600) on /activations: the worker's RSS before and after.
- item 3: two long plain requests (atlases of 1,024 steps) abandoned after 1 s: how long until another
  user's long job is taken (no 503) again.
- item 5: two clients asking for filter atlases with new seeds for 30 s: the cache folder's files and
  bytes, with `CONVNET_VIS_CACHE_MAX_BYTES` at 16 MiB (the default is 512 MiB, which 30 s does not reach).
- item 6: 16 live connections each sending one 16 MB frame while /api/health is polled.
- item 7: 12 identical uncached atlas requests at once, plain and then streamed: their statuses and
  times, against one alone.
- item 8: 125 KB bodies of pixels with `preprocess=digit` while /api/health is polled, against drawings.
- item 9: `GET /api/models` with a model the server cannot build beside the bundled ones: the reason.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import numpy as np
from websockets.sync.client import connect

from bench.server import rss_bytes, running_server
from tests.conftest import DATA, MODELS_DIR


CONVNET = "/api/models/mnist-convnet"


def polled_health(url: str, work: Callable[[], None]) -> list[float]:
    """/api/health's latencies (s, sorted) while `work` runs on another thread."""
    thread = threading.Thread(target=work)
    latencies = []
    with httpx.Client(timeout=30) as client:
        client.get(url + "/api/health")
        thread.start()
        while thread.is_alive():
            t = time.perf_counter()
            client.get(url + "/api/health")
            latencies.append(time.perf_counter() - t)
            time.sleep(0.01)
    return sorted(latencies)


def ms(latencies: list[float]) -> str:
    return f"{len(latencies)} polls, p50 {latencies[len(latencies) // 2] * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms"


def item_3() -> None:
    with running_server(MODELS_DIR, env={"CONVNET_VIS_CACHE_DIR": tempfile.mkdtemp()}) as url:
        def abandon(seed: int) -> None:
            try:
                httpx.get(url + f"{CONVNET}/layers/conv3/filters?steps=1024&seed={seed}", timeout=1)
            except httpx.TimeoutException:
                pass  # the client goes away

        threads = [threading.Thread(target=abandon, args=(seed,)) for seed in (3000, 3001)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        gone = time.perf_counter()
        refused = 0
        with httpx.Client(timeout=120) as client:
            for seed in range(4000, 5000):
                answer = client.get(url + f"{CONVNET}/layers/conv1/filters?steps=2&seed={seed}")
                if answer.status_code == 200:
                    break
                refused += 1
                time.sleep(0.25)
        print(f"item 3: two plain atlases of 1,024 steps abandoned after 1 s: another long job answered 200 "
              f"{time.perf_counter() - gone:.2f} s later ({refused} refused with 503 before)")


def item_5() -> None:
    cache = Path(tempfile.mkdtemp())
    limit = 16 * 2**20
    with running_server(MODELS_DIR, env={"CONVNET_VIS_CACHE_DIR": str(cache), "CONVNET_VIS_CACHE_MAX_BYTES": str(limit)}) as url:
        asked = []
        deadline = time.monotonic() + 30

        def client_loop(first_seed: int) -> None:
            with httpx.Client(timeout=120) as client:
                seed = first_seed
                while time.monotonic() < deadline:
                    answer = client.get(url + f"{CONVNET}/layers/conv1/filters?steps=4&seed={seed}")
                    asked.append((answer.status_code, len(answer.content)))
                    seed += 2

        threads = [threading.Thread(target=client_loop, args=(first,)) for first in (0, 1)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        files = [f for f in (cache / "filters").rglob("*") if f.is_file()]
        statuses = sorted({status for status, _ in asked})
        print(f"item 5: 2 clients, 30 s: {len(asked)} atlases (statuses {statuses}); cache folder {len(files)} files, "
              f"{sum(f.stat().st_size for f in files) / 2**20:.1f} MiB with the limit at {limit / 2**20:.0f} MiB")


def item_7() -> None:
    with running_server(MODELS_DIR, env={"CONVNET_VIS_CACHE_DIR": tempfile.mkdtemp()}) as url:
        with httpx.Client(timeout=300) as client:
            t = time.perf_counter()
            assert client.get(url + f"{CONVNET}/layers/conv3/filters?seed=1000").status_code == 200
            alone = time.perf_counter() - t
        for streamed in (False, True):
            results = []
            seed = 1001 + streamed

            def ask() -> None:
                with httpx.Client(timeout=300) as client:
                    t = time.perf_counter()
                    answer = client.get(url + f"{CONVNET}/layers/conv3/filters?seed={seed}&stream={str(streamed).lower()}")
                    ok = answer.status_code == 200 and (not streamed or "event: result" in answer.text)
                    results.append((answer.status_code if ok else f"{answer.status_code}!", time.perf_counter() - t))

            threads = [threading.Thread(target=ask) for _ in range(12)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            times = sorted(took for _, took in results)
            print(f"item 7: 12 identical atlases (conv3, 64 channels), {'streamed' if streamed else 'plain'}: statuses "
                  f"{sorted(str(status) for status, _ in results)}; slowest {times[-1]:.1f} s, one alone {alone:.1f} s")


def item_8() -> None:
    with np.load(DATA / "mnist_test_300.npz") as archive:
        digit = archive["x"][5] / 255.0
    big = json.dumps({"pixels": np.round(np.kron(digit, np.ones((5, 5))), 3).tolist()})  # 140x140, about 125 KB
    drawing = json.dumps({"pixels": digit.tolist()})
    with running_server(MODELS_DIR, env={"CONVNET_VIS_CACHE_DIR": tempfile.mkdtemp()}) as url:
        for name, query, body in (("drawings", "", drawing), ("125 KB bodies, preprocess=digit", "?preprocess=digit", big)):
            def send(query=query, body=body) -> None:
                with httpx.Client(timeout=60) as client:
                    for _ in range(40):
                        answer = client.post(url + f"{CONVNET}/gradcam{query}", content=body, headers={"content-type": "application/json"})
                        assert answer.status_code == 200, answer.text

            print(f"item 8: 40 Grad-CAMs of {name} ({len(body) / 1000:.0f} KB): health {ms(polled_health(url, send))}")


def item_9() -> None:
    import keras

    folder = Path(tempfile.mkdtemp())
    for file in MODELS_DIR.iterdir():
        (folder / file.name).symlink_to(file)

    @keras.saving.register_keras_serializable(package="bench")
    class Twice(keras.layers.Layer):
        def call(self, x):
            return x * 2

    x = keras.Input((8, 8, 1))
    keras.Model(x, keras.layers.Dense(2)(keras.layers.Flatten()(Twice()(x)))).save(folder / "custom.keras")
    with running_server(folder, env={"CONVNET_VIS_CACHE_DIR": tempfile.mkdtemp()}) as url:
        skipped = httpx.get(url + "/api/models", timeout=30).json()["skipped"]
    for entry in skipped:
        print(f"item 9: skipped {entry['file']}: {len(entry['reason'])} characters, {entry['reason'].count(chr(10)) + 1} line: {entry['reason']!r}")


def items_2_and_6() -> None:
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


ITEMS = {"2": items_2_and_6, "3": item_3, "5": item_5, "6": items_2_and_6, "7": item_7, "8": item_8, "9": item_9}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", nargs="+", choices=sorted(ITEMS), default=sorted(ITEMS))
    chosen = dict.fromkeys(ITEMS[item] for item in parser.parse_args().items)  # 2 and 6 share a server
    for run in chosen:
        run()


if __name__ == "__main__":
    main()
