"""`python -m bench.rise_cost`: what the cost model's RISE term rests on (app/viz/rise.py,
MACS_PER_PIXEL_PASS): the time of a multiply-add of the masks' making against a pixel of a
forward pass of mnist-convnet, in process, best of a few runs each."""

from __future__ import annotations

import time

import numpy as np

from app.config import Settings
from app.registry import ModelRegistry
from app.viz.rise import MaskSampler, Options
from tests.conftest import MODELS_DIR


def best(run, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return min(times)


def main() -> None:
    graph = ModelRegistry.from_settings(Settings(models_dir=MODELS_DIR)).get("mnist-convnet").graph
    images = np.random.default_rng(0).random((128, 28, 28, 1)).astype(np.float32)
    graph.probabilities(images)
    forward = best(lambda: graph.probabilities(images), 5) / (128 * 28 * 28)
    print(f"mnist-convnet forward pass: {forward * 1e9:.1f} ns a pixel")
    for cell, side in [(7, 28), (64, 28), (7, 224), (64, 224)]:
        sampler = MaskSampler.draw(side, side, Options(masks=128, cell=cell))
        upsampled = (cell + 1) * -(-side // cell)
        macs = upsampled * cell * (cell + upsampled)
        seconds = best(lambda: sampler.masks(0, 128), 3) / 128
        print(f"cell {cell:2d} on {side}x{side}: a mask {seconds * 1e3:.3f} ms, {macs:,} multiply-adds, "
              f"{seconds / macs * 1e9:.2f} ns each; {seconds / forward:,.0f} pixel passes of mnist-convnet "
              f"against {macs / 64:,.0f} counted")


if __name__ == "__main__":
    main()
