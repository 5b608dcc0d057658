"""The benchmark: `python -m bench [--requests N] [--model ID] [--only NAME ...]`.

Starts the real server in its own process, measures each endpoint's round trip from a client in
this process, and runs the naive in-process baselines in the same run, so the printed ratios
compare like with like on whatever machine runs it. Each case prints p50/p95 in milliseconds.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import httpx
import numpy as np

from bench.server import PROJECT_ROOT, running_server


def timed(call: Callable[[], object], repeats: int, warmup: int = 3) -> list[float]:
    for _ in range(warmup):
        call()
    samples = []
    for _ in range(repeats):
        started = time.perf_counter()
        call()
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def p(samples: list[float], q: float) -> float:
    return float(np.percentile(samples, q))


class Report:
    def __init__(self) -> None:
        self.rows: dict[str, list[float]] = {}

    def add(self, name: str, samples: list[float]) -> None:
        self.rows[name] = samples
        print(f"  {name:<48} p50 {p(samples, 50):9.2f} ms   p95 {p(samples, 95):9.2f} ms   (n={len(samples)})", flush=True)

    def ratio(self, name: str, baseline: str, target: str = "") -> None:
        if name in self.rows and baseline in self.rows:
            value = statistics.median(self.rows[name]) / statistics.median(self.rows[baseline])
            print(f"  ratio p50 {name} / {baseline}: {value:.3f}  ({1 / value:.1f}x faster) {target}", flush=True)


def sample_digits(count: int) -> np.ndarray:
    with np.load(PROJECT_ROOT / "tests" / "data" / "mnist_test_300.npz") as archive:
        return (archive["x"][:count] / 255.0).astype("float32")


def bench_activations(url: str, model_id: str, repeats: int, report: Report) -> None:
    """Issue 3: all-layer activations over HTTP and the live channel vs Model.predict and eager."""
    from websockets.sync.client import connect

    digits = sample_digits(16)
    bodies = [json.dumps({"pixels": d.tolist()}) for d in digits]
    endpoint = f"{url}/api/models/{model_id}/activations"
    counter = iter(range(10**9))
    with httpx.Client(timeout=60) as client:

        def http_call():
            body = bodies[next(counter) % len(bodies)]
            response = client.post(endpoint, content=body, headers={"content-type": "application/json"})
            response.raise_for_status()

        report.add("activations HTTP (JSON pixels, base64 float32)", timed(http_call, repeats))

    with connect(url.replace("http", "ws") + f"/api/models/{model_id}/live", max_size=None) as socket:

        def live_call():
            seq = next(counter)
            socket.send(json.dumps({"seq": seq, "pixels": digits[seq % len(digits)].tolist()}))
            json.loads(socket.recv())

        report.add("activations live channel (WebSocket)", timed(live_call, repeats))

    import keras

    from app.graph import ModelGraph

    model = keras.saving.load_model(PROJECT_ROOT / "models" / f"{model_id}.keras", compile=False)
    all_layers = ModelGraph(model).all_outputs  # a plain Keras functional model of every layer
    batch = digits[:1, ..., None]
    report.add("baseline: all-layer Model.predict (in-process)", timed(lambda: all_layers.predict(batch, verbose=0), repeats))
    report.add("baseline: all-layer eager call (in-process)", timed(lambda: all_layers(batch, training=False), repeats))
    report.ratio("activations HTTP (JSON pixels, base64 float32)", "baseline: all-layer Model.predict (in-process)", "[target <= 0.333]")
    report.ratio("activations live channel (WebSocket)", "baseline: all-layer Model.predict (in-process)")
    report.ratio("activations live channel (WebSocket)", "activations HTTP (JSON pixels, base64 float32)", "[target < 1]")
    report.ratio("activations HTTP (JSON pixels, base64 float32)", "baseline: all-layer eager call (in-process)")


CASES = {"activations": bench_activations}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per case")
    parser.add_argument("--model", default="mnist-convnet")
    parser.add_argument("--only", nargs="*", choices=sorted(CASES), help="run only these cases")
    args = parser.parse_args(argv)
    print(f"convnet-vis benchmark: model {args.model}, {args.requests} requests per case, "
          f"{os.cpu_count()} cores, Python {sys.version.split()[0]}", flush=True)
    report = Report()
    with running_server() as url:
        for name in args.only or CASES:
            print(f"\n[{name}]", flush=True)
            CASES[name](url, args.model, args.requests, report)


if __name__ == "__main__":
    main()
