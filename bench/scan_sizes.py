"""`python -m bench.scan_sizes`: clean scans at every size, as uploads are read.

scikit-learn's digits (UCI optdigits: 1,797 scans by 43 writers, reduced to 8x8 with 17 grey
levels, bundled with scikit-learn, no download) are enlarged to every side from 8 to 128 px with
nearest and with bilinear resampling, sent as PNG files through what the server does with an upload
(`decode_image`, `app.digits.normalise`: preprocess=auto for a digits model) into the bundled
`mnist-convnet`. Per size: the accuracy, and how many took the `uneven_background` (phone photo)
path, which clean scans should never take.

    flock /work/bench.lock .venv/bin/python -m bench.scan_sizes [--sizes 8,16,64] [--step 1]
"""

from __future__ import annotations

import argparse
import io
import time

import numpy as np
from PIL import Image

RESAMPLING = {"nearest": Image.Resampling.NEAREST, "bilinear": Image.Resampling.BILINEAR}


def scans(side: int, resampling: str, step: int = 1) -> tuple[list[bytes], np.ndarray]:
    """optdigits as PNG files of side x side (every `step`-th digit) and their labels."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    files = []
    for image in digits.images[::step]:
        picture = Image.fromarray((image * 255 / 16).round().astype(np.uint8))
        if side != 8:
            picture = picture.resize((side, side), RESAMPLING[resampling])
        buffer = io.BytesIO()
        picture.save(buffer, format="PNG")
        files.append(buffer.getvalue())
    return files, digits.target[::step]


def measure(served, settings, files: list[bytes], labels: np.ndarray) -> dict:
    """Accuracy and paths of files read as uploads (preprocess=auto on a digits model)."""
    from app.digits import UNEVEN_PATH, normalise
    from app.inputs import decode_image
    from app.preprocess import field_to_input

    shape, input_range = served.graph.input_shape, served.card.input_range
    results = [normalise(decode_image(data, settings)) for data in files]
    inputs = np.stack([field_to_input(result.field, shape, input_range) for result in results])
    predicted = served.graph.probabilities(inputs).argmax(axis=1)
    return {
        "accuracy": float((predicted == labels).mean()),
        "uneven": sum(result.path == UNEVEN_PATH for result in results),
        "count": len(files),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="8-128", help="sides: a range 8-128 or a list 8,16,64 (default 8-128)")
    parser.add_argument("--step", type=int, default=1, help="every n-th digit (default 1: all 1,797)")
    parser.add_argument("--model", default="mnist-convnet")
    args = parser.parse_args()
    if "-" in args.sizes:
        low, high = (int(v) for v in args.sizes.split("-"))
        sizes = list(range(low, high + 1))
    else:
        sizes = [int(v) for v in args.sizes.split(",")]

    from app.config import Settings
    from app.registry import ModelRegistry

    settings = Settings()
    served = ModelRegistry.from_settings(settings).get(args.model)
    started = time.perf_counter()
    print(f"{'side':>4} {'nearest':>9} {'uneven':>6} {'bilinear':>9} {'uneven':>6}", flush=True)
    worst = {name: (1.0, 0) for name in RESAMPLING}
    for side in sizes:
        row = [f"{side:>4}"]
        for name in RESAMPLING:
            result = measure(served, settings, *scans(side, name, args.step))
            row.append(f"{result['accuracy']:>8.1%} {result['uneven']:>6}")
            worst[name] = min(worst[name], (result["accuracy"], side))
        print(" ".join(row), flush=True)
    count = len(scans(8, "nearest", args.step)[1])
    print(f"{count} digits per size; lowest: " + ", ".join(f"{name} {acc:.1%} at {side} px" for name, (acc, side) in worst.items()))
    print(f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
