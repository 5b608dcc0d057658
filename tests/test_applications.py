"""The architectures practitioners bring (keras.applications, weights=None, small inputs), served
from memory: activations equal Keras layer by layer, Grad-CAM at the default layer (a convolution)
equals the formula, and every endpoint answers. Each family is built once."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from fastapi.testclient import TestClient

from app.config import Settings
from app.graph.layers import CONV_CLASSES
from app.main import create_app
from app.registry import ModelCard, ModelRegistry, serve_model
from tests.conftest import arr

A = keras.applications
FAMILIES = {
    "vgg16": (A.VGG16, 32),
    "resnet50": (A.ResNet50, 32),
    "mobilenetv2": (A.MobileNetV2, 32),
    "inceptionv3": (A.InceptionV3, 75),  # its smallest input
    "efficientnetb0": (A.EfficientNetB0, 32),  # has its own Rescaling and Normalization layers
    "densenet121": (A.DenseNet121, 32),
    "xception": (A.Xception, 71),  # its smallest input
    "convnexttiny": (A.ConvNeXtTiny, 32),
}


@pytest.fixture(scope="module", params=list(FAMILIES))
def family(request, tmp_path_factory):
    name = request.param
    build, side = FAMILIES[name]
    keras.utils.set_random_seed(0)
    model = build(weights=None, input_shape=(side, side, 3), classes=4, classifier_activation=None)
    card = ModelCard(id=name, name=name, input_range=(0.0, 255.0))
    served = serve_model(model, card, Path(f"memory/{name}.keras"), f"memory-{name}")
    folder = tmp_path_factory.mktemp(name)
    app = create_app(Settings(models_dir=folder, cache_dir=folder / "cache"), registry=ModelRegistry({name: served}))
    x = np.random.default_rng(1).uniform(0, 1, (side, side, 3)).astype("float32")
    with TestClient(app) as client:
        yield name, model, client, x


def test_activations_equal_keras_layer_by_layer(family):
    name, model, client, x = family
    body = client.post(f"/api/models/{name}/activations", json={"pixels": x.tolist()}).json()
    served = {layer["name"]: layer for layer in body["layers"]}
    reference_layers = [layer for layer in model.layers[1:]]
    reference = keras.Model(model.inputs, [layer.output for layer in reference_layers])(x[None] * 255.0, training=False)
    assert len(served) >= len(reference_layers)
    for layer, expected in zip(reference_layers, reference):
        expected = keras.ops.convert_to_numpy(expected)[0]
        got = arr(served[layer.name]["activations"])
        scale = max(1.0, float(np.abs(expected).max()))
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * scale, err_msg=f"{name}/{layer.name}")


def test_gradcam_at_the_default_layer_is_a_convolution_and_equals_the_formula(family):
    name, model, client, x = family
    detail = client.get(f"/api/models/{name}").json()
    layer = detail["default_gradcam_layer"]
    assert {entry["name"]: entry["class_name"] for entry in detail["layers"]}[layer] in CONV_CLASSES
    assert detail["head"] == "logits"
    body = client.post(f"/api/models/{name}/gradcam?class_index=2", json={"pixels": x.tolist()}).json()
    grad_model = keras.Model(model.inputs, [model.get_layer(layer).output, model.output])
    with tf.GradientTape() as tape:
        feature_map, logits = grad_model(x[None] * 255.0, training=False)
        score = logits[0, 2]
    gradient = tape.gradient(score, feature_map)[0].numpy()
    expected = np.maximum((feature_map[0].numpy() * gradient.mean(axis=(0, 1))).sum(axis=-1), 0)
    got = arr(body["raw"])
    assert body["layer"] == layer and got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4 * max(1e-6, float(expected.max())))


def test_every_endpoint_answers(family):
    name, model, client, x = family
    pixels = {"pixels": x.tolist()}
    base = f"/api/models/{name}"
    for path in ("predict", "occlusion?patch=8&stride=8", "saliency", "saliency?method=smoothgrad&samples=2",
                 "saliency?method=integrated_gradients&steps=4", "gradcam?method=gradcam%2B%2B", "gradcam?method=layercam"):
        response = client.post(f"{base}/{path}", json=pixels)
        assert response.status_code == 200, (path, response.text)
        assert np.isfinite(arr(response.json()["heatmap"] if "heatmap" in response.json() else response.json()["input"])).all()
    overview = client.post(f"{base}/activations?max_side=4&dtype=uint8", json=pixels).json()
    assert all(max(layer["shape"][:2]) <= 4 for layer in overview["layers"] if len(layer["shape"]) == 3)
    first_conv = next(layer["name"] for layer in client.get(base).json()["layers"] if layer["kind"] == "conv")
    pattern = client.get(f"{base}/layers/{first_conv}/filters/0?steps=4")
    assert pattern.status_code == 200 and np.isfinite(arr(pattern.json()["pattern"])).all()
