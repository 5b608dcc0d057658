"""One bilinear convention: Pillow's resize; the matrix form equals it when enlarging."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from app.viz.resize import upsample, upsample_stack


@pytest.mark.parametrize("shape,size", [((3, 3), (28, 28)), ((11, 11), (28, 28)), ((7, 5), (64, 48)), ((28, 28), (28, 28)), ((30, 20), (28, 28))])
def test_many_maps_at_once_equal_one_at_a_time(shape, size):
    maps = np.random.default_rng(0).normal(size=(4, *shape)).astype(np.float32)
    stacked = upsample_stack(maps, size)
    assert stacked.shape == (4, *size) and stacked.dtype == np.float32
    for one, source in zip(stacked, maps):
        pillow = np.asarray(Image.fromarray(source, mode="F").resize(size[::-1], Image.Resampling.BILINEAR))
        np.testing.assert_allclose(upsample(source, size), pillow, atol=1e-6)
        np.testing.assert_allclose(one, pillow, atol=1e-6)
