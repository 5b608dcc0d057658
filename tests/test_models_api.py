"""Health, model list, model detail and layer weights on the bundled models."""

import json

import numpy as np
import pytest

from app.config import PROJECT_ROOT
from tests.conftest import arr

SEED_SHAPES = [[26, 26, 32], [13, 13, 32], [11, 11, 64], [5, 5, 64], [3, 3, 64], [576], [64], [10]]


def test_health_counts_models(client):
    assert client.get("/api/health").json() == {"status": "ok", "models": 2}


def test_model_list_reports_cards(client):
    models = {m["id"]: m for m in client.get("/api/models").json()["models"]}
    assert set(models) == {"mnist-convnet", "mnist-lenet"}
    convnet = models["mnist-convnet"]
    assert convnet["input_shape"] == [28, 28, 1]
    assert convnet["classes"] == [str(d) for d in range(10)]
    assert convnet["parameters"] == 93322
    assert convnet["kind"] == "digits"
    card = json.loads((PROJECT_ROOT / "models" / "mnist-convnet.json").read_text())
    assert convnet["card"]["test_accuracy"] == card["test_accuracy"] >= 0.99
    assert card["training"]["seed"] == 0 and card["training"]["command"].startswith("python -m app.train")
    lenet_card = json.loads((PROJECT_ROOT / "models" / "mnist-lenet.json").read_text())
    assert lenet_card["test_accuracy"] >= 0.985


def test_seed_model_detail_shapes_and_config(client, keras_models):
    detail = client.get("/api/models/mnist-convnet").json()
    layers = detail["layers"]
    assert [layer["output_shape"] for layer in layers] == SEED_SHAPES
    assert [layer["class_name"] for layer in layers] == [
        "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Conv2D", "Flatten", "Dense", "Dense",
    ]
    assert layers[0]["inbound"] == ["input"]
    assert [layer["inbound"][0] for layer in layers[1:]] == [layer["name"] for layer in layers[:-1]]
    assert layers[0]["config"]["filters"] == 32 and layers[0]["config"]["kernel_size"] == [3, 3]
    assert layers[0]["config"]["activation"] == "relu"
    assert layers[1]["config"]["pool_size"] == [2, 2]
    assert layers[-1]["config"]["units"] == 10 and layers[-1]["config"]["activation"] == "softmax"
    model = keras_models["mnist-convnet"]
    assert [layer["parameters"] for layer in layers] == [layer.count_params() for layer in model.layers]
    assert detail["default_gradcam_layer"] == "conv3"


def test_lenet_detail_mirrors_harley(client):
    layers = client.get("/api/models/mnist-lenet").json()["layers"]
    shapes = {layer["name"]: layer["output_shape"] for layer in layers}
    assert shapes["conv1"] == [28, 28, 6] and shapes["conv2"] == [10, 10, 16]
    assert [shapes[n] for n in ("dense1", "dense2", "output")] == [[120], [100], [10]]


@pytest.mark.parametrize("encoding", ["base64", "list"])
def test_weights_equal_keras(client, keras_models, encoding):
    body = client.get(f"/api/models/mnist-convnet/layers/conv2/weights?encoding={encoding}").json()
    kernel, bias = keras_models["mnist-convnet"].get_layer("conv2").get_weights()
    np.testing.assert_array_equal(arr(body["kernel"]), kernel)
    np.testing.assert_array_equal(arr(body["bias"]), bias)
    assert body["kernel"]["shape"] == [3, 3, 32, 64]


def test_weights_errors(client):
    missing = client.get("/api/models/mnist-convnet/layers/nope/weights")
    assert missing.status_code == 404 and "conv1" in missing.json()["detail"]
    no_weights = client.get("/api/models/mnist-convnet/layers/pool1/weights")
    assert no_weights.status_code == 422 and "no weights" in no_weights.json()["detail"]
    assert client.get("/api/models/nope/layers/conv1/weights").status_code == 404


def test_openapi_and_docs_are_published(client):
    schema = client.get("/openapi.json").json()
    assert "/api/models/{model_id}/predict" in schema["paths"]
    assert client.get("/docs").status_code == 200
