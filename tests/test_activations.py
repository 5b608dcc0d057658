"""Every layer's activations equal Keras's own layer outputs, over HTTP and the live channel."""

import json
import threading
import time

import httpx
import keras
import numpy as np
import pytest

from tests import tiny_models
from tests.conftest import arr, client_for


def keras_layer_outputs(model: keras.Model, x: np.ndarray) -> dict[str, np.ndarray]:
    """The oracle: each layer of a Sequential model called in turn, eagerly, in inference mode."""
    outputs, tensor = {}, x
    for layer in model.layers:
        tensor = layer(tensor, training=False)
        outputs[layer.name] = keras.ops.convert_to_numpy(tensor)[0]
    return outputs


def assert_close(got, expected, name):
    scale = max(1e-6, float(np.abs(expected).max()))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5 * scale, err_msg=name)


@pytest.mark.parametrize("model_id", ["mnist-convnet", "mnist-lenet"])
def test_bundled_models_equal_keras(client, keras_models, mnist, model_id):
    images, _ = mnist
    for index in (0, 5):
        x = (images[index] / 255.0).astype("float32")
        body = client.post(f"/api/models/{model_id}/activations", json={"pixels": x.tolist()}).json()
        expected = keras_layer_outputs(keras_models[model_id], x[None, ..., None])
        assert [layer["name"] for layer in body["layers"]] == list(expected)
        for layer in body["layers"]:
            values = arr(layer["activations"])
            assert layer["shape"] == list(values.shape) == list(expected[layer["name"]].shape)
            assert_close(values, expected[layer["name"]], layer["name"])
            assert layer["min"] == pytest.approx(float(values.min())) and layer["max"] == pytest.approx(float(values.max()))
        assert body["layers"][0]["class_name"] == "Conv2D"
        np.testing.assert_allclose(body["prediction"]["probabilities"], expected["output"], rtol=1e-5, atol=1e-7)


@pytest.fixture(scope="module")
def zoo(tmp_path_factory):
    folder = tmp_path_factory.mktemp("zoo-activations")
    built = tiny_models.save_all(folder)
    with client_for(folder) as test_client:
        yield test_client, built


def functional_oracle(model: keras.Model, x: np.ndarray) -> dict[str, np.ndarray]:
    """Keras sub-models on the model's own graph; nested layers through the nested model itself."""
    outputs = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.InputLayer):
            continue
        if isinstance(layer, keras.Model):
            for inner in layer.layers:
                if isinstance(inner, keras.layers.InputLayer):
                    continue
                probe = keras.Model(layer.inputs, inner.output)
                outputs[f"{layer.name}/{inner.name}"] = keras.ops.convert_to_numpy(probe(x, training=False))[0]
            outputs[layer.name] = keras.ops.convert_to_numpy(layer(x, training=False))[0]
            continue
        probe = keras.Model(model.inputs, layer.output)
        outputs[layer.name] = keras.ops.convert_to_numpy(probe(x, training=False))[0]
    return outputs


@pytest.mark.parametrize("model_id", ["branched", "nested-rgb"])
def test_test_models_equal_keras(zoo, model_id):
    test_client, built = zoo
    model = built[model_id]
    x = np.random.default_rng(5).uniform(0, 1, (1, *model.inputs[0].shape[1:])).astype("float32")
    body = test_client.post(f"/api/models/{model_id}/activations", json={"pixels": x[0].tolist()}).json()
    expected = functional_oracle(model, x)
    got = {layer["name"]: arr(layer["activations"]) for layer in body["layers"]}
    assert set(got) == set(expected)
    for name, values in expected.items():
        assert_close(got[name], values, name)
    if model_id == "branched":
        assert {"merge", "concat"} <= set(got)


def test_sequential_nested_in_sequential(zoo):
    test_client, built = zoo
    model = built["sequential-nested"]
    x = np.random.default_rng(6).uniform(0, 1, (1, 16, 16, 1)).astype("float32")
    body = test_client.post("/api/models/sequential-nested/activations", json={"pixels": x[0].tolist()}).json()
    names = [layer["name"] for layer in body["layers"]]
    assert names == ["features/c1", "features/p1", "features", "flat", "scores", "softmax"]
    inner = model.get_layer("features")
    c1 = keras.ops.convert_to_numpy(inner.layers[0](x))[0]
    assert_close(arr(body["layers"][0]["activations"]), c1, "features/c1")


def test_layer_selection_and_order(client):
    pixels = np.zeros((28, 28)).tolist()
    body = client.post("/api/models/mnist-convnet/activations?layers=dense1,conv1", json={"pixels": pixels}).json()
    assert [layer["name"] for layer in body["layers"]] == ["conv1", "dense1"]
    missing = client.post("/api/models/mnist-convnet/activations?layers=conv1,nope", json={"pixels": pixels})
    assert missing.status_code == 404 and "nope" in missing.json()["detail"]


@pytest.mark.parametrize("dtype,tolerance", [("float16", 1e-3), ("uint8", 1 / 255)])
def test_compact_dtypes(client, mnist, dtype, tolerance):
    x = (mnist[0][1] / 255.0).tolist()
    exact = client.post("/api/models/mnist-convnet/activations", json={"pixels": x}).json()
    compact = client.post(f"/api/models/mnist-convnet/activations?dtype={dtype}", json={"pixels": x}).json()
    for a, b in zip(exact["layers"], compact["layers"]):
        assert b["activations"]["dtype"] == dtype
        exact_values, compact_values = arr(a["activations"]), arr(b["activations"])
        span = max(1e-6, float(exact_values.max() - exact_values.min()))
        assert np.abs(exact_values - compact_values).max() <= tolerance * max(span, np.abs(exact_values).max()) + 1e-6


def test_list_encoding_equals_base64(client, mnist):
    x = (mnist[0][2] / 255.0).tolist()
    a = client.post("/api/models/mnist-lenet/activations", json={"pixels": x}).json()
    b = client.post("/api/models/mnist-lenet/activations?encoding=list", json={"pixels": x}).json()
    for la, lb in zip(a["layers"], b["layers"]):
        assert isinstance(lb["activations"]["data"], list)
        np.testing.assert_array_equal(arr(la["activations"]), arr(lb["activations"]))


def test_live_channel_answers_like_http(client, mnist):
    x = (mnist[0][3] / 255.0).tolist()
    http = client.post("/api/models/mnist-convnet/activations", json={"pixels": x}).json()
    with client.websocket_connect("/api/models/mnist-convnet/live") as socket:
        socket.send_text(json.dumps({"seq": 1, "pixels": x}))
        answer = socket.receive_json()
        assert answer["seq"] == 1 and answer["dropped"] == 0
        assert answer["prediction"] == http["prediction"]
        for a, b in zip(answer["layers"], http["layers"]):
            np.testing.assert_array_equal(arr(a["activations"]), arr(b["activations"]))
        socket.send_text(json.dumps({"seq": 2, "pixels": [[5.0]]}))
        error = socket.receive_json()
        assert error["seq"] == 2 and error["error"]["status"] == 422
        socket.send_text("not json")
        assert socket.receive_json()["error"]["status"] == 422
        socket.send_text(json.dumps({"seq": 3, "pixels": x, "layers": ["conv1"], "dtype": "float16"}))
        answer = socket.receive_json()
        assert answer["seq"] == 3 and [layer["name"] for layer in answer["layers"]] == ["conv1"]
        assert answer["layers"][0]["activations"]["dtype"] == "float16"


def test_live_channel_unknown_model(client):
    with client.websocket_connect("/api/models/nope/live") as socket:
        assert socket.receive_json()["error"]["status"] == 404


def test_live_channel_drops_stale_messages(live_server, mnist):
    """A burst of drawing updates: the last one is always answered, the rest may be skipped."""
    from websockets.sync.client import connect

    digits = [(mnist[0][i] / 255.0).tolist() for i in range(40)]
    with connect(live_server.replace("http", "ws") + "/api/models/mnist-convnet/live", max_size=None) as socket:
        for seq, pixels in enumerate(digits):
            socket.send(json.dumps({"seq": seq, "pixels": pixels}))
        answers = []
        while not answers or answers[-1]["seq"] != len(digits) - 1:
            answers.append(json.loads(socket.recv(timeout=30)))
    seqs = [a["seq"] for a in answers]
    assert seqs == sorted(seqs) and seqs[-1] == 39
    assert len(answers) + sum(a["dropped"] for a in answers) == len(digits)
    assert len(answers) < len(digits)  # the server really skipped stale frames


def test_concurrent_clients_get_identical_results(live_server, mnist):
    """8 clients for 20 s: no error, every answer identical to the single-request answer."""
    url = live_server + "/api/models/mnist-convnet/activations"
    digits = [(mnist[0][i] / 255.0).tolist() for i in range(8)]
    with httpx.Client(timeout=30) as single:
        reference = [single.post(url, json={"pixels": d}).json() for d in digits]
    failures, counts = [], [0] * 8
    stop = time.monotonic() + 20

    def worker(index: int) -> None:
        with httpx.Client(timeout=30) as http:
            while time.monotonic() < stop:
                response = http.post(url, json={"pixels": digits[index]})
                if response.status_code != 200 or response.json() != reference[index]:
                    failures.append((index, response.status_code))
                counts[index] += 1

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not failures, failures[:5]
    assert min(counts) > 10
