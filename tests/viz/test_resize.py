"""One bilinear convention: the matrix form equals Pillow's resize when enlarging."""

from __future__ import annotations

import numpy as np
import pytest

from app.viz.resize import upsample, upsample_stack


@pytest.mark.parametrize("shape,size", [((3, 3), (28, 28)), ((11, 11), (28, 28)), ((7, 5), (64, 48)), ((28, 28), (28, 28)), ((30, 20), (28, 28))])
def test_many_maps_at_once_equal_one_at_a_time(shape, size):
    maps = np.random.default_rng(0).normal(size=(4, *shape)).astype(np.float32)
    stacked = upsample_stack(maps, size)
    assert stacked.shape == (4, *size) and stacked.dtype == np.float32
    for one, expected in zip(stacked, maps):
        np.testing.assert_allclose(one, upsample(expected, size), atol=1e-6)
