"""Dataset views against brute force: top examples, nearest neighbours, the map and placement."""

import keras
import numpy as np
import pytest
from sklearn.neighbors import KNeighborsClassifier

from app.config import PROJECT_ROOT
from tests.conftest import arr, assert_error

REFERENCE = PROJECT_ROOT / "models" / "mnist-reference.npz"


@pytest.fixture(scope="module")
def reference():
    with np.load(REFERENCE) as archive:
        return archive["x"], archive["y"], archive["indices"]


def keras_outputs(model, layer, images):
    """The oracle: the Sequential model's layers up to `layer`, called by Keras itself."""
    names = [l.name for l in model.layers]
    probe = keras.Sequential(model.layers[: names.index(layer) + 1])
    return np.concatenate([keras.ops.convert_to_numpy(probe(images[i : i + 500])) for i in range(0, len(images), 500)])


def test_reference_set_is_held_out_from_the_test_digits(reference, mnist):
    _, _, indices = reference
    assert len(indices) >= 2000 and indices.min() >= 300  # tests/data holds test digits 0-299


@pytest.mark.parametrize("layer,unit", [("conv2", 3), ("conv3", 10), ("dense1", 5), ("output", 7)])
def test_top_examples_are_the_k_largest(client, keras_models, reference, layer, unit):
    x, y, _ = reference
    body = client.get(f"/api/models/mnist-convnet/layers/{layer}/units/{unit}/top?k=9").json()
    values = keras_outputs(keras_models["mnist-convnet"], layer, (x / 255.0).astype("float32")[..., None])
    values = values.mean(axis=(1, 2)) if values.ndim == 4 else values
    expected = np.argsort(-values[:, unit], kind="stable")[:9]
    assert [e["index"] for e in body["examples"]] == expected.tolist()
    np.testing.assert_allclose([e["activation"] for e in body["examples"]], values[expected, unit], rtol=1e-5, atol=1e-6)
    assert [e["label"] for e in body["examples"]] == [str(y[i]) for i in expected]
    assert body["examples"][0]["png"].startswith("data:image/png;base64,")


def test_nearest_neighbours_equal_brute_force(client, keras_models, reference, mnist):
    x, y, _ = reference
    features = keras_outputs(keras_models["mnist-convnet"], "dense1", (x / 255.0).astype("float32")[..., None])
    for index in (0, 1, 2):
        digit = (mnist[0][index] / 255.0).astype("float32")
        body = client.post("/api/models/mnist-convnet/neighbors?k=6", json={"pixels": digit.tolist()}).json()
        query = keras_outputs(keras_models["mnist-convnet"], "dense1", digit[None, ..., None])[0]
        distances = np.sqrt(((features - query) ** 2).sum(axis=1))
        expected = np.argsort(distances, kind="stable")[:6]
        assert body["layer"] == "dense1"
        assert [n["index"] for n in body["neighbors"]] == expected.tolist()
        np.testing.assert_allclose([n["distance"] for n in body["neighbors"]], distances[expected], rtol=1e-4)
    other = client.post("/api/models/mnist-convnet/neighbors?layer=flatten&k=3", json={"pixels": digit.tolist()}).json()
    assert other["layer"] == "flatten" and len(other["neighbors"]) == 3


@pytest.fixture(scope="module")
def embedding(client):
    return client.get("/api/models/mnist-convnet/embedding").json()


def test_the_map_separates_the_classes(embedding, reference):
    _, y, _ = reference
    points = arr(embedding["points"])
    assert points.shape == (len(y), 2) and embedding["labels"] == y.tolist() and embedding["layer"] == "dense1"
    held_out = np.arange(len(y)) % 5 == 0
    knn = KNeighborsClassifier(n_neighbors=5).fit(points[~held_out], y[~held_out])
    assert knn.score(points[held_out], y[held_out]) >= 0.90


def test_new_digits_are_placed_among_their_class(client, embedding, reference, mnist):
    _, y, _ = reference
    points = arr(embedding["points"])
    images, labels = mnist
    knn = KNeighborsClassifier(n_neighbors=10).fit(points, y)
    placed = []
    for index in range(200):  # the first 200 MNIST test digits: none is in the reference set
        body = client.post("/api/models/mnist-convnet/embedding/place", json={"pixels": (images[index] / 255.0).tolist()}).json()
        placed.append(body["point"])
    among_own = (knn.predict(np.array(placed)) == labels[:200]).mean()
    assert among_own >= 0.90, among_own


@pytest.mark.parametrize(
    "method,url,status",
    [
        ("get", "/api/models/mnist-convnet/layers/conv2/units/64/top", 404),
        ("get", "/api/models/mnist-convnet/layers/conv2/units/0/top?k=0", 422),
        ("get", "/api/models/mnist-convnet/layers/conv2/units/0/top?k=65", 422),
        ("get", "/api/models/mnist-convnet/layers/nope/units/0/top", 404),
        ("post", "/api/models/mnist-convnet/neighbors?layer=conv1", 422),
        ("post", "/api/models/mnist-convnet/neighbors?layer=nope", 404),
        ("post", "/api/models/mnist-convnet/neighbors?k=1000", 422),
    ],
)
def test_bad_dataset_requests(client, method, url, status):
    kwargs = {"json": {"pixels": np.zeros((28, 28)).tolist()}} if method == "post" else {}
    response = getattr(client, method)(url, **kwargs)
    assert_error(response, status)


def test_models_without_a_reference_set(tmp_path):
    from tests import tiny_models
    from tests.conftest import client_for

    tiny_models.save_all(tmp_path)
    with client_for(tmp_path) as zoo:
        response = zoo.get("/api/models/branched/embedding")
        assert response.status_code == 404 and "reference set" in response.json()["detail"]
        assert zoo.get("/api/models/branched/layers/stem/units/0/top").status_code == 404


def test_build_a_reference_set_from_a_folder(tmp_path, mnist):
    from PIL import Image

    from app.__main__ import main

    images, labels = mnist
    for index in range(12):
        folder = tmp_path / "photos" / f"class-{labels[index]}"
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(images[index]).resize((56, 56)).save(folder / f"{index}.png")
    (tmp_path / "photos" / f"class-{labels[0]}" / "notes.txt").write_text("not an image")
    out = tmp_path / "mine.npz"
    main(["reference", "build", str(tmp_path / "photos"), "--out", str(out), "--gray"])
    with np.load(out) as built:
        assert built["x"].shape == (12, 28, 28) and built["x"].dtype == np.uint8
        names = sorted({f"class-{labels[i]}" for i in range(12)})
        assert [names[i] for i in built["y"]] == sorted(f"class-{labels[i]}" for i in range(12))
