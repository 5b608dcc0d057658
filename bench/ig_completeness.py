"""Integrated Gradients' completeness gap as measured:
`python -m bench.ig_completeness [--digits 300] [--steps 16 32 64 128 256] [--tolerance 0.001]`.

For each MNIST test digit of tests/data/mnist_test_300.npz, the served method explains the
top-1 class from a black baseline at each step count; the gap is
|sum of the attributions - (S(x) - S(baseline))| / |S(x) - S(baseline)|. Prints a Markdown table
(median, 90th percentile, maximum and the digit with the maximum) for docs/api.md, and how many
steps `tolerance` needed.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from bench.server import PROJECT_ROOT


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.ig_completeness", description=__doc__)
    parser.add_argument("--model", default="mnist-convnet")
    parser.add_argument("--digits", type=int, default=300)
    parser.add_argument("--steps", type=int, nargs="+", default=[16, 32, 64, 128, 256])
    parser.add_argument("--tolerance", type=float, default=0.001)
    args = parser.parse_args(argv)

    import keras

    from app.graph import ModelGraph
    from app.viz import integrated_gradients

    graph = ModelGraph(keras.saving.load_model(PROJECT_ROOT / "models" / f"{args.model}.keras", compile=False))
    with np.load(PROJECT_ROOT / "tests" / "data" / "mnist_test_300.npz") as archive:
        digits = (archive["x"][: args.digits] / 255.0).astype("float32")[..., None]

    def explain(x, **options):
        return integrated_gradients.attribute(graph, x, None, integrated_gradients.Options(**options)).extras

    started = time.perf_counter()
    gaps = {steps: np.array([explain(x, steps=steps)["completeness_gap"] for x in digits]) for steps in args.steps}
    adaptive = [explain(x, steps=16, tolerance=args.tolerance) for x in digits]
    elapsed = time.perf_counter() - started

    print(f"Integrated Gradients on {args.model}, {len(digits)} MNIST test digits, top-1 class, black baseline")
    print("| steps | median gap | 90th percentile | max | digit with the max |")
    print("|---|---|---|---|---|")
    for steps, values in gaps.items():
        print(
            f"| {steps} | {np.median(values):.3%} | {np.percentile(values, 90):.3%} | {values.max():.3%} "
            f"| {int(values.argmax())} |"
        )
    reached = np.array([extras["steps"] for extras in adaptive])
    met = np.array([extras["completeness_gap"] <= args.tolerance for extras in adaptive])
    counts = ", ".join(f"{steps}: {int((reached == steps).sum())}" for steps in sorted(set(reached.tolist())))
    print(
        f"\nsteps=16&tolerance={args.tolerance}: steps reached {{{counts}}}; gap under the tolerance for "
        f"{int(met.sum())} of {len(met)} digits; median steps {np.median(reached):.0f}"
    )
    print(f"({elapsed:.0f} s)")


if __name__ == "__main__":
    main()
