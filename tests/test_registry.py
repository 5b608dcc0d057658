"""The registry serves any Keras image classifier and skips what it cannot serve."""

import logging

import keras
import numpy as np
import pytest

from app.graph import ModelGraph, UnsupportedModel
from app.registry import ModelRegistry
from app.config import Settings
from tests import tiny_models
from tests.conftest import arr, client_for


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zoo")
    built = tiny_models.save_all(folder)
    (folder / "broken.keras").write_bytes(b"this is not a zip file")
    (folder / "notes.txt").write_text("ignored: not a model file")
    a, b = keras.Input((8, 8, 1)), keras.Input((8, 8, 1))
    merged = keras.layers.Flatten()(keras.layers.Add()([a, b]))
    keras.Model([a, b], keras.layers.Dense(2)(merged)).save(folder / "two-inputs.keras")
    vector = keras.Input((10,))
    keras.Model(vector, keras.layers.Dense(2)(vector)).save(folder / "tabular.keras")
    return folder, built


@pytest.fixture(scope="module")
def zoo_client(zoo):
    with client_for(zoo[0]) as test_client:
        yield test_client


def test_serves_good_models_and_skips_bad_ones(zoo, caplog):
    folder, _ = zoo
    with caplog.at_level(logging.ERROR, logger="convnet_vis.registry"):
        registry = ModelRegistry.from_settings(Settings(models_dir=folder))
    assert sorted(served.id for served in registry) == ["branched", "nested-rgb", "sequential-nested"]
    assert set(registry.skipped) == {"broken.keras", "two-inputs.keras", "tabular.keras"}
    assert "broken.keras" in caplog.text and "two-inputs.keras" in caplog.text


def test_card_defaults_without_a_card(zoo_client):
    models = {m["id"]: m for m in zoo_client.get("/api/models").json()["models"]}
    assert models["nested-rgb"]["name"] == "nested-rgb"
    assert models["nested-rgb"]["classes"] == ["0", "1", "2", "3", "4"]
    assert models["nested-rgb"]["input_shape"] == [64, 48, 3] and models["nested-rgb"]["kind"] == "image"
    assert models["branched"]["classes"] == ["a", "b", "c"] and models["branched"]["name"] == "Branched"


def test_nested_layers_are_listed_with_unambiguous_names(zoo_client):
    detail = zoo_client.get("/api/models/nested-rgb").json()
    names = [layer["name"] for layer in detail["layers"]]
    assert names == ["base/conv_a", "base/bn", "base/pool_a", "base/conv_b", "base", "gap", "drop", "logits"]
    by_name = {layer["name"]: layer for layer in detail["layers"]}
    assert by_name["base"]["is_container"] and by_name["base/conv_a"]["parent"] == "base"
    assert by_name["base/conv_b"]["output_shape"] == [29, 21, 8]
    assert detail["default_gradcam_layer"] == "base/conv_b"
    weights = zoo_client.get("/api/models/nested-rgb/layers/base/conv_a/weights").json()
    assert weights["kernel"]["shape"] == [3, 3, 3, 6]


def test_branch_inbound_names(zoo_client):
    layers = {layer["name"]: layer for layer in zoo_client.get("/api/models/branched").json()["layers"]}
    assert layers["merge"]["inbound"] == ["left", "right"]
    assert layers["concat"]["inbound"] == ["pool", "avg"]
    assert layers["stem"]["inbound"] == ["input"]


@pytest.mark.parametrize("model_id", ["branched", "nested-rgb", "sequential-nested"])
def test_predictions_equal_keras(zoo, zoo_client, model_id):
    _, built = zoo
    model = built[model_id]
    shape = tuple(model.inputs[0].shape[1:])
    x = np.random.default_rng(3).uniform(0, 1, (4, *shape)).astype("float32")
    expected = model.predict(x, verbose=0)
    if model_id == "nested-rgb":  # no softmax: the app reports softmax(logits) as probabilities
        expected = keras.ops.convert_to_numpy(keras.ops.softmax(expected))
    for i in range(4):
        body = zoo_client.post(f"/api/models/{model_id}/predict", json={"pixels": x[i].tolist()}).json()
        np.testing.assert_allclose(body["prediction"]["probabilities"], expected[i], rtol=1e-5, atol=1e-6)


def test_rgb_model_takes_any_file_with_resize(zoo_client):
    from tests.conftest import png_bytes

    picture = np.random.default_rng(0).integers(0, 255, (200, 300), dtype=np.uint8)  # grayscale, other size
    body = zoo_client.post("/api/models/nested-rgb/predict", files={"image": ("p.png", png_bytes(picture), "image/png")}).json()
    assert arr(body["input"]).shape == (64, 48, 3)


def test_logits_are_pre_softmax(zoo):
    _, built = zoo
    for model_id in ("branched", "sequential-nested"):
        graph = ModelGraph(built[model_id])
        x = np.random.default_rng(1).uniform(0, 1, (2, *graph.input_shape)).astype("float32")
        result = graph.run(x)
        assert graph.head.value == "softmax"
        np.testing.assert_allclose(keras.ops.convert_to_numpy(keras.ops.softmax(result["scores"])), result["output"], atol=1e-6)
        assert not np.allclose(result["scores"], result["output"])
    # the served model is never mutated (methods.md trap 3)
    assert built["branched"].get_layer("probs").activation.__name__ == "softmax"


def test_subclassed_models_are_refused_clearly():
    class Custom(keras.Model):
        def __init__(self):
            super().__init__()
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(keras.ops.reshape(x, (-1, 16)))

    model = Custom()
    model(np.zeros((1, 4, 4, 1), "float32"))
    with pytest.raises(UnsupportedModel):
        ModelGraph(model)


def test_a_missing_models_folder_serves_nothing(tmp_path):
    with client_for(tmp_path / "absent") as test_client:
        assert test_client.get("/api/health").json() == {"status": "ok", "models": 0}
