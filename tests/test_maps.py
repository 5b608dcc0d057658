"""The t-SNE map never holds a request: the bundled models' maps are shipped ready (and equal
what the server computes), another model's map answers 202 with its progress until it is done."""

from __future__ import annotations

import time
from pathlib import Path

import keras
import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.config import PROJECT_ROOT, Settings
from app.errors import Busy
from app.main import create_app
from app.registry import ModelCard, ModelRegistry, serve_model
from app.services import map_files
from app.viz import dataset
from tests.conftest import arr

MODELS = PROJECT_ROOT / "models"
BUNDLED = ("mnist-convnet", "mnist-lenet")


def shipped(model_id: str) -> dict:
    with np.load(MODELS / f"{model_id}.map.npz") as archive:
        return {name: archive[name] for name in archive.files}


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    """A server just started on the bundled models, with an empty cache."""
    settings = Settings(models_dir=MODELS, cache_dir=tmp_path_factory.mktemp("cache"))
    with TestClient(create_app(settings)) as started:
        yield started


@pytest.mark.parametrize("model_id", BUNDLED)
def test_bundled_maps_answer_at_once_with_the_shipped_points(fresh, model_id):
    """The very first request of a fresh server is 200 with the shipped map, and nothing was
    computed for it: not even the reference set's features in the map's layer."""
    client = fresh
    response = client.get(f"/api/models/{model_id}/embedding")
    assert response.status_code == 200, response.text
    views, served = client.app.state.dataset_views, client.app.state.registry.get(model_id)
    assert not views.references.is_loaded(served.id)  # the reference images were not even loaded
    body = response.json()
    with np.load(MODELS / "mnist-reference.npz") as reference:
        labels = reference["y"]
    files = shipped(model_id)
    assert body["layer"] == str(files["layer"]) and body["labels"] == labels.tolist()
    np.testing.assert_array_equal(arr(body["points"]), files["points"])
    placed = client.post(f"/api/models/{model_id}/embedding/place", json={"pixels": np.zeros((28, 28)).tolist()})
    assert placed.status_code == 200 and len(placed.json()["point"]) == 2


@pytest.mark.parametrize("model_id", BUNDLED)
def test_shipped_maps_are_made_from_the_committed_model_and_reference_files(client, model_id):
    """The sums the server checks before it uses a shipped map: this model file, this reference
    set (models/mnist-reference.npz, committed; nothing outside the repository is read)."""
    files = shipped(model_id)
    served = client.app.state.registry.get(model_id)
    assert str(files["model_sha256"]) == served.file_hash == map_files.sha256(MODELS / f"{model_id}.keras")
    assert str(files["reference_sha256"]) == map_files.sha256(MODELS / "mnist-reference.npz")
    assert str(files["layer"]) == served.graph.layers.last_hidden
    assert files["points"].dtype == np.float32 and files["points"].shape == (3000, 2)


def test_shipped_map_equals_what_the_server_computes(client):
    """t-SNE again, on the features the server computes for the reference set: the shipped
    coordinates to float32 rounding (the same machine makes the same map; see the README for
    another machine). One model: each run takes 15-60 s."""
    views = client.app.state.dataset_views
    served = client.app.state.registry.get("mnist-convnet")
    layer = views.map_layer(served)
    points = dataset.embed(views.references.features(served, layer, "flat"))
    np.testing.assert_allclose(points, shipped("mnist-convnet")["points"], rtol=0, atol=1e-3)


def test_a_shipped_map_for_another_model_file_is_ignored(tmp_path, client, keras_models):
    """A retrained model (another file hash) must not get the old map: it is computed instead."""
    served = client.app.state.registry.get("mnist-convnet")
    for name in ("mnist-convnet.map.npz", "mnist-reference.npz"):
        (tmp_path / name).write_bytes((MODELS / name).read_bytes())
    other = serve_model(keras_models["mnist-convnet"], served.card, tmp_path / "mnist-convnet.keras", "another-file")
    assert map_files.read(other, "dense1") is None
    same = serve_model(keras_models["mnist-convnet"], served.card, tmp_path / "mnist-convnet.keras", served.file_hash)
    np.testing.assert_array_equal(map_files.read(same, "dense1")[0], shipped("mnist-convnet")["points"])
    assert map_files.read(same, "dense2") is None  # another layer


def test_progress_reporting_does_not_change_the_map(tmp_path):
    features = np.random.default_rng(0).normal(size=(120, 6)).astype(np.float32)
    progress = str(tmp_path / "progress")
    np.testing.assert_array_equal(dataset.embed(features, 0, progress), dataset.embed(features))
    assert dataset.iterations_done(progress) == dataset.TSNE_ITERATIONS
    assert dataset.iterations_done(str(tmp_path / "none")) == 0


def tiny_model():
    keras.utils.set_random_seed(3)
    return keras.Sequential(
        [
            keras.Input((28, 28, 1)),
            keras.layers.Conv2D(4, 3, activation="relu", name="conv"),
            keras.layers.MaxPooling2D(4, name="pool"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(12, activation="relu", name="hidden"),
            keras.layers.Dense(10, activation="softmax", name="output"),
        ]
    )


@pytest.fixture
def new_model(tmp_path, mnist):
    """A model no map was shipped for, served from memory, with 200 MNIST digits as its reference set."""
    images, labels = mnist
    np.savez(tmp_path / "tiny-reference.npz", x=images[:200], y=labels[:200])
    model = tiny_model()
    card = ModelCard(id="tiny", name="tiny", classes=[str(i) for i in range(10)], extra={"reference": "tiny-reference.npz"})
    served = serve_model(model, card, tmp_path / "tiny.keras", "memory-tiny")
    app = create_app(Settings(models_dir=tmp_path, cache_dir=tmp_path / "cache"), registry=ModelRegistry({"tiny": served}))
    with TestClient(app) as client:
        yield client, model, (images[:200] / 255.0).astype(np.float32)


def test_a_new_model_answers_202_with_progress_then_its_map(new_model):
    client, model, x = new_model
    first = client.get("/api/models/tiny/embedding")
    assert first.status_code == 202, first.text
    assert first.headers["retry-after"] == str(Settings().map_retry_seconds)
    progress = first.json()
    assert progress["status"] == "computing" and progress["stage"] in ("features", "layout")
    assert progress["of"] == dataset.TSNE_ITERATIONS and 0 <= progress["progress"] <= 1
    assert "200 reference images" in progress["detail"]
    placed = client.post("/api/models/tiny/embedding/place", json={"pixels": x[0].tolist()})
    assert placed.status_code in (200, 202)  # 202 unless the map landed meanwhile
    seen = [progress["iterations"]]
    deadline = time.monotonic() + 600  # a guard against a hang, not a timing assertion
    while (response := client.get("/api/models/tiny/embedding")).status_code == 202:
        seen.append(response.json()["iterations"])
        assert time.monotonic() < deadline, "the map was never computed"
        time.sleep(0.2)
    assert response.status_code == 200, response.text
    assert seen == sorted(seen)  # progress only goes forward
    body = response.json()
    # The oracle: Keras itself up to the hidden layer, then the same t-SNE.
    features = keras.ops.convert_to_numpy(keras.Model(model.inputs[0], model.get_layer("hidden").output)(x[..., None]))
    expected = dataset.embed(features.reshape(len(x), -1))
    assert body["layer"] == "hidden" and len(body["labels"]) == 200
    np.testing.assert_allclose(arr(body["points"]), expected, rtol=0, atol=1e-3)
    placed = client.post("/api/models/tiny/embedding/place", json={"pixels": x[0].tolist()})
    assert placed.status_code == 200 and placed.json()["neighbors"][0] == 0  # digit 0 is reference image 0


def test_a_failed_map_is_told_then_tried_again(new_model, monkeypatch):
    """A computation that fails answers its error to the next request, then starts again."""
    client, _, _ = new_model
    views = client.app.state.dataset_views
    calls = []

    def broken(served, run, progress):
        calls.append(served.id)
        raise Busy("The server is shutting down. Try again in a few seconds.", retry_after=5)

    monkeypatch.setattr(views, "embedding", broken)
    assert client.get("/api/models/tiny/embedding").status_code == 202
    deadline = time.monotonic() + 60
    while views.computing:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    failed = client.get("/api/models/tiny/embedding")
    assert failed.status_code == 503 and "shutting down" in failed.json()["detail"]
    assert client.get("/api/models/tiny/embedding").status_code == 202 and len(calls) == 2
