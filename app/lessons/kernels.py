"""One 2-D kernel slid over one 2-D map, as the course draws it (cross-correlation, as Conv2D does).

Padding follows Keras: `valid` adds none; `same` adds `max((ceil(W / S) - 1) * S + K - W, 0)` zeros,
half before and the rest after (so for an even total both sides get `P`, and the output size is
`floor((W - K + 2P) / S) + 1`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MAX_KERNEL_SIDE = 15
MAX_STRIDE = 8

_SOBEL_X = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
# name -> (label, kernel); the hand-made kernels every image-processing course shows
PRESETS: dict[str, tuple[str, list[list[float]]]] = {
    "identity": ("Identity", [[0, 0, 0], [0, 1, 0], [0, 0, 0]]),
    "edge": ("Edge (Laplacian)", [[0, 1, 0], [1, -4, 1], [0, 1, 0]]),
    "sobel_x": ("Sobel x (vertical edges)", _SOBEL_X),
    "sobel_y": ("Sobel y (horizontal edges)", [list(row) for row in zip(*_SOBEL_X)]),
    "sharpen": ("Sharpen", [[0, -1, 0], [-1, 5, -1], [0, -1, 0]]),
    "box_blur": ("Box blur", [[1 / 9] * 3 for _ in range(3)]),
    "gaussian_blur": ("Gaussian blur", [[1 / 16, 2 / 16, 1 / 16], [2 / 16, 4 / 16, 2 / 16], [1 / 16, 2 / 16, 1 / 16]]),
    "emboss": ("Emboss", [[-2, -1, 0], [-1, 1, 1], [0, 1, 2]]),
}


@dataclass(frozen=True)
class Padding:
    """Zeros added before and after, per axis: ((top, bottom), (left, right))."""

    rows: tuple[int, int]
    cols: tuple[int, int]


def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def padding_for(shape: tuple[int, int], kernel_shape: tuple[int, int], stride: int, mode: str) -> Padding:
    if mode == "valid":
        return Padding((0, 0), (0, 0))
    return Padding(same_padding(shape[0], kernel_shape[0], stride), same_padding(shape[1], kernel_shape[1], stride))


def output_size(size: int, kernel: int, stride: int, padding_total: int) -> int:
    """The course's formula, floor((W - K + 2P) / S) + 1, with 2P the total padding of the axis."""
    return (size - kernel + padding_total) // stride + 1


def correlate(feature_map: np.ndarray, kernel: np.ndarray, stride: int = 1, padding: str = "valid") -> np.ndarray:
    """`out[i, j] = sum(kernel * padded[i*S : i*S+K, j*S : j*S+K])`, in float64, returned as float32."""
    feature_map = np.asarray(feature_map, np.float64)
    kernel = np.asarray(kernel, np.float64)
    pad = padding_for(feature_map.shape, kernel.shape, stride, padding)
    padded = np.pad(feature_map, (pad.rows, pad.cols))
    windows = np.lib.stride_tricks.sliding_window_view(padded, kernel.shape)[::stride, ::stride]
    return np.einsum("ijkl,kl->ij", windows, kernel).astype(np.float32)
