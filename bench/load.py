"""Load, memory and a class: `python -m bench.load [--clients 16] [--seconds 60]`,
`python -m bench.load memory [--requests 10000]` and
`python -m bench.load students [--page live engine] [--max-clients N] [--workers 1 2] [--compare] [--step-seconds 10]`
(a class drawing: on the live channel, or with the view computed in the browser: see bench/students.py).

Load: concurrent clients loop over a mix of endpoints against the real server for a fixed time
(bounded in count and time, loopback only). It reports every endpoint's p50/p95/p99, the
statuses seen, and counts as errors any exception or 5xx other than the documented 503 for the
long-job limit. Memory: the server's RSS after 1,000 and after all mixed requests.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import random
import threading
import time
from collections import Counter, defaultdict

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import httpx
import numpy as np
from PIL import Image

from bench.__main__ import p, sample_digits
from bench.server import rss_bytes, running_server


def _requests(digits: np.ndarray) -> list[tuple[str, float, callable]]:
    """(name, weight, call(client, base, rng)) for the mix: mostly the drawing path."""
    bodies = [json.dumps({"pixels": d.tolist()}) for d in digits]
    photos = []
    for d in digits[:4]:
        buffer = io.BytesIO()
        Image.fromarray((255 - d * 255).astype(np.uint8)).resize((200, 200)).save(buffer, format="JPEG")
        photos.append(buffer.getvalue())
    json_headers = {"content-type": "application/json"}
    model = "/api/models/mnist-convnet"

    def post(path):
        return lambda c, base, rng: c.post(base + model + path, content=rng.choice(bodies), headers=json_headers)

    return [
        ("activations", 0.45, post("/activations?dtype=float16")),
        ("predict photo", 0.10, lambda c, base, rng: c.post(base + model + "/predict", files={"image": ("d.jpg", rng.choice(photos), "image/jpeg")})),
        ("gradcam", 0.12, post("/gradcam")),
        ("saliency", 0.05, post("/saliency")),
        ("occlusion", 0.08, post("/occlusion")),
        ("occlusion fine", 0.03, post("/occlusion?patch=2&stride=1")),
        ("smoothgrad", 0.03, post("/saliency?method=smoothgrad")),
        ("filter (cached)", 0.04, lambda c, base, rng: c.get(base + model + "/layers/conv2/filters/3")),
        ("filter (new seed)", 0.02, lambda c, base, rng: c.get(base + model + f"/layers/conv3/filters/1?seed={rng.randrange(10**6)}&steps=64")),
        ("model detail", 0.04, lambda c, base, rng: c.get(base + model)),
        ("bad request", 0.04, lambda c, base, rng: c.post(base + model + "/predict", content=b"not an image", headers={"content-type": "image/png"})),
    ]


def load(clients: int, seconds: float) -> None:
    mix = _requests(sample_digits(16))
    names, weights = [m[0] for m in mix], [m[1] for m in mix]
    calls = {m[0]: m[2] for m in mix}
    latencies: dict[str, list[float]] = defaultdict(list)
    statuses: dict[str, Counter] = defaultdict(Counter)
    errors: list[str] = []
    lock = threading.Lock()
    with running_server() as base:
        with httpx.Client(timeout=120) as warm:
            warm.get(base + "/api/models/mnist-convnet/layers/conv2/filters/3").raise_for_status()
        stop = time.monotonic() + seconds

        def client_loop(index: int) -> None:
            rng = random.Random(index)
            with httpx.Client(timeout=120) as client:
                while time.monotonic() < stop:
                    name = rng.choices(names, weights)[0]
                    started = time.perf_counter()
                    try:
                        response = calls[name](client, base, rng)
                        status = response.status_code
                    except httpx.HTTPError as exc:
                        status = f"{type(exc).__name__}"
                    elapsed = (time.perf_counter() - started) * 1000
                    with lock:
                        latencies[name].append(elapsed)
                        statuses[name][status] += 1
                        if not isinstance(status, int) or (status >= 500 and status != 503):
                            errors.append(f"{name}: {status}")

        threads = [threading.Thread(target=client_loop, args=(i,)) for i in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        rss = rss_bytes(base.pid)
    total = sum(len(v) for v in latencies.values())
    print(f"load: {clients} clients for {seconds:.0f} s: {total} requests ({total / seconds:.0f}/s), "
          f"errors {len(errors)}, server RSS at the end {rss / 2**20:.0f} MiB")
    print(f"  {'endpoint':<20} {'n':>6} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9}  statuses")
    everything = []
    for name in names:
        samples = latencies[name]
        everything += samples
        if samples:
            print(f"  {name:<20} {len(samples):>6} {p(samples, 50):>9.1f} {p(samples, 95):>9.1f} {p(samples, 99):>9.1f}  {dict(statuses[name])}")
    print(f"  {'all':<20} {len(everything):>6} {p(everything, 50):>9.1f} {p(everything, 95):>9.1f} {p(everything, 99):>9.1f}")
    if errors:
        print("  errors:", Counter(errors).most_common(5))


def memory(requests: int) -> None:
    mix = _requests(sample_digits(16))
    names, weights = [m[0] for m in mix if "new seed" not in m[0]], [m[1] for m in mix if "new seed" not in m[0]]
    calls = {m[0]: m[2] for m in mix}
    rng = random.Random(0)
    statuses = Counter()
    with running_server() as base, httpx.Client(timeout=120) as client:
        readings = {}
        for index in range(1, requests + 1):
            name = rng.choices(names, weights)[0]
            statuses[calls[name](client, base, rng).status_code] += 1
            if index in (1000, requests) or index % 2000 == 0:
                readings[index] = rss_bytes(base.pid)
                print(f"  after {index:>6} requests: RSS {readings[index] / 2**20:8.1f} MiB", flush=True)
        growth = readings[requests] / readings[1000] - 1
    print(f"memory: {requests} mixed requests, statuses {dict(statuses)}; RSS growth after the first 1,000: "
          f"{growth * 100:+.1f}% [target within 10%]")


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__)
    parser.add_argument("mode", nargs="?", choices=["load", "memory", "students"], default="load")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--max-clients", type=int, default=None, help="students: the largest class tried (default 128 on the live page, 200 on the engine page)")
    parser.add_argument("--page", nargs="+", choices=["live", "engine"], default=["live"],
                        help="students: the page simulated: live (a frame per pen move on the live channel), engine (the view computed in the browser: pen-up requests only); both side by side")
    parser.add_argument("--pen-up", nargs="+", choices=["pair", "one"], default=["pair"],
                        help="students, engine page: at pen-up, place + neighbors (pair) or place?nearest=8 alone (one, as static/js/mapcard.js since the engine); both: each measured")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2], help="students: server worker counts to measure")
    parser.add_argument("--compare", action="store_true", help="students: also measure with micro-batching off")
    parser.add_argument("--step-seconds", type=float, default=10, help="students: seconds measured per class size")
    args = parser.parse_args()
    if args.mode == "students":
        from bench.students import students

        students(args.max_clients, args.workers, args.compare, args.step_seconds, tuple(dict.fromkeys(args.page)), tuple(dict.fromkeys(args.pen_up)))
    elif args.mode == "memory":
        memory(args.requests)
    else:
        load(args.clients, args.seconds)


if __name__ == "__main__":
    main()
