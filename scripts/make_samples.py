"""Make the page's bundled sample inputs, once; the page never reads ../shared at run time.

- static/samples/mnist/*.png: six MNIST test digits (LeCun, Cortes, Burges), the first test image
  of each of the classes 7, 2, 1, 0, 4, 9, from an MNIST .npz (keras.datasets layout).
- static/samples/images/*.png: three 224x224 pictures drawn here with Pillow (no outside source;
  released with the project under CC0).

    python scripts/make_samples.py --mnist ../shared/data/mnist.npz
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

OUT = Path(__file__).resolve().parent.parent / "static" / "samples"
DIGITS = [7, 2, 1, 0, 4, 9]


def mnist_samples(npz: Path) -> None:
    with np.load(npz) as data:
        images, labels = data["x_test"], data["y_test"]
    folder = OUT / "mnist"
    folder.mkdir(parents=True, exist_ok=True)
    for digit in DIGITS:
        index = int(np.flatnonzero(labels == digit)[0])
        Image.fromarray(images[index]).save(folder / f"test-{index}-digit-{digit}.png", optimize=True)


def sunset(size: int = 224) -> Image.Image:
    y = np.linspace(0, 1, size)[:, None, None]
    sky = (1 - y) * np.array([40, 60, 150]) + y * np.array([250, 150, 60])
    image = Image.fromarray(np.broadcast_to(sky, (size, size, 3)).astype("uint8"))
    draw = ImageDraw.Draw(image)
    draw.ellipse((120, 110, 180, 170), fill=(255, 220, 120))
    hills = [(0, 170)] + [(x, 165 - 18 * math.sin(x / 23)) for x in range(0, size + 1, 8)] + [(size, size), (0, size)]
    draw.polygon(hills, fill=(30, 50, 35))
    return image


def flower(size: int = 224) -> Image.Image:
    image = Image.new("RGB", (size, size), (70, 130, 60))
    draw = ImageDraw.Draw(image)
    centre = size / 2
    for k in range(8):
        angle = k * math.pi / 4
        x, y = centre + 48 * math.cos(angle), centre + 48 * math.sin(angle)
        draw.ellipse((x - 30, y - 30, x + 30, y + 30), fill=(235, 80, 140), outline=(150, 30, 80), width=3)
    draw.ellipse((centre - 28, centre - 28, centre + 28, centre + 28), fill=(250, 200, 40))
    return image.filter(ImageFilter.SMOOTH)


def checkerboard(size: int = 224) -> Image.Image:
    y, x = np.mgrid[0:size, 0:size]
    squares = ((x // 28 + y // 28) % 2).astype(bool)
    image = np.where(squares[..., None], [230, 230, 220], [40, 40, 50]).astype("uint8")
    picture = Image.fromarray(image)
    ImageDraw.Draw(picture).ellipse((60, 60, 164, 164), outline=(220, 40, 40), width=10)
    return picture


def image_samples() -> None:
    folder = OUT / "images"
    folder.mkdir(parents=True, exist_ok=True)
    for name, make in (("sunset", sunset), ("flower", flower), ("checkerboard", checkerboard)):
        make().save(folder / f"{name}.png", optimize=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mnist", type=Path, required=True, help="an MNIST .npz (x_test, y_test)")
    args = parser.parse_args()
    mnist_samples(args.mnist)
    image_samples()


if __name__ == "__main__":
    main()
