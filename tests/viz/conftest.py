"""Method tests call `app.viz` directly on in-memory models: no app, no HTTP, no files."""

from __future__ import annotations

import numpy as np
import pytest

from app.graph import ModelGraph
from app.viz.methods import METHODS
from tests import tiny_models


def explain(graph: ModelGraph, method: str, x: np.ndarray, class_index: int, **options):
    """One method of the table, as the service calls it: options resolved for the model first."""
    entry = METHODS[method]
    return entry.attribute(graph, x, class_index, entry.options(**options).resolved(graph))


@pytest.fixture(scope="session")
def convnet(keras_models) -> ModelGraph:
    return ModelGraph(keras_models["mnist-convnet"])


@pytest.fixture(scope="session")
def lenet(keras_models) -> ModelGraph:
    return ModelGraph(keras_models["mnist-lenet"])


@pytest.fixture(scope="session")
def branched() -> ModelGraph:
    return ModelGraph(tiny_models.branched())


def digit(mnist, index: int) -> np.ndarray:
    return (mnist[0][index] / 255.0).astype("float32")[..., None]
