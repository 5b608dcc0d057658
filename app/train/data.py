"""MNIST loading from a local file, because the build machines have no internet.

Accepts the `.npz` layout of `keras.datasets.mnist.load_data()` or a folder of the four
original IDX files; with no path, falls back to Keras's own downloader.
"""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np

Split = tuple[np.ndarray, np.ndarray]

_IDX_NAMES = {
    "x_train": "train-images-idx3-ubyte",
    "y_train": "train-labels-idx1-ubyte",
    "x_test": "t10k-images-idx3-ubyte",
    "y_test": "t10k-labels-idx1-ubyte",
}


def read_idx(path: Path) -> np.ndarray:
    """One IDX file (optionally gzipped) as a uint8 array of its declared shape."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as handle:
        raw = handle.read()
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file")
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)


def _find_idx(folder: Path, stem: str) -> Path:
    for candidate in (stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"):
        if (folder / candidate).exists():
            return folder / candidate
    raise FileNotFoundError(f"{folder} has no {stem}[.gz]")


def load_mnist(path: str | Path | None = None) -> tuple[Split, Split]:
    """((x_train, y_train), (x_test, y_test)) as uint8, like `keras.datasets.mnist.load_data()`."""
    if path is None:
        import keras

        return keras.datasets.mnist.load_data()
    path = Path(path)
    if path.is_dir():
        arrays = {key: read_idx(_find_idx(path, stem)) for key, stem in _IDX_NAMES.items()}
    else:
        with np.load(path) as archive:
            arrays = {key: archive[key] for key in _IDX_NAMES}
    return (arrays["x_train"], arrays["y_train"]), (arrays["x_test"], arrays["y_test"])


def to_model_input(images: np.ndarray) -> np.ndarray:
    """uint8 (N, 28, 28) -> float32 (N, 28, 28, 1) in [0, 1], the bundled models' input range."""
    return (images.astype("float32") / 255.0)[..., None]
