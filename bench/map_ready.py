"""`python -m bench.map_ready`: how long the map card's first map takes on a server just started
(`python -m app serve`, one worker, an empty cache), for each bundled model:

- shipped: the models folder as committed, with `models/<id>.map.npz`: the first GET `/embedding`.
- not shipped: the same model, card and reference set in a folder without its map file, which is
  what every first start was before the maps were shipped (and is any other model's case now):
  the first answer (now 202 at once) and the time until the map is there (200), polling as the
  page does (after Retry-After). The old server held the first request for that whole time.

Run it with `flock /work/bench.lock` on a shared machine: t-SNE's time is the machine's load.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import httpx

from bench.server import running_server
from tests.conftest import MODELS_DIR

MODELS = ("mnist-convnet", "mnist-lenet")


def without_maps() -> Path:
    """The bundled models, cards and reference set, linked into a folder with no map files."""
    folder = Path(tempfile.mkdtemp(prefix="convnet-vis-nomaps-"))
    for path in MODELS_DIR.iterdir():
        if path.suffix in (".keras", ".json") or path.name == "mnist-reference.npz":
            os.symlink(path, folder / path.name)
    return folder


def first_map(url: str, model: str) -> dict:
    """Seconds to the first answer, its status, and seconds until the map (200)."""
    address = f"{url}/api/models/{model}/embedding"
    with httpx.Client(timeout=600) as client:
        started = time.perf_counter()
        response = client.get(address)
        first = time.perf_counter() - started
        status = response.status_code
        while response.status_code == 202:
            time.sleep(float(response.headers["retry-after"]))
            response = client.get(address)
        response.raise_for_status()
        return {"first_answer_s": first, "first_status": status, "map_s": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=1, help="fresh servers per case (default 1)")
    args = parser.parse_args()
    cases = {"shipped": MODELS_DIR, "not shipped": without_maps()}
    print(f"{'case':<12} {'model':<14} {'first answer':>13} {'status':>6} {'map after':>10}")
    for _ in range(args.rounds):
        for case, folder in cases.items():
            for model in MODELS:
                # a fresh server (and an empty cache) per model: its map cold
                with running_server(folder) as url:
                    row = first_map(url, model)
                print(f"{case:<12} {model:<14} {row['first_answer_s'] * 1000:>10.1f} ms {row['first_status']:>6} "
                      f"{row['map_s']:>8.1f} s", flush=True)


if __name__ == "__main__":
    main()
