"""Training: one step on a few digits, from an .npz and from IDX files, writes a servable model."""

import json
import struct

import numpy as np
import pytest

from app.registry import load_served_model
from app.train.__main__ import main
from app.train.data import load_mnist, read_idx


def write_idx(path, array):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def tiny_mnist(tmp_path, mnist):
    images, labels = mnist
    npz = tmp_path / "mnist.npz"
    np.savez(npz, x_train=images[:200], y_train=labels[:200], x_test=images[200:], y_test=labels[200:])
    folder = tmp_path / "idx"
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte", images[:200])
    write_idx(folder / "train-labels-idx1-ubyte", labels[:200])
    write_idx(folder / "t10k-images-idx3-ubyte", images[200:])
    write_idx(folder / "t10k-labels-idx1-ubyte", labels[200:])
    return npz, folder


def test_idx_and_npz_load_the_same(tiny_mnist, mnist):
    npz, folder = tiny_mnist
    (a_train, a_labels), (a_test, _) = load_mnist(npz)
    (b_train, b_labels), (b_test, _) = load_mnist(folder)
    np.testing.assert_array_equal(a_train, b_train)
    np.testing.assert_array_equal(a_labels, b_labels)
    np.testing.assert_array_equal(b_test, mnist[0][200:])
    assert read_idx(folder / "t10k-labels-idx1-ubyte").shape == (100,)


@pytest.mark.parametrize("model_id", ["mnist-convnet", "mnist-lenet"])
def test_one_training_step_writes_a_servable_model(tiny_mnist, tmp_path, model_id):
    npz, folder = tiny_mnist
    out = tmp_path / "out"
    data = npz if model_id == "mnist-convnet" else folder
    main([model_id, "--data", str(data), "--out", str(out), "--epochs", "1", "--steps", "1", "--limit", "64", "--seed", "3"])
    card = json.loads((out / f"{model_id}.json").read_text())
    assert card["id"] == model_id and card["kind"] == "digits" and card["training"]["seed"] == 3
    assert card["classes"] == [str(d) for d in range(10)] and 0.0 <= card["test_accuracy"] <= 1.0
    served = load_served_model(out / f"{model_id}.keras")
    assert served.id == model_id
    expected = {"mnist-convnet": 93322, "mnist-lenet": None}[model_id]
    if expected:
        assert served.graph.model.count_params() == expected
