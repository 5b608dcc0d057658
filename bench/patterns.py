"""Filter patterns on VGG16, pixel against Fourier parameterisation, side by side:
`python -m bench.patterns [--side 224] [--steps 128] [--out docs/filter-patterns-vgg16.png]`.

VGG16 has random weights here (no downloads on these machines), so the pictures show how each
parameterisation optimises, not ImageNet features; the printed objective (the channel's mean
activation on its own pattern, unwarped) compares how far each gets in the same number of steps.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.patterns", description=__doc__)
    parser.add_argument("--side", type=int, default=224)
    parser.add_argument("--steps", type=int, default=128)
    parser.add_argument("--layer", default="block3_conv1")
    parser.add_argument("--channels", type=int, default=8)
    parser.add_argument("--out", default="docs/filter-patterns-vgg16.png")
    args = parser.parse_args(argv)

    import keras
    from PIL import Image, ImageDraw

    from app.graph import ModelGraph
    from app.viz import filters

    keras.utils.set_random_seed(0)
    model = keras.applications.VGG16(weights=None, include_top=False, pooling="avg", input_shape=(args.side, args.side, 3))
    graph = ModelGraph(model, input_range=(0.0, 255.0))
    rows = []
    channels = list(range(args.channels))
    grey = np.full((1, args.side, args.side, 3), 127.5, np.float32)
    start = graph.feature(graph.run(grey), args.layer)[0].mean(axis=(0, 1))[channels]
    print(f"VGG16 (random weights) {args.layer} at {args.side}x{args.side}, channels 0-{args.channels - 1}, {args.steps} steps")
    print(f"  mid-grey image: mean objective {start.mean():.3f}")
    for kind in ("pixel", "fourier"):
        options = filters.Options(steps=args.steps, parameterization=kind)
        started = time.perf_counter()
        images, objective = filters.patterns(graph, args.layer, channels, options)
        print(f"  {kind:<8} mean objective {objective.mean():.3f} (per channel {np.round(objective, 2).tolist()}) "
              f"in {time.perf_counter() - started:.1f} s")
        rows.append((kind, images))
    cell, gap, label = 128, 4, 16
    sheet = Image.new("RGB", (len(channels) * (cell + gap) + gap + 64, len(rows) * (cell + gap) + gap), (24, 24, 24))
    draw = ImageDraw.Draw(sheet)
    for r, (kind, images) in enumerate(rows):
        draw.text((gap, gap + r * (cell + gap) + cell // 2 - label // 2), kind, fill=(230, 230, 230))
        for c, image in enumerate(images):
            low, high = float(image.min()), float(image.max())
            picture = ((image - low) / max(high - low, 1e-6) * 255).astype(np.uint8)
            tile = Image.fromarray(picture).resize((cell, cell), Image.Resampling.BILINEAR)
            sheet.paste(tile, (64 + gap + c * (cell + gap), gap + r * (cell + gap)))
    sheet.save(args.out)
    print(f"  wrote {args.out}")


if __name__ == "__main__":
    main()
