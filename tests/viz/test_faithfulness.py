"""Deletion and insertion (Petsiuk et al. 2018) against a brute-force loop of their definition, and
on a model that reads one known region, where a map of that region must beat random maps."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from scipy import ndimage

from app.graph import ModelGraph
from app.viz.faithfulness import deletion_insertion
from tests.viz.conftest import digit, explain


def brute_force(model, x, class_index, heatmap, steps, fill, sigma):
    """One Keras call per point, pixels changed one by one in the map's order (ties: row-major)."""
    height, width, _ = x.shape
    n = height * width
    flat = heatmap.ravel()
    order = sorted(range(n), key=lambda i: (-float(flat[i]), i))
    start = {"deletion": x.copy(), "insertion": ndimage.gaussian_filter(x, sigma=(sigma, sigma, 0), mode="nearest")}
    curves = {}
    for name, image in start.items():
        curve = []
        for k in range(steps + 1):
            changed = image.copy()
            for i in order[: int(round(k * n / steps))]:
                y, xx = divmod(i, width)
                changed[y, xx, :] = fill if name == "deletion" else x[y, xx, :]
            curve.append(float(model(changed[None], training=False)[0, class_index]))
        curves[name] = np.array(curve)
    fractions = np.array([round(k * n / steps) / n for k in range(steps + 1)])
    areas = {name: float(np.trapezoid(curve, fractions)) for name, curve in curves.items()}
    return curves, areas, fractions


@pytest.mark.parametrize("method,steps", [("gradcam", 7), ("occlusion", 10), ("gradient", 4)])
def test_curves_equal_brute_force(lenet, keras_models, mnist, method, steps):
    x = digit(mnist, 8)
    class_index = int(mnist[1][8])
    heatmap = explain(lenet, method, x, class_index).heatmap
    result = deletion_insertion(lenet, x, class_index, heatmap, steps)
    curves, areas, fractions = brute_force(keras_models["mnist-lenet"], x, class_index, heatmap, steps, 0.0, 28 / 8)
    np.testing.assert_allclose(result["fractions"], fractions)
    for name in ("deletion", "insertion"):
        np.testing.assert_allclose(result[name]["curve"], curves[name], atol=1e-5)
        assert result[name]["auc"] == pytest.approx(areas[name], abs=1e-5)
        assert 0.0 <= result[name]["auc"] <= 1.0
    assert result["deletion"]["curve"][0] == pytest.approx(result["insertion"]["curve"][-1], abs=1e-6)


def region_model(size=24, region=(slice(8, 14), slice(4, 10))) -> tuple[keras.Model, np.ndarray]:
    """Softmax over (sum of the region's 36 pixels - 30, 0): only the region matters, and only
    when it is sharp (a blurred region's sum is far below 30)."""
    inputs = keras.Input((size, size, 1))
    dense = keras.layers.Dense(2, name="scores")
    model = keras.Model(inputs, keras.layers.Softmax()(dense(keras.layers.Flatten()(inputs))))
    mask = np.zeros((size, size), bool)
    mask[region] = True
    kernel = np.zeros((size * size, 2), np.float32)
    kernel[mask.ravel(), 0] = 1.0
    dense.set_weights([kernel, np.array([-30.0, 0.0], np.float32)])
    return model, mask


def test_a_map_of_the_region_the_model_reads_beats_random_maps():
    model, mask = region_model()
    graph = ModelGraph(model)
    rng = np.random.default_rng(3)
    x = rng.uniform(0.0, 0.3, (24, 24, 1)).astype("float32")
    x[mask] = 1.0
    assert graph.probabilities(x[None])[0, 0] > 0.99
    faithful = deletion_insertion(graph, x, 0, mask.astype(np.float32) + rng.uniform(0, 1e-3, mask.shape), 24)
    randoms = [deletion_insertion(graph, x, 0, rng.uniform(0, 1, mask.shape), 24) for _ in range(5)]
    best_random_deletion = min(r["deletion"]["auc"] for r in randoms)
    best_random_insertion = max(r["insertion"]["auc"] for r in randoms)
    assert faithful["deletion"]["auc"] < 0.3 * best_random_deletion
    assert faithful["insertion"]["auc"] > 0.9 and best_random_insertion < 0.5
    # deleting the region's 36 pixels (1/16 of the image) is enough to lose the class
    fractions = np.array(faithful["fractions"])
    assert np.array(faithful["deletion"]["curve"])[fractions >= 1 / 16].max() < 0.5


def test_the_deletion_fill_is_the_low_end_of_the_input_range():
    model, mask = region_model()
    graph = ModelGraph(model, input_range=(-1.0, 1.0))
    x = np.full((24, 24, 1), 0.5, np.float32)
    result = deletion_insertion(graph, x, 0, mask.astype(np.float32), 4)
    # everything deleted: every pixel is -1
    expected = float(model(np.full((1, 24, 24, 1), -1.0, np.float32))[0, 0])
    assert result["deletion"]["curve"][-1] == pytest.approx(expected, rel=1e-5)
