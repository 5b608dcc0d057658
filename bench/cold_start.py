"""Cold against warm first requests per zoo model, with and without the background warm-up:
`python -m bench.cold_start [--models resnet50,convnexttiny,...]`.

Each model of the test zoo (tests/test_zoo.py: keras.applications families at small sizes,
random weights) is served alone in a fresh app (in process, through FastAPI's TestClient), twice:
- warm-up off: the first overview request (`activations?max_side=16&dtype=uint8`, the page's) and
  the first Score-CAM, each against its second (warm) run;
- warm-up on: the same first requests once the warm-up is done (the time it took is printed), and
  a drawing request (Grad-CAM of the default layer, built at load) while the warm-up runs against
  the same request after it: what the warm-up costs the first drawings.
The model's load (`serve_model`) is not counted. Ratios are first / warm (1.0: no cold start).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

OVERVIEW = "activations?max_side=16&dtype=uint8"
SCORECAM = "gradcam?method=scorecam"
DRAWING = "gradcam"


def post(client, model: str, path: str, body: dict) -> float:
    started = time.perf_counter()
    response = client.post(f"/api/models/{model}/{path}", json=body)
    seconds = time.perf_counter() - started
    assert response.status_code == 200, (path, response.status_code, response.text[:300])
    return seconds


def main(argv: list[str] | None = None) -> None:
    from tests.test_zoo import ZOO

    parser = argparse.ArgumentParser(prog="python -m bench.cold_start", description=__doc__)
    parser.add_argument("--models", default=",".join(ZOO))
    args = parser.parse_args(argv)

    import keras
    from fastapi.testclient import TestClient

    from app.config import Settings
    from app.main import create_app
    from app.registry import ModelCard, ModelRegistry, serve_model

    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}, {os.cpu_count()} cpus")
    print(f"{'model':<17}{'overview first/warm':>22}{'score-cam first/warm':>24} | {'warm-up':>8}"
          f"{'overview':>10}{'score-cam':>11}{'drawing during/after':>24}")
    worst = []
    for name in args.models.split(","):
        keras.utils.set_random_seed(0)
        model = ZOO[name][0]()
        side = model.inputs[0].shape[1]
        body = {"pixels": np.random.default_rng(1).uniform(0, 1, (side, side, 3)).tolist()}
        row = {}
        for warm in (False, True):
            card = ModelCard(id=name, name=name, input_range=(0.0, 255.0))
            served = serve_model(model, card, Path(f"memory/{name}.keras"), f"memory-{name}")
            with tempfile.TemporaryDirectory() as folder:
                settings = Settings(models_dir=Path(folder), cache_dir=Path(folder) / "cache", background_warm_up=warm)
                with TestClient(create_app(settings, registry=ModelRegistry({name: served}))) as client:
                    if warm:
                        warm_up = client.app.state.warm_up
                        during = []
                        while warm_up.state == "running" and len(during) < 20:
                            during.append(post(client, name, DRAWING, body))
                        warm_up.join()
                        after = [post(client, name, DRAWING, body) for _ in range(max(3, len(during)))]
                        row["warm_up"] = warm_up.seconds
                        row["drawing"] = (statistics.median(during) if during else float("nan"), statistics.median(after))
                    first_overview = post(client, name, OVERVIEW, body)
                    warm_overview = min(post(client, name, OVERVIEW, body) for _ in range(3))
                    first_scorecam = post(client, name, SCORECAM, body)
                    warm_scorecam = min(post(client, name, SCORECAM, body) for _ in range(2))
                    row[warm] = (first_overview / warm_overview, first_scorecam / warm_scorecam, first_overview, first_scorecam)
        off, on = row[False], row[True]
        during, after = row["drawing"]
        worst.append((name, max(on[0], on[1])))
        print(f"{name:<17}{off[0]:>9.1f}x ({off[2]:5.2f} s){off[1]:>11.1f}x ({off[3]:5.2f} s) | {row['warm_up']:>6.1f} s"
              f"{on[0]:>9.1f}x{on[1]:>10.1f}x {during * 1e3:>9.1f} / {after * 1e3:.1f} ms", flush=True)
    name, ratio = max(worst, key=lambda item: item[1])
    print(f"largest first/warm ratio with the warm-up: {ratio:.1f}x ({name})")


if __name__ == "__main__":
    main()
