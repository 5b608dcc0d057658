"""Map resizing shared by the methods whose maps are coarser than the input.

One bilinear convention throughout, Pillow's: pixel centres aligned (source coordinate
(u + 0.5) * h / H - 0.5), edges clamped. `bilinear_matrix` writes it as a matrix, so that maps are
enlarged by matrix products (Score-CAM's channels and RISE's masks in one product; one Grad-CAM
map in a fifth of a Pillow call); Pillow itself resizes when a side shrinks, as it also smooths.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image


def upsample(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """[h, w] -> [H, W] by bilinear interpolation (pixel centres aligned, as Pillow does)."""
    if values.shape == tuple(size):
        return values.astype(np.float32)
    return upsample_stack(values[None], size)[0]


def _pillow(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    image = Image.fromarray(values.astype(np.float32), mode="F").resize((size[1], size[0]), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.float32)


@functools.lru_cache(maxsize=64)
def bilinear_matrix(source: int, size: int) -> np.ndarray:
    """[size, source]: the weights of bilinear enlargement from `source` to `size` samples."""
    position = np.clip((np.arange(size) + 0.5) * source / size - 0.5, 0, source - 1)
    lower = np.floor(position).astype(int)
    upper = np.minimum(lower + 1, source - 1)
    weight = position - lower
    matrix = np.zeros((size, source))
    np.add.at(matrix, (np.arange(size), lower), 1 - weight)
    np.add.at(matrix, (np.arange(size), upper), weight)
    matrix.flags.writeable = False  # shared by every caller (cached)
    return matrix


def upsample_stack(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """[k, h, w] -> [k, H, W]: every map enlarged by the same two matrix products (equal to Pillow's
    resize to float32 precision); Pillow itself, which also smooths, when a side shrinks."""
    count, height, width = values.shape
    if height > size[0] or width > size[1]:
        return np.stack([_pillow(v, size) for v in values]) if count else np.zeros((0, *size), np.float32)
    rows, cols = bilinear_matrix(height, size[0]), bilinear_matrix(width, size[1])
    return (rows @ values.astype(np.float64) @ cols.T).astype(np.float32)  # two batched products: einsum took 5x as long
