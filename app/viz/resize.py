"""Map resizing shared by the methods whose maps are coarser than the input."""

from __future__ import annotations

import numpy as np
from PIL import Image


def upsample(values: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """[h, w] -> [H, W] by bilinear interpolation (pixel centres aligned, as Pillow does)."""
    height, width = size
    if values.shape == (height, width):
        return values.astype(np.float32)
    image = Image.fromarray(values.astype(np.float32), mode="F").resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.float32)
