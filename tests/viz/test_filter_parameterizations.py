"""The Fourier parameterisation of filter patterns (Olah et al. 2017; Lucent's constants) against
numpy's FFT, the warps against their definition, and patterns on an RGB model."""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

from app.graph import ModelGraph
from app.viz import filters
from app.viz.image_params import COLOR_CORRELATION, FourierImage, random_warps, warp
from tests import tiny_models


def test_fourier_image_equals_numpy_irfft_with_decorrelated_colour():
    h, w = 10, 7
    param = FourierImage(h, w, 3)
    params = np.random.default_rng(0).normal(0, 0.05, (2, *param.shape)).astype(np.float32)
    got = param.unit_image(tf.constant(params)).numpy()
    freqs = np.sqrt(np.fft.fftfreq(h)[:, None] ** 2 + np.fft.rfftfreq(w)[None, :] ** 2)
    scale = 1.0 / np.maximum(freqs, 1.0 / max(h, w))  # 1/f, decay 1
    spectrum = (params[:, 0] + 1j * params[:, 1]) * scale
    image = np.fft.irfft2(spectrum, s=(h, w), norm="ortho").transpose(0, 2, 3, 1) / 4.0
    expected = 1 / (1 + np.exp(-(image @ COLOR_CORRELATION.T)))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-6)


def test_a_warp_moves_scales_and_rotates_as_defined():
    rng = np.random.default_rng(3)
    warps = random_warps(50, 21, 21, rng)
    image = np.zeros((1, 21, 21, 1), np.float32)
    image[0, 10, 10, 0] = 1.0  # the centre pixel stays at the centre up to the shift
    for transform in warps[:10]:
        a0, a1, a2, b0, b1, b2 = transform[:6]
        determinant = a0 * b1 - a1 * b0
        assert 0.9**2 - 1e-4 <= 1 / determinant <= 1.1**2 + 1e-4  # the image grows by scale^2 in area
        moved = warp(tf.constant(image), tf.constant(transform), 21, 21).numpy()[0, ..., 0]
        # the output pixel that maps to the input centre holds the bright pixel
        y, x = np.unravel_index(np.argmax(moved), moved.shape)
        source_x, source_y = a0 * x + a1 * y + a2, b0 * x + b1 * y + b2
        assert math.hypot(source_x - 10, source_y - 10) < 1.0
        assert abs(x - 10) <= 12 and abs(y - 10) <= 12  # jitter 8 + 4


def test_rgb_patterns_default_to_fourier_and_raise_their_objective():
    graph = ModelGraph(tiny_models.nested_rgb())
    options = filters.Options(steps=48, seed=1)
    assert options.resolved(graph).parameterization == "fourier"
    images, activations = filters.patterns(graph, "base/conv_b", [0, 1, 2, 3], options)
    assert images.shape == (4, 64, 48, 3) and images.min() >= 0 and images.max() <= 1
    again, _ = filters.patterns(graph, "base/conv_b", [2], options)
    np.testing.assert_allclose(again[0], images[2], atol=1e-4)  # independent of the batch, to float precision
    grey = np.full((1, 64, 48, 3), 0.5, np.float32)
    start = graph.feature(graph.run(grey), "base/conv_b")[0].mean(axis=(0, 1))[:4]
    assert (activations > start).sum() >= 3, (activations, start)
