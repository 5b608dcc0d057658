"""Dataset views over a reference set: top-activating examples, nearest neighbours, and a 2-D map.

- Top examples (Erhan et al. 2009; Zeiler & Fergus 2014, fig. 2): for a unit (a channel's mean,
  for feature maps), the k reference images with the largest value.
- Nearest neighbours: Euclidean distance between layer outputs, brute force (exact).
- The map: t-SNE (van der Maaten & Hinton 2008) of the reference set in the last hidden layer.
  t-SNE has no transform for new points, so a new input is placed at the inverse-distance-weighted
  mean of the map positions of its k nearest neighbours in the layer's feature space.
"""

from __future__ import annotations

import numpy as np

PLACEMENT_NEIGHBOURS = 10


def top_units(unit_values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """For every unit of `unit_values` [N, units]: (indices [units, k], values [units, k]), largest first."""
    order = np.argsort(-unit_values, axis=0, kind="stable")[:k].T  # ties: lower index first
    return order.astype(np.int32), np.take_along_axis(unit_values.T, order, axis=1)


def nearest(features: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    distances = np.sqrt(np.maximum(((features - query[None]) ** 2).sum(axis=1), 0.0))
    order = np.lexsort((np.arange(len(distances)), distances))[:k]
    return order, distances[order]


def embed(features: np.ndarray, seed: int = 0) -> np.ndarray:
    from sklearn.manifold import TSNE

    perplexity = min(30.0, max(2.0, (len(features) - 1) / 3))
    points = TSNE(n_components=2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(features)
    return points.astype(np.float32)


def place(features: np.ndarray, points: np.ndarray, query: np.ndarray, k: int = PLACEMENT_NEIGHBOURS):
    """Out-of-sample placement on the map: ((x, y), the neighbours' indices)."""
    indices, distances = nearest(features, query, k)
    weights = 1.0 / (distances + 1e-6)
    position = (points[indices] * weights[:, None]).sum(axis=0) / weights.sum()
    return position, indices
