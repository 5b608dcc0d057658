"""Every classification head answered by what it is, with the score each method explains.

The course's cats-vs-dogs convnet (DLwP 5.2: sigmoid, saved as .h5) is trained a few steps on a
synthetic task so its outputs are not saturated; references are computed here from Keras directly.
"""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import arr, assert_error, client_for

URL = "/api/models/{}/{}"


def cats_vs_dogs(side: int = 150) -> keras.Model:
    """The course's architecture (Chollet, DLwP 1st ed., listing 5.5)."""
    layers = keras.layers
    return keras.Sequential(
        [
            keras.Input((side, side, 3)),
            layers.Conv2D(32, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(64, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(128, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Conv2D(128, 3, activation="relu"),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(512, activation="relu"),
            layers.Dense(1, activation="sigmoid"),
        ]
    )


def synthetic_pictures(count: int, side: int, seed: int):
    """Class 1: a bright square in the left half; class 0: in the right half."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 0.3, (count, side, side, 3)).astype("float32")
    y = rng.integers(0, 2, count)
    for image, label in zip(x, y):
        top = rng.integers(0, side - side // 3)
        left = rng.integers(0, side // 2 - side // 3) + (0 if label else side // 2)
        image[top : top + side // 3, left : left + side // 3] += 0.6
    return x, y.astype("float32")


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    keras.utils.set_random_seed(0)
    model = cats_vs_dogs()
    model.compile(optimizer=keras.optimizers.RMSprop(1e-4), loss="binary_crossentropy")
    x, y = synthetic_pictures(64, 150, 1)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)
    folder = tmp_path_factory.mktemp("course")
    model.save(folder / "cats-dogs.h5")  # the course saves .h5
    (folder / "cats-dogs.json").write_text(json.dumps({"classes": ["cat", "dog"]}))
    model = keras.saving.load_model(folder / "cats-dogs.h5", compile=False)
    pictures, _ = synthetic_pictures(4, 150, 2)
    with client_for(folder) as client:
        yield client, model, pictures


def pre_sigmoid(model, x, layer_index):
    """(feature map of layer `layer_index`, z, d z / d map) straight from the Keras layers."""
    with tf.GradientTape() as tape:
        tensor, feature_map = tf.convert_to_tensor(x[None]), None
        for i, layer in enumerate(model.layers[:-1]):
            tensor = layer(tensor, training=False)
            if i == layer_index:
                feature_map = tensor
        last = model.layers[-1]
        z = (tf.matmul(tensor, last.kernel) + last.bias)[0, 0]
    return feature_map[0].numpy(), float(z), tape.gradient(z, feature_map)[0].numpy()


def post(client, endpoint, x, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    response = client.post(URL.format("cats-dogs", endpoint) + ("?" + query if query else ""), json={"pixels": x.tolist()})
    assert response.status_code == 200, response.text
    return response.json()


def test_one_sigmoid_unit_is_two_classes(course):
    client, model, pictures = course
    detail = client.get("/api/models/cats-dogs").json()
    assert detail["head"] == "sigmoid" and detail["classes"] == ["cat", "dog"]
    last_conv = [layer.name for layer in model.layers if isinstance(layer, keras.layers.Conv2D)][-1]
    assert detail["default_gradcam_layer"] == last_conv  # the last convolution, not the pool after it
    p = model.predict(pictures, verbose=0)[:, 0]
    assert 0.05 < p.min() and p.max() < 0.95, "trained a little: not saturated"
    for picture, expected in zip(pictures, p):
        probabilities = post(client, "predict", picture)["prediction"]["probabilities"]
        np.testing.assert_allclose(probabilities, [1 - expected, expected], rtol=1e-5, atol=1e-6)
    assert_error(client.post(URL.format("cats-dogs", "gradcam") + "?class_index=2", json={"pixels": pictures[0].tolist()}), 422)


@pytest.mark.parametrize("class_index,sign", [(0, -1.0), (1, 1.0)])
def test_gradcam_explains_z_for_dog_and_minus_z_for_cat(course, class_index, sign):
    client, model, pictures = course
    feature_map, _, gradient = pre_sigmoid(model, pictures[0], 6)  # the fourth, last, convolution
    weights = (sign * gradient).mean(axis=(0, 1))
    expected = np.maximum((feature_map * weights).sum(axis=-1), 0)
    body = post(client, "gradcam", pictures[0], class_index=class_index)
    assert body["layer"] == model.layers[6].name
    np.testing.assert_allclose(arr(body["raw"]), expected, rtol=1e-4, atol=1e-6 * max(1.0, float(expected.max())))


def test_occlusion_measures_the_chosen_class(course):
    client, model, pictures = course
    dog = post(client, "occlusion", pictures[1], class_index=1, patch=50, stride=50)
    cat = post(client, "occlusion", pictures[1], class_index=0, patch=50, stride=50)
    grid = arr(dog["grid"])
    assert np.abs(grid).max() > 1e-3, "occluding changes P(dog)"
    np.testing.assert_allclose(arr(cat["grid"]), -grid, atol=1e-5)  # P(cat) = 1 - P(dog)


def test_integrated_gradients_are_complete_on_z(course):
    client, model, pictures = course
    _, z, _ = pre_sigmoid(model, pictures[2], 6)
    _, z0, _ = pre_sigmoid(model, np.zeros_like(pictures[2]), 6)
    for class_index, sign in ((1, 1.0), (0, -1.0)):
        body = post(client, "saliency", pictures[2], method="integrated_gradients", class_index=class_index, steps=128)
        total = float(arr(body["raw"]).sum())
        assert abs(total - sign * (z - z0)) <= 0.02 * abs(z - z0), (total, z - z0)


def linear_multilabel(folder):
    """Flatten -> Dense(3, sigmoid): independent labels whose logits are x . w_k + b_k."""
    inputs = keras.Input((4, 4, 1))
    dense = keras.layers.Dense(3, activation="sigmoid", name="labels")
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    w = np.random.default_rng(5).normal(size=(16, 3)).astype("float32")
    dense.set_weights([w, np.array([2.0, -2.0, 0.5], np.float32)])
    model.save(folder / "labels.keras")
    return model, w.reshape(4, 4, 1, 3)


def test_several_sigmoid_units_are_independent_labels(tmp_path):
    model, w = linear_multilabel(tmp_path)
    x = np.random.default_rng(6).uniform(0, 1, (4, 4, 1)).astype("float32")
    with client_for(tmp_path) as client:
        assert client.get("/api/models/labels").json()["head"] == "multilabel"
        prediction = client.post("/api/models/labels/predict", json={"pixels": x.tolist()}).json()["prediction"]
        sigmoids = model.predict(x[None], verbose=0)[0]
        np.testing.assert_allclose(prediction["probabilities"], sigmoids, rtol=1e-5)
        assert abs(sum(prediction["probabilities"]) - 1) > 1e-3, "never a softmax"
        assert [p["index"] for p in prediction["positive"]] == [int(i) for i in np.argsort(-sigmoids) if sigmoids[i] > 0.5]
        for k in range(3):  # the score of label k is its logit: the gradient is w_k, whatever the sigmoid does
            body = client.post(f"/api/models/labels/saliency?class_index={k}&absolute=false", json={"pixels": x.tolist()}).json()
            np.testing.assert_allclose(arr(body["raw"]), w[..., 0, k], rtol=1e-5, atol=1e-6)


def test_a_model_for_any_size_is_served_at_its_card_size_or_224(tmp_path):
    keras.utils.set_random_seed(3)
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(name="gap")(x)
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="out")(x))
    model.save(tmp_path / "anysize.keras")
    model.save(tmp_path / "sized.keras")
    (tmp_path / "sized.json").write_text(json.dumps({"input_size": [40, 60]}))
    with client_for(tmp_path) as client:
        default = client.get("/api/models/anysize").json()
        sized = client.get("/api/models/sized").json()
        assert default["input_shape"] == [224, 224, 3] and default["input_size_from"] == "default"
        assert sized["input_shape"] == [40, 60, 3] and sized["input_size_from"] == "card"
        x = np.random.default_rng(0).uniform(0, 1, (40, 60, 3)).astype("float32")
        body = client.post("/api/models/sized/activations", json={"pixels": x.tolist()}).json()
        conv = keras.Model(inputs, model.get_layer("conv").output)(x[None])[0].numpy()
        np.testing.assert_allclose(arr(body["layers"][0]["activations"]), conv, rtol=1e-5, atol=1e-6)


def test_rescaling_and_augmentation_layers_are_shown_inactive(tmp_path):
    keras.utils.set_random_seed(4)
    layers = keras.layers
    model = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            layers.Rescaling(1 / 255.0, name="rescale"),
            layers.RandomFlip("horizontal", name="flip"),
            layers.RandomRotation(0.1, name="rotate"),
            layers.Conv2D(4, 3, activation="relu", name="conv"),
            layers.BatchNormalization(name="bn"),
            layers.GlobalAveragePooling2D(name="gap"),
            layers.Dropout(0.5, name="drop"),
            layers.Dense(3, activation="softmax", name="out"),
        ]
    )
    model.save(tmp_path / "augmented.keras")
    (tmp_path / "augmented.json").write_text(json.dumps({"input_range": [0, 255]}))
    x = np.random.default_rng(1).uniform(0, 1, (32, 32, 3)).astype("float32")
    with client_for(tmp_path) as client:
        layers_info = {layer["name"]: layer for layer in client.get("/api/models/augmented").json()["layers"]}
        assert [n for n, layer in layers_info.items() if not layer["active_at_inference"]] == ["flip", "rotate", "drop"]
        body = client.post("/api/models/augmented/activations", json={"pixels": x.tolist()}).json()
    scaled = x[None] * 255.0
    tensor = scaled
    for layer in model.layers:
        tensor = layer(tensor, training=False)
        got = arr(next(entry for entry in body["layers"] if entry["name"] == layer.name)["activations"])
        np.testing.assert_allclose(got, keras.ops.convert_to_numpy(tensor)[0], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(arr(body["input"]), scaled[0], rtol=1e-6)


def test_the_course_vgg16_under_a_small_head_at_224(tmp_path):
    """DLwP 5.3: VGG16's base as a layer under Flatten, Dense(256), Dense(1, sigmoid), at 224x224.
    The all-layer overview (max_side=16, uint8) must stay under 4 MB as sent."""
    keras.utils.set_random_seed(5)
    base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(224, 224, 3))
    model = keras.Sequential(
        [keras.Input((224, 224, 3)), base, keras.layers.Flatten(), keras.layers.Dense(256, activation="relu"),
         keras.layers.Dense(1, activation="sigmoid")]
    )
    model.save(tmp_path / "vgg-head.keras")
    (tmp_path / "vgg-head.json").write_text(json.dumps({"input_range": [0, 255]}))
    x = np.random.default_rng(2).uniform(0, 1, (224, 224, 3)).astype("float32")
    with client_for(tmp_path) as client:
        detail = client.get("/api/models/vgg-head").json()
        assert detail["head"] == "sigmoid" and detail["default_gradcam_layer"] == "vgg16/block5_conv3"
        response = client.post("/api/models/vgg-head/activations?max_side=16&dtype=uint8", json={"pixels": x.tolist()})
        assert response.status_code == 200 and len(response.content) <= 4_000_000, len(response.content)
        layers = {layer["name"]: layer for layer in response.json()["layers"]}
        assert layers["vgg16/block1_conv1"]["shape"] == [16, 16, 64] and layers["vgg16/block1_conv1"]["full_shape"] == [224, 224, 64]
        p = float(model.predict(x[None] * 255.0, verbose=0)[0, 0])
        np.testing.assert_allclose(response.json()["prediction"]["probabilities"], [1 - p, p], rtol=1e-5, atol=1e-6)
        # area averaging: 224 / 16 = 14, so each cell is the mean of a 14x14 block
        full = keras.Model(base.inputs, base.get_layer("block1_conv1").output)(x[None] * 255.0)[0].numpy()
        means = full.reshape(16, 14, 16, 14, 64).mean(axis=(1, 3))
        got = arr(layers["vgg16/block1_conv1"]["activations"])
        step = layers["vgg16/block1_conv1"]["activations"]["scale"]
        np.testing.assert_allclose(got, means, atol=step * 0.51 + 1e-5)
