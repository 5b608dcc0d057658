"""Rotation, shift, zoom, shear and horizontal flip as one affine map of the image, as data
augmentation applies them (the lesson: a convnet is not invariant to these).

Conventions, in pixel coordinates (x to the right, y down) about the centre of the image,
`((W - 1) / 2, (H - 1) / 2)`, the point a 90-degree turn maps the pixel grid onto itself about:

- `flip`: mirror left-right (x -> -x), applied first;
- `shear` (degrees): x -> x + tan(shear) * y, so positive shear moves the lower rows right;
- `zoom` (factor): x, y -> zoom * x, zoom * y (2 doubles the size, 0.5 halves it);
- `rotate` (degrees): counter-clockwise as seen on the screen, so `rotate=90` equals
  `numpy.rot90(image)` (axes 0, 1);
- `shift_x`, `shift_y` (pixels): added last; positive moves the content right and down.

Each output pixel samples the input at the inverse map by bilinear interpolation; samples outside
the input blend with the fill, the low end of the model's input range (black for MNIST digits).
Multiples of 90 degrees are exact (cosine and sine snapped to 0 and +-1), and the identity returns
the input unchanged, so the identity sweep equals /predict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np
from scipy import ndimage

# transform -> (low, high, identity value) for its parameter
LIMITS: dict[str, tuple[float, float, float]] = {
    "rotate": (-360.0, 360.0, 0.0),
    "shift_x": (-1.0, 1.0, 0.0),  # pixels, times the image width (so at most one width either way)
    "shift_y": (-1.0, 1.0, 0.0),  # pixels, times the image height
    "zoom": (0.1, 10.0, 1.0),
    "shear": (-80.0, 80.0, 0.0),
}


@dataclass(frozen=True)
class Transform:
    rotate: float = 0.0
    shift_x: float = 0.0
    shift_y: float = 0.0
    zoom: float = 1.0
    shear: float = 0.0
    flip: bool = False

    def with_value(self, name: str, value: float) -> "Transform":
        return replace(self, **{name: float(value)})

    @property
    def is_identity(self) -> bool:
        return self == Transform()


def _snap(value: float) -> float:
    """cos(90 degrees) is 6e-17 in floating point: make right angles exact."""
    for exact in (-1.0, 0.0, 1.0):
        if abs(value - exact) < 1e-12:
            return exact
    return value


def forward_matrix(transform: Transform) -> np.ndarray:
    """The 2x2 map of (x, y) about the centre: rotate @ zoom @ shear @ flip."""
    angle = math.radians(transform.rotate)
    cos, sin = _snap(math.cos(angle)), _snap(math.sin(angle))
    rotate = np.array([[cos, sin], [-sin, cos]])  # counter-clockwise on screen, y pointing down
    zoom = np.eye(2) * transform.zoom
    shear = np.array([[1.0, _snap(math.tan(math.radians(transform.shear)))], [0.0, 1.0]])
    flip = np.diag([-1.0 if transform.flip else 1.0, 1.0])
    return rotate @ zoom @ shear @ flip


def apply(image: np.ndarray, transform: Transform, fill: float = 0.0) -> np.ndarray:
    """`image` [H, W, C] transformed; the output pixel q samples the input at A^-1 (q - c - t) + c."""
    if transform.is_identity:
        return image.copy()
    height, width = image.shape[:2]
    centre_xy = np.array([(width - 1) / 2, (height - 1) / 2])
    shift_xy = np.array([transform.shift_x, transform.shift_y])
    inverse_xy = np.linalg.inv(forward_matrix(transform))
    # scipy works in (row, col) = (y, x): swap the axes of the matrix and the vectors
    swap = np.array([[0.0, 1.0], [1.0, 0.0]])
    inverse_rc = swap @ inverse_xy @ swap
    centre_rc, shift_rc = centre_xy[::-1], shift_xy[::-1]
    offset = centre_rc - inverse_rc @ (centre_rc + shift_rc)
    channels = [
        ndimage.affine_transform(
            image[..., c].astype(np.float64), inverse_rc, offset=offset, order=1, mode="grid-constant", cval=fill
        )
        for c in range(image.shape[2])
    ]
    return np.stack(channels, axis=-1).astype(np.float32)


def limits(name: str, height: int, width: int) -> tuple[float, float]:
    low, high, _ = LIMITS[name]
    scale = {"shift_x": width, "shift_y": height}.get(name, 1)
    return low * scale, high * scale


def sweep_values(start: float, stop: float, steps: int) -> np.ndarray:
    return np.linspace(start, stop, steps)
