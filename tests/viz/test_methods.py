"""One test over every method of the table (xplique's habit): whatever a method computes, its result
has the promised shapes and ranges, no NaN, is deterministic, and does not depend on the batch size.
A method added to the table is tested here without a line of its own."""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from app.viz.methods import METHODS
from tests.viz.conftest import explain

NAMES = list(METHODS)


def module_of(name: str):
    return importlib.import_module(METHODS[name].attribute.__module__)


BATCHED = [name for name in NAMES if hasattr(module_of(name), "BATCH")]


@pytest.fixture(scope="module")
def image():
    rng = np.random.default_rng(7)
    x = np.zeros((28, 28, 1), np.float32)
    x[6:22, 10:18] = rng.uniform(0.5, 1.0, (16, 8, 1))
    return x


@pytest.mark.parametrize("name", NAMES)
def test_shapes_ranges_and_no_nan(branched, image, name):
    result = explain(branched, name, image, 1)
    assert result.heatmap.shape == (28, 28)
    assert np.isfinite(result.heatmap).all() and np.isfinite(result.raw).all()
    if METHODS[name].raw_field == "grid":  # occlusion: signed differences of probabilities
        assert np.abs(result.heatmap).max() <= 1.0
    else:
        assert result.heatmap.min() >= 0.0 and result.heatmap.max() <= 1.0 + 1e-6
        assert result.heatmap.max() > 0.0, "a map of zeros explains nothing"


@pytest.mark.parametrize("name", NAMES)
def test_deterministic(branched, image, name):
    first, second = explain(branched, name, image, 2), explain(branched, name, image, 2)
    np.testing.assert_array_equal(first.raw, second.raw)
    np.testing.assert_array_equal(first.heatmap, second.heatmap)


@pytest.mark.parametrize("name", BATCHED)
def test_independent_of_batch_size(branched, image, name, monkeypatch):
    """Batched methods give the same map with 3 images per forward pass as with full batches."""
    expected = explain(branched, name, image, 0)
    monkeypatch.setattr(module_of(name), "BATCH", 3)
    np.testing.assert_allclose(explain(branched, name, image, 0).raw, expected.raw, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", [name for name, method in METHODS.items() if method.long_job])
def test_long_jobs_report_progress_to_the_end(branched, image, name):
    seen = []
    entry = METHODS[name]
    entry.attribute(branched, image, 0, entry.options().resolved(branched), lambda done, total: seen.append((done, total)))
    assert seen and seen[-1][0] == seen[-1][1] and [d for d, _ in seen] == sorted(d for d, _ in seen)


@pytest.mark.parametrize("name", NAMES)
def test_the_table_entry_is_complete(name):
    method = METHODS[name]
    assert method.name == name and method.title and method.endpoint in ("gradcam", "occlusion", "saliency")
    assert " 20" in method.reference or " 19" in method.reference, "cite the paper, with its year"
    method.options()  # every option has a default


def test_batches_shrink_to_the_activation_budget(branched, monkeypatch):
    """Big models get small batches: a backward pass keeps every layer's output per image."""
    from app.viz import base

    layers = branched.layers
    expected = 4 * sum(int(np.prod(node.output_shape)) for node in layers.leaves)
    assert layers.activation_bytes == expected
    monkeypatch.setattr(base, "ACTIVATION_BUDGET", 3 * 2 * expected + 1)
    assert base.batch_size(branched, 32, backward=True) == 3
    assert base.batch_size(branched, 2, backward=True) == 2
    monkeypatch.setattr(base, "ACTIVATION_BUDGET", 1)
    assert base.batch_size(branched, 32, backward=False) == 1


@pytest.mark.parametrize("name", NAMES)
def test_no_class_means_the_top_prediction(branched, image, name):
    """class_index=None explains the top-1 class, and every method answers the prediction it made."""
    entry = METHODS[name]
    probabilities = branched.probabilities(image[None])[0]
    top = int(np.argmax(probabilities))
    result = entry.attribute(branched, image, None, entry.options().resolved(branched))
    assert result.target.class_index == top
    np.testing.assert_allclose(result.target.probabilities, probabilities, rtol=1e-5, atol=1e-7)
    np.testing.assert_array_equal(result.raw, explain(branched, name, image, top).raw)
