"""convnet_vis.Client against a real server (uvicorn in its own process, the bundled models),
compared with Keras's own computations of the same models; show() and `serve --model` likewise."""

from __future__ import annotations

import os
import signal
import subprocess
import time

import httpx
import keras
import numpy as np
import pytest
from PIL import Image

from app.config import PROJECT_ROOT
from bench.server import free_port, running_server
from convnet_vis import Client, ConvnetVisError
from convnet_vis.notebook import NotebookServer
from tests.conftest import MODELS_DIR, arr

MODEL = "mnist-convnet"


@pytest.fixture(scope="module")
def api(live_server):
    return Client(live_server)


@pytest.fixture(scope="module")
def digit(mnist):
    return mnist[0][0].astype(np.float32) / 255  # a 7, [28, 28] in [0, 1]


def keras_layer_outputs(model, image: np.ndarray) -> dict[str, np.ndarray]:
    """Every top-level layer's output by Keras alone: the oracle."""
    probe = keras.Model(model.inputs, [layer.output for layer in model.layers])
    outputs = probe.predict(image[None, :, :, None], verbose=0)
    return {layer.name: np.asarray(out[0]) for layer, out in zip(model.layers, outputs)}


def test_models_and_detail(api):
    ids = [summary["id"] for summary in api.models()["models"]]
    assert MODEL in ids
    detail = api.model(MODEL)
    assert detail["input_shape"] == [28, 28, 1]
    assert api.health()["models"] == len(ids)


def test_activations_equal_keras(api, digit, keras_models):
    expected = keras_layer_outputs(keras_models[MODEL], digit)
    outputs = api.activations(MODEL, digit)["outputs"]
    assert set(outputs) == set(expected)
    for name, values in expected.items():
        assert outputs[name].dtype == np.float32
        np.testing.assert_allclose(outputs[name], values, atol=1e-5, rtol=1e-5, err_msg=name)


def test_predict_equals_model_predict(api, digit, keras_models):
    answer = api.predict(MODEL, digit)
    expected = keras_models[MODEL].predict(digit[None, :, :, None], verbose=0)[0]
    np.testing.assert_allclose(answer["prediction"]["probabilities"], expected, atol=1e-6)
    np.testing.assert_array_equal(answer["input"][:, :, 0], digit)
    assert answer["prediction"]["top"][0]["label"] == "7"


def test_uint8_transfer_is_scaled_back(api, digit, keras_models):
    conv1 = api.activations(MODEL, digit, layers=["conv1"], dtype="uint8")["outputs"]["conv1"]
    expected = keras_layer_outputs(keras_models[MODEL], digit)["conv1"]
    np.testing.assert_allclose(conv1, expected, atol=(expected.max() - expected.min()) / 255 + 1e-6)


def test_explanation_equals_the_http_endpoint(api, digit, live_server):
    mine = api.gradcam(MODEL, digit, method="layercam")
    theirs = httpx.post(f"{live_server}/api/models/{MODEL}/gradcam?method=layercam",
                        json={"pixels": digit.tolist()}, timeout=60).json()
    np.testing.assert_array_equal(mine["raw"], arr(theirs["raw"]))
    np.testing.assert_array_equal(mine["heatmap"], arr(theirs["heatmap"]))
    assert isinstance(mine["overlay"], Image.Image) and mine["overlay"].size[0] >= 224
    assert mine["layer"] == theirs["layer"]


def test_saliency_occlusion_and_weights(api, digit, keras_models):
    assert api.saliency(MODEL, digit)["raw"].shape == (28, 28)
    grid = api.occlusion(MODEL, digit, patch=7, stride=7)["grid"]
    assert grid.shape == (4, 4)
    kernel = api.weights(MODEL, "conv1")["kernel"]
    np.testing.assert_array_equal(kernel, keras_models[MODEL].get_layer("conv1").kernel.numpy())


def test_image_files_and_pil_images_are_sent_as_files(api, mnist):
    picture = Image.fromarray(mnist[0][0])
    assert api.predict(MODEL, picture)["preprocessing"]["mode"] == "digit"


def test_lessons_endpoints(api, digit):
    presets = api.kernel_presets(MODEL)["presets"]
    assert presets[0]["name"] == "identity"
    edge = np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=float)
    answer = api.kernel(MODEL, digit, kernel=edge)
    from scipy.signal import correlate2d

    np.testing.assert_allclose(answer["feature_map"], correlate2d(digit, edge, mode="valid"), atol=1e-5)
    assert api.summary(MODEL)["total"] == api.model(MODEL)["parameters"]


@pytest.mark.parametrize(
    ("call", "status", "words"),
    [
        (lambda api, digit: api.model("no-such-model"), 404, "no-such-model"),
        (lambda api, digit: api.predict("no-such-model", digit), 404, "no-such-model"),
        (lambda api, digit: api.gradcam(MODEL, digit, layer="nope"), 404, "nope"),
        (lambda api, digit: api.gradcam(MODEL, digit, class_index=99), 422, "class_index"),
        (lambda api, digit: api.predict(MODEL, b"not an image"), 415, ""),
    ],
)
def test_errors_carry_the_servers_detail(api, digit, live_server, call, status, words):
    with pytest.raises(ConvnetVisError) as caught:
        call(api, digit)
    assert caught.value.status == status
    assert words in caught.value.detail
    assert len(caught.value.detail) > 10


def test_error_detail_is_the_servers_own(api, live_server):
    expected = httpx.get(f"{live_server}/api/models/no-such-model", timeout=10).json()["detail"]
    with pytest.raises(ConvnetVisError) as caught:
        api.model("no-such-model")
    assert caught.value.detail == expected


def test_live_iterator_answers_equal_keras(api, mnist, keras_models):
    digits = [mnist[0][i].astype(np.float32) / 255 for i in range(3)]
    answers = list(api.live(MODEL, digits, layers=["conv2", "output"]))
    assert len(answers) == 3
    model = keras_models[MODEL]
    for image, answer in zip(digits, answers):
        expected = keras_layer_outputs(model, image)
        np.testing.assert_allclose(answer["outputs"]["conv2"], expected["conv2"], atol=1e-5, rtol=1e-5)
        np.testing.assert_allclose(answer["prediction"]["probabilities"], expected["output"], atol=1e-6)


def test_live_unknown_model_raises_404(api, digit):
    with pytest.raises(ConvnetVisError) as caught:
        next(api.live("no-such-model", [digit]))
    assert caught.value.status == 404
    assert "no-such-model" in caught.value.detail


def tiny_model():
    keras.utils.set_random_seed(3)
    inputs = keras.Input((12, 12, 1))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="out")(x)
    return keras.Model(inputs, outputs, name="tiny_net")


def test_show_serves_an_in_memory_model_framable_by_the_notebook():
    model = tiny_model()
    server = NotebookServer()
    try:
        model_id = server.add(model)
        assert model_id == "tiny_net"
        image = np.random.default_rng(0).random((12, 12), dtype=np.float32)
        answer = Client(server.url).predict(model_id, image)
        np.testing.assert_allclose(answer["prediction"]["probabilities"], model.predict(image[None, :, :, None], verbose=0)[0], atol=1e-6)
        page = httpx.get(f"{server.url}/?model={model_id}", timeout=30)
        assert page.status_code == 200
        assert "x-frame-options" not in page.headers
        assert "frame-ancestors 'self' http://localhost:*" in page.headers["content-security-policy"]
        server.add(MODELS_DIR / "mnist-lenet.keras")
        assert "mnist-lenet" in [m["id"] for m in Client(server.url).models()["models"]]
        server.remove(model_id)
        with pytest.raises(ConvnetVisError) as caught:
            Client(server.url).model(model_id)
        assert caught.value.status == 404
    finally:
        server.stop()


@pytest.mark.skipif(not (PROJECT_ROOT / ".venv" / "bin" / "python").exists(),
                    reason="scripts/serve runs the checkout's .venv (scripts/setup makes it; CI has it)")
def test_scripts_serve_with_a_file_serves_that_file(tmp_path):
    """From another folder, with a relative path, as a user would type it."""
    port = free_port()
    relative = os.path.relpath(MODELS_DIR / "mnist-lenet.keras", tmp_path)
    process = subprocess.Popen([str(PROJECT_ROOT / "scripts" / "serve"), relative, "--port", str(port), "--log-level", "warning"],
                               cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        client = Client(f"http://127.0.0.1:{port}", timeout=5)
        for _ in range(600):
            try:
                models = client.models()
                break
            except OSError:
                if process.poll() is not None:
                    raise AssertionError("scripts/serve exited") from None
                time.sleep(0.2)
        else:
            raise AssertionError("scripts/serve did not answer")
        assert [summary["id"] for summary in models["models"]] == ["mnist-lenet"]
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)


def test_serve_one_model_file_serves_only_that_file():
    with running_server(MODELS_DIR, args=("--model", str(MODELS_DIR / "mnist-lenet.keras"))) as url:
        models = Client(url).models()
    assert [summary["id"] for summary in models["models"]] == ["mnist-lenet"]
    assert models["models"][0]["card"]  # its card came along


def test_pool_and_sweep_equal_the_models_own(api, digit, keras_models):
    expected = keras_layer_outputs(keras_models[MODEL], digit)
    pooled = api.pool(MODEL, digit, layer="conv1", channel=2)
    own = next(panel for panel in pooled["panels"] if panel["own"])
    np.testing.assert_allclose(own["pooled"], expected["pool1"][:, :, 2], atol=1e-5)
    sweep = api.sweep(MODEL, digit, transform="rotate", steps=1)
    np.testing.assert_allclose(sweep["probabilities"][0], expected["output"], atol=1e-6)


def test_engine_weights_are_the_layers_weights(api, keras_models):
    plan = api.browser(MODEL)
    blob = api.browser_weights(MODEL)
    conv1 = next(layer for layer in plan["layers"] if layer["name"] == "conv1")["weights"]["kernel"]
    start = conv1["offset"] // 4
    kernel = blob[start:start + int(np.prod(conv1["shape"]))].reshape(conv1["shape"])
    np.testing.assert_array_equal(kernel, keras_models[MODEL].get_layer("conv1").kernel.numpy())


def test_dataset_views_filters_and_reading(api, digit):
    assert len(api.top_examples(MODEL, "conv1", 0, k=3)["examples"]) == 3
    assert [n["distance"] for n in api.neighbors(MODEL, digit, k=4)["neighbors"]] == sorted(
        n["distance"] for n in api.neighbors(MODEL, digit, k=4)["neighbors"])
    embedding = api.embedding(MODEL)
    assert embedding["points"].shape == (len(embedding["labels"]), 2)
    assert len(api.place(MODEL, digit)["point"]) == 2
    pattern = api.filter_pattern(MODEL, "conv1", 0, steps=2)
    assert pattern["pattern"].shape == (28, 28, 1) and isinstance(pattern["png"], Image.Image)
    assert api.read(MODEL, digit)["text"] == "7"
    assert "gradcam" in [method["name"] for method in api.methods()["methods"]]
    assert api.ready()["status"] == "ready"


def test_long_jobs_report_progress_and_give_the_same_result(api, digit):
    reports = []
    streamed = api.occlusion(MODEL, digit, patch=4, stride=4, progress=lambda done, total: reports.append((done, total)))
    plain = api.occlusion(MODEL, digit, patch=4, stride=4)
    np.testing.assert_array_equal(streamed["grid"], plain["grid"])
    assert reports and reports[-1][0] == reports[-1][1] == 49
    assert [done for done, _ in reports] == sorted(done for done, _ in reports)
