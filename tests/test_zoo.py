"""The zoo: every endpoint on every layer of every architecture family we claim to serve.

Each keras.applications family the README names, plus MobileNetV3, ResNetV2, EfficientNetV2,
NASNetMobile (RegNet is not in Keras 3's keras.applications), a model calling Keras operations on symbolic tensors (`x + 3`,
`keras.ops.mean`) and a MobileNetV3Small base nested under a head. Random weights
(`weights=None`), the smallest input each family accepts, four classes. Each model is built and
served once (a module fixture, one family at a time) into one shared app; each test then asks the
app as a client would and compares with Keras. No answer may be a 5xx.
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from app.registry import ModelCard, ModelRegistry, serve_model
from tests.conftest import arr

A = keras.applications
CLASSES = 4


def _application(build, side: int, **options):
    def make() -> keras.Model:
        return build(weights=None, input_shape=(side, side, 3), classes=CLASSES, classifier_activation=None, **options)

    return make


def _operations() -> keras.Model:
    """Keras operations called on symbolic tensors: each one is an `Operation` node, not a layer."""
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", activation="relu", name="conv1")(inputs)
    shifted = x + 3.0
    scaled = keras.ops.multiply(shifted, 0.5)
    y = keras.layers.Conv2D(8, 3, padding="same", name="conv2")(scaled)
    y = keras.ops.relu(y) + x  # a residual sum of two layers' outputs
    pooled = keras.ops.mean(y, axis=(1, 2))
    return keras.Model(inputs, keras.layers.Dense(CLASSES, name="logits")(pooled), name="operations")


def _nested() -> keras.Model:
    """A MobileNetV3Small base (its `x + 3` operations inside) under a small head."""
    base = A.MobileNetV3Small(weights=None, include_top=False, input_shape=(32, 32, 3))
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.GlobalAveragePooling2D(name="pool")(base(inputs))
    x = keras.layers.Dropout(0.2, name="drop")(x)
    return keras.Model(inputs, keras.layers.Dense(CLASSES, name="logits")(x), name="nested")


# name -> (build, the default Grad-CAM layer: the last spatial layer every path to the output
# goes through, after its activation). Keras numbers the names it makes up (`activation_17`,
# `add_38`) in build order, so those layers are named by class and by a layer they read.
ZOO = {
    "vgg16": (_application(A.VGG16, 32), "block5_conv3"),
    "resnet50": (_application(A.ResNet50, 32), "conv5_block3_out"),
    "resnet50v2": (_application(A.ResNet50V2, 32), "post_relu"),
    "mobilenetv2": (_application(A.MobileNetV2, 32), "out_relu"),
    "mobilenetv3small": (_application(A.MobileNetV3Small, 32), ("Activation", "conv_1_bn")),  # hard_swish
    "inceptionv3": (_application(A.InceptionV3, 75), "mixed10"),  # its smallest input
    "efficientnetb0": (_application(A.EfficientNetB0, 32), "top_activation"),
    "efficientnetv2b0": (_application(A.EfficientNetV2B0, 32), "top_activation"),
    "densenet121": (_application(A.DenseNet121, 32), "relu"),
    "xception": (_application(A.Xception, 71), "block14_sepconv2_act"),  # its smallest input
    "convnexttiny": (_application(A.ConvNeXtTiny, 32), ("Add", "convnext_tiny_stage_3_block_2_identity")),  # the last residual `+`
    "nasnetmobile": (_application(A.NASNetMobile, 32), ("Activation", "normal_concat_12")),
    "operations": (_operations, ("Add", "conv1")),  # the residual `+`, not conv2 inside it
    "nested": (_nested, ("Activation", "MobileNetV3Small/conv_1_bn")),
}


@pytest.fixture(scope="module")
def zoo_app(tmp_path_factory):
    """One app for the whole zoo; each family's fixture adds its model, then takes it away."""
    folder = tmp_path_factory.mktemp("zoo")
    registry = ModelRegistry({})
    app = create_app(Settings(models_dir=folder, cache_dir=folder / "cache"), registry=registry)
    with TestClient(app) as client:
        yield registry, client


@pytest.fixture(scope="module", params=list(ZOO))
def family(request, zoo_app):
    registry, client = zoo_app
    name = request.param
    keras.utils.set_random_seed(0)
    model = ZOO[name][0]()
    card = ModelCard(id=name, name=name, input_range=(0.0, 255.0))
    registry.add(serve_model(model, card, Path(f"memory/{name}.keras"), f"memory-{name}"))
    side = model.inputs[0].shape[1]
    x = np.random.default_rng(1).uniform(0, 1, (side, side, 3)).astype("float32")
    yield name, model, client, x
    registry.remove(name)


def keras_layer(model: keras.Model, name: str):
    """The Keras layer a served name ("base/inner" for a nested model's layer) stands for."""
    layer = model
    for part in name.split("/"):
        layer = layer.get_layer(part)
    return layer


def _is_layer(model: keras.Model, name: str) -> bool:
    try:
        keras_layer(model, name)
    except ValueError:  # an operation node (`x + 3`): no layer of that name
        return False
    return True


def ok(response, what: str):
    assert response.status_code == 200, (what, response.status_code, response.text[:500])
    return response.json()


def test_detail_lists_every_layer_with_its_parameters(family):
    name, model, client, _ = family
    detail = ok(client.get(f"/api/models/{name}"), "detail")
    assert detail["parameters"] == model.count_params()
    layers = detail["layers"]
    top = [layer.name for layer in model.layers if not isinstance(layer, keras.layers.InputLayer)]
    assert set(top) <= {layer["name"] for layer in layers}
    for layer in layers:
        if not layer["is_container"] and _is_layer(model, layer["name"]):
            assert layer["parameters"] == keras_layer(model, layer["name"]).count_params(), layer["name"]
    # the leaves' parameters add up to the model's (no layer is missed, none counted twice)
    assert sum(layer["parameters"] for layer in layers if not layer["is_container"]) == model.count_params()


def test_weights_of_every_layer_equal_keras(family):
    name, model, client, _ = family
    layers = ok(client.get(f"/api/models/{name}"), "detail")["layers"]
    weighted = [layer["name"] for layer in layers if layer["parameters"] and not layer["is_container"]]
    assert weighted
    for layer_name in weighted:
        body = ok(client.get(f"/api/models/{name}/layers/{layer_name}/weights"), layer_name)
        expected = keras_layer(model, layer_name).get_weights()
        got = [arr(value) for value in body["variables"].values()]
        assert len(got) == len(expected), layer_name
        for value, reference in zip(got, expected):
            np.testing.assert_array_equal(value, reference, err_msg=layer_name)
    # a layer or operation without weights is a 422 that names those with weights, never a 500
    for layer in [layer for layer in layers if not layer["parameters"] and not layer["is_container"]][:3]:
        response = client.get(f"/api/models/{name}/layers/{layer['name']}/weights")
        assert response.status_code == 422 and weighted[0] in response.json()["detail"], response.text[:300]


def test_activations_of_every_layer_some_equal_keras(family):
    name, model, client, x = family
    detail = ok(client.get(f"/api/models/{name}"), "detail")
    body = ok(client.post(f"/api/models/{name}/activations", json={"pixels": x.tolist()}), "activations")
    served = {layer["name"]: arr(layer["activations"]) for layer in body["layers"]}
    assert list(served) == [layer["name"] for layer in detail["layers"]]
    for layer in detail["layers"]:
        assert served[layer["name"]].shape == tuple(layer["output_shape"]), layer["name"]
        assert np.isfinite(served[layer["name"]]).all(), layer["name"]
    # a few layers spread through the network (and the output) against Keras's own; a nested
    # model's own layers against the nested model (it reads the model's input here)
    reads_input = {layer["name"] for layer in detail["layers"] if layer["is_container"] and layer["inbound"] == ["input"]}
    for owner in [model, *(layer for layer in model.layers if isinstance(layer, keras.Model) and layer.name in reads_input)]:
        prefix = "" if owner is model else owner.name + "/"
        own = [layer for layer in owner.layers[1:] if not isinstance(layer, keras.Model) and prefix + layer.name in served]
        sample = [own[i] for i in sorted({int(i) for i in np.linspace(0, len(own) - 1, 6)})]
        reference = keras.Model(owner.inputs, [layer.output for layer in sample])(x[None] * 255.0, training=False)
        for layer, expected in zip(sample, keras.tree.flatten(reference)):
            expected = keras.ops.convert_to_numpy(expected)[0]
            scale = max(1.0, float(np.abs(expected).max()))
            np.testing.assert_allclose(
                served[prefix + layer.name], expected, rtol=1e-4, atol=1e-4 * scale, err_msg=f"{name}/{prefix}{layer.name}"
            )


# What makes a method's cost grows with the model (channels scored, masks, samples, steps,
# occluded positions): the applications get fewer of each, the code path is the same; the two
# small models get every default.
FEWER = {"scorecam": {"max_channels": 8}, "rise": {"masks": 32}, "smoothgrad": {"samples": 3},
         "integrated_gradients": {"steps": 4}}
ALL_DEFAULTS = ("operations", "nested")


def test_every_explanation_method_answers(family):
    name, model, client, x = family
    side = model.inputs[0].shape[1]
    for method in ok(client.get("/api/methods"), "methods")["methods"]:
        options = {} if name in ALL_DEFAULTS else FEWER.get(method["name"], {"patch": side // 4} if method["name"] == "occlusion" else {})
        response = client.post(f"/api/models/{name}/{method['endpoint']}", params={**method["params"], **options}, json={"pixels": x.tolist()})
        body = ok(response, method["name"])
        assert body.get("method", method["endpoint"]) == method["name"]  # occlusion's answer names no method
        assert np.isfinite(arr(body["heatmap"])).all(), method["name"]


def test_a_filter_pattern_and_the_lessons_answer(family):
    name, model, client, x = family
    base = f"/api/models/{name}"
    layer = ok(client.get(base), "detail")["default_gradcam_layer"]
    pattern = ok(client.get(f"{base}/layers/{layer}/filters/0?steps=4"), "filter pattern")
    assert np.isfinite(arr(pattern["pattern"])).all()
    summary = ok(client.get(f"{base}/summary"), "summary")
    assert summary["total"] == model.count_params()
    pixels = {"pixels": x.tolist()}
    ok(client.get(f"{base}/kernel/presets"), "kernel presets")
    ok(client.post(f"{base}/kernel?preset=sobel_x", json=pixels), "kernel")
    ok(client.post(f"{base}/pool", json=pixels), "pool")
    sweep = ok(client.post(f"{base}/sweep?transform=rotate&start=0&stop=20&steps=3", json=pixels), "sweep")
    assert len(sweep["probabilities"]) == 3


def test_no_other_endpoint_answers_5xx(family):
    """The rest of the API on this model: each answers, or refuses with a 4xx that says why."""
    name, _, client, x = family
    base = f"/api/models/{name}"
    layer = ok(client.get(base), "detail")["default_gradcam_layer"]
    pixels = {"pixels": x.tolist()}
    for method, path, body in (
        ("GET", "/browser", None), ("GET", "/browser/weights", None), ("POST", "/predict", pixels),
        ("POST", "/activations?max_side=4&dtype=uint8", pixels), ("GET", f"/layers/{layer}/units/0/top", None),
        ("POST", "/neighbors", pixels), ("GET", "/embedding", None), ("POST", "/read", pixels),
    ):
        response = client.request(method, base + path, json=body)
        assert response.status_code < 500, (path, response.status_code, response.text[:300])


def test_gradcam_default_layer_is_the_network_view(family):
    name, _, client, _ = family
    expected = ZOO[name][1]
    detail = ok(client.get(f"/api/models/{name}"), "detail")
    chosen = detail["default_gradcam_layer"]
    if isinstance(expected, str):
        assert chosen == expected
    else:
        layer = next(layer for layer in detail["layers"] if layer["name"] == chosen)
        assert (layer["class_name"], expected[1] in layer["inbound"]) == (expected[0], True), layer
    gradcam = ok(client.post(f"/api/models/{name}/gradcam", json={"pixels": np.zeros(detail["input_shape"]).tolist()}), "gradcam")
    assert gradcam["layer"] == chosen
