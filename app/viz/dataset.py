"""Dataset views over a reference set: top-activating examples, nearest neighbours, and a 2-D map.

- Top examples (Erhan et al. 2009; Zeiler & Fergus 2014, fig. 2): for a unit (a channel's mean,
  for feature maps), the k reference images with the largest value.
- Nearest neighbours: Euclidean distance between layer outputs, brute force (exact).
- The map: t-SNE (van der Maaten & Hinton 2008) of the reference set in the last hidden layer.
  t-SNE has no transform for new points, so a new input is placed at the inverse-distance-weighted
  mean of the map positions of its k nearest neighbours in the layer's feature space.
"""

from __future__ import annotations

import contextlib
import io
import os
import re

import numpy as np

PLACEMENT_NEIGHBOURS = 10
TSNE_ITERATIONS = 1000  # scikit-learn's default `max_iter`, named so that progress is told against it
_ITERATION_LINE = re.compile(r"\[t-SNE\] Iteration (\d+):")


def top_units(unit_values: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """For every unit of `unit_values` [N, units]: (indices [units, k], values [units, k]), largest first."""
    order = np.argsort(-unit_values, axis=0, kind="stable")[:k].T  # ties: lower index first
    return order.astype(np.int32), np.take_along_axis(unit_values.T, order, axis=1)


def nearest(features: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    distances = np.sqrt(np.maximum(((features - query[None]) ** 2).sum(axis=1), 0.0))
    order = np.lexsort((np.arange(len(distances)), distances))[:k]
    return order, distances[order]


def embed(features: np.ndarray, seed: int = 0, progress: str | None = None) -> np.ndarray:
    """The t-SNE map of `features` [N, D]. `progress`: a file in which the iterations done are kept
    while it runs, for the server to report (it runs in a child process). scikit-learn has no
    callback: its verbose log prints a line every 50 iterations, which is parsed. Verbosity changes
    only what is printed, not the result (tests/test_maps.py compares the two)."""
    from sklearn.manifold import TSNE

    perplexity = min(30.0, max(2.0, (len(features) - 1) / 3))
    tsne = TSNE(
        n_components=2, perplexity=perplexity, init="pca", random_state=seed, max_iter=TSNE_ITERATIONS, verbose=2 if progress else 0
    )
    if progress is None:
        return tsne.fit_transform(features).astype(np.float32)
    with contextlib.redirect_stdout(_IterationLog(progress)):
        points = tsne.fit_transform(features)
    _write_atomically(progress, str(TSNE_ITERATIONS))
    return points.astype(np.float32)


def iterations_done(progress: str) -> int:
    """What `embed` wrote in its progress file: 0 before the first 50 iterations or with no file."""
    try:
        with open(progress) as handle:
            return int(handle.read() or 0)
    except (OSError, ValueError):
        return 0


class _IterationLog(io.TextIOBase):
    """A stdout that keeps only the latest "[t-SNE] Iteration N:" count, in a file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.pending = ""

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        *lines, self.pending = (self.pending + text).split("\n")
        for line in lines:
            found = _ITERATION_LINE.search(line)
            if found:
                _write_atomically(self.path, found.group(1))
        return len(text)


def _write_atomically(path: str, text: str) -> None:
    """Written beside and renamed: the server never reads half a number."""
    with open(path + ".tmp", "w") as handle:
        handle.write(text)
    os.replace(path + ".tmp", path)


def place(features: np.ndarray, points: np.ndarray, query: np.ndarray, k: int = PLACEMENT_NEIGHBOURS):
    """Out-of-sample placement on the map: ((x, y), the neighbours' indices)."""
    indices, distances = nearest(features, query, k)
    weights = 1.0 / (distances + 1e-6)
    position = (points[indices] * weights[:, None]).sum(axis=0) / weights.sum()
    return position, indices
