"""How a generated image is parameterised for filter patterns, and how it is moved every step.

- `pixel`: one free value per pixel and channel, squashed into [0, 1] by a sigmoid. Fine for
  grayscale digits; on RGB models it makes high-frequency noise (Olah et al. 2017, "Feature
  Visualization", Distill, section "Preconditioning and Parameterization").
- `fourier`: the image is the inverse real FFT of a spectrum scaled by 1/f, so every frequency
  learns at a similar pace, with colours decorrelated by the square root of ImageNet's colour
  covariance, then a sigmoid (Lucid / Lucent's `fft_image` and `to_valid_rgb`, same constants).

Transformation robustness for `fourier`: every step the image is warped by one random affine map
that combines Lucent's standard transforms (pad 12 with grey, jitter 8, scale 0.9-1.1, rotate
+-10 degrees, jitter 4) at the model's own input size, grey where the warp leaves the image.
"""

from __future__ import annotations

import math

import numpy as np
import tensorflow as tf

# Lucid/Lucent: square root of the ImageNet colour covariance (its SVD), column-normalised.
COLOR_CORRELATION_SVD_SQRT = np.array([[0.26, 0.09, 0.02], [0.27, 0.00, -0.05], [0.27, -0.09, 0.03]], np.float32)
COLOR_CORRELATION = COLOR_CORRELATION_SVD_SQRT / np.max(np.linalg.norm(COLOR_CORRELATION_SVD_SQRT, axis=0))
FOURIER_MAGIC = 4.0  # Lucent divides the image by this before the sigmoid
SCALES = [1 + (i - 5) / 50.0 for i in range(11)]
ANGLES = list(range(-10, 11)) + 5 * [0]


class PixelImage:
    def __init__(self, height: int, width: int, channels: int) -> None:
        self.shape = (height, width, channels)

    def start(self, rng: np.random.Generator) -> np.ndarray:
        return rng.normal(0.0, 0.1, self.shape).astype(np.float32)  # near mid-grey (keras.io's start)

    def unit_image(self, params):
        return tf.sigmoid(params)


class FourierImage:
    def __init__(self, height: int, width: int, channels: int, decay: float = 1.0) -> None:
        self.height, self.width, self.channels = height, width, channels
        frequencies = np.sqrt(np.fft.fftfreq(height)[:, None] ** 2 + np.fft.rfftfreq(width)[None, :] ** 2)
        scale = 1.0 / np.maximum(frequencies, 1.0 / max(height, width)) ** decay
        # irfft2d divides by h*w; Lucent's orthonormal transform by sqrt(h*w)
        self.scale = (scale * math.sqrt(height * width)).astype(np.float32)
        self.shape = (2, channels, height, width // 2 + 1)  # real and imaginary parts

    def start(self, rng: np.random.Generator) -> np.ndarray:
        return rng.normal(0.0, 0.01, self.shape).astype(np.float32)

    def unit_image(self, params):
        spectrum = tf.complex(params[:, 0] * self.scale, params[:, 1] * self.scale)
        image = tf.signal.irfft2d(spectrum, fft_length=[self.height, self.width])  # [N, C, H, W]
        image = tf.transpose(image, [0, 2, 3, 1]) / FOURIER_MAGIC
        if self.channels == 3:
            image = tf.tensordot(image, tf.constant(COLOR_CORRELATION.T), axes=1)
        return tf.sigmoid(image)


def random_warps(steps: int, height: int, width: int, rng: np.random.Generator) -> np.ndarray:
    """[steps, 8] projective transforms (output -> input pixel) for `tf.raw_ops.ImageProjectiveTransformV3`."""
    warps = np.zeros((steps, 8), np.float32)
    cy, cx = (height - 1) / 2.0, (width - 1) / 2.0
    for t in range(steps):
        scale = rng.choice(SCALES)
        angle = math.radians(rng.choice(ANGLES))
        ty, tx = rng.integers(-8, 9, 2) + rng.integers(-4, 5, 2)
        cos, sin = math.cos(angle) / scale, math.sin(angle) / scale
        # input = R(-angle) / scale * (output - centre - shift) + centre
        a0, a1, b0, b1 = cos, sin, -sin, cos
        a2 = cx - a0 * (cx + tx) - a1 * (cy + ty)
        b2 = cy - b0 * (cx + tx) - b1 * (cy + ty)
        warps[t] = [a0, a1, a2, b0, b1, b2, 0.0, 0.0]
    return warps


def warp(images, transform, height: int, width: int):
    """One affine warp of a batch of [0, 1] images, grey outside."""
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=images,
        transforms=transform[None],
        output_shape=tf.constant([height, width]),
        fill_value=0.5,
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
