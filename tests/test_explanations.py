"""Grad-CAM, Grad-CAM++, occlusion and saliency against references written here from the papers."""

import base64
import io
import shutil

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image
from scipy.stats import spearmanr

from tests import tiny_models
from tests.conftest import MODELS_DIR, arr, assert_error, client_for

URL = "/api/models/{}/{}"


def post(client, model_id, endpoint, pixels, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    response = client.post(URL.format(model_id, endpoint) + ("?" + query if query else ""), json={"pixels": pixels.tolist()})
    assert response.status_code == 200, response.text
    return response.json()


def sequential_logit_and_map(model, x, layer_name, class_index):
    """Reference: call the layers one by one under a tape; the logit is the last Dense without softmax."""
    x = tf.convert_to_tensor(x[None], tf.float32)
    with tf.GradientTape() as tape:
        tensor, feature_map = x, None
        for layer in model.layers[:-1]:
            tensor = layer(tensor, training=False)
            if layer.name == layer_name:
                feature_map = tensor
        last = model.layers[-1]
        logit = (tf.matmul(tensor, last.kernel) + last.bias)[0, class_index]
    return feature_map[0].numpy(), tape.gradient(logit, feature_map)[0].numpy()


def reference_gradcam(feature_map, gradient):
    weights = gradient.mean(axis=(0, 1))  # Selvaraju et al. eq. 1
    return np.maximum((feature_map * weights).sum(axis=-1), 0)  # eq. 2


def correlation(a, b):
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


@pytest.mark.parametrize("layer", ["conv3", "conv2", "pool1"])
def test_gradcam_matches_the_paper(client, keras_models, mnist, layer):
    model = keras_models["mnist-convnet"]
    x = (mnist[0][0] / 255.0).astype("float32")[..., None]
    top = int(np.argmax(model.predict(x[None], verbose=0)))
    for class_index in (top, (top + 3) % 10):
        body = post(client, "mnist-convnet", "gradcam", x[..., 0], class_index=class_index, layer=layer)
        expected = reference_gradcam(*sequential_logit_and_map(model, x, layer, class_index))
        raw = arr(body["raw"])
        assert raw.shape == expected.shape and body["layer"] == layer and body["class_index"] == class_index
        if expected.max() > 0:
            assert correlation(raw, expected) >= 0.99
        np.testing.assert_allclose(raw, expected, rtol=1e-4, atol=1e-5 * max(1.0, float(expected.max())))
        heatmap = arr(body["heatmap"])
        assert heatmap.shape == (28, 28) and heatmap.min() >= 0 and heatmap.max() <= 1 + 1e-6


def test_gradcam_equals_cam_for_global_average_pooling(tmp_path):
    """For conv -> GAP -> Dense, Grad-CAM is the class activation map (Zhou et al. 2016) / (h * w)."""
    keras.utils.set_random_seed(4)
    inputs = keras.Input((12, 12, 1))
    features = keras.layers.Conv2D(5, 3, activation="relu", name="features")(inputs)
    pooled = keras.layers.GlobalAveragePooling2D()(features)
    outputs = keras.layers.Dense(3, activation="softmax", name="classes")(pooled)
    model = keras.Model(inputs, outputs)
    model.save(tmp_path / "cam.keras")
    x = np.random.default_rng(0).uniform(0, 1, (12, 12)).astype("float32")
    feature_map = keras.Model(inputs, features)(x[None, ..., None])[0].numpy()
    kernel = model.get_layer("classes").kernel.numpy()
    with client_for(tmp_path) as cam_client:
        for class_index in range(3):
            raw = arr(post(cam_client, "cam", "gradcam", x, class_index=class_index)["raw"])
            cam = np.maximum(feature_map @ kernel[:, class_index], 0)
            np.testing.assert_allclose(raw * 100, cam, rtol=1e-4, atol=1e-6)


def test_gradcam_inside_a_nested_base(tmp_path):
    built = tiny_models.save_all(tmp_path)
    model = built["nested-rgb"]
    base = model.get_layer("base")
    x = np.random.default_rng(2).uniform(0, 1, (64, 48, 3)).astype("float32")
    with tf.GradientTape() as tape:
        feature_map = base(x[None], training=False)
        tensor = feature_map
        for name in ("gap", "drop", "logits"):
            tensor = model.get_layer(name)(tensor, training=False)
        score = tensor[0, 2]
    expected = reference_gradcam(feature_map[0].numpy(), tape.gradient(score, feature_map)[0].numpy())
    with client_for(tmp_path) as nested_client:
        body = post(nested_client, "nested-rgb", "gradcam", x, class_index=2)
        assert body["layer"] == "base/conv_b"
        assert correlation(arr(body["raw"]), expected) >= 0.99
        inner = post(nested_client, "nested-rgb", "gradcam", x, class_index=2, layer="base/conv_a")
        assert arr(inner["raw"]).shape == (62, 46)


def test_gradcam_plus_plus_matches_the_paper(client, keras_models, mnist):
    model = keras_models["mnist-convnet"]
    x = (mnist[0][1] / 255.0).astype("float32")[..., None]
    feature_map, g = sequential_logit_and_map(model, x, "conv2", 2)
    g, a = g.astype(np.float64), feature_map.astype(np.float64)
    denominator = 2 * g**2 + a.sum(axis=(0, 1)) * g**3  # Chattopadhyay et al. eq. 19
    alpha = np.divide(g**2, denominator, out=np.zeros_like(g), where=denominator != 0)
    weights = (alpha * np.maximum(g, 0)).sum(axis=(0, 1))
    expected = np.maximum((a * weights).sum(axis=-1), 0)
    body = post(client, "mnist-convnet", "gradcam", x[..., 0], class_index=2, layer="conv2", method="gradcam%2B%2B")
    assert body["method"] == "gradcam++"
    assert correlation(arr(body["raw"]), expected) >= 0.99


def brute_force_occlusion(model, x, class_index, patch, stride, fill):
    """One Keras forward pass per patch position, straight from the contract's definition."""
    height, width, _ = x.shape
    p = model.predict(x[None], verbose=0)[0, class_index]
    rows, cols = range(0, height - patch + 1, stride), range(0, width - patch + 1, stride)
    grid = np.zeros((len(rows), len(cols)))
    total, count = np.zeros((height, width)), np.zeros((height, width))
    for i, y in enumerate(rows):
        for j, xx in enumerate(cols):
            occluded = x.copy()
            occluded[y : y + patch, xx : xx + patch, :] = fill
            grid[i, j] = p - model(occluded[None], training=False)[0, class_index].numpy()
            total[y : y + patch, xx : xx + patch] += grid[i, j]
            count[y : y + patch, xx : xx + patch] += 1
    return grid, np.where(count > 0, total / np.maximum(count, 1), 0)


@pytest.mark.parametrize("patch,stride,fill", [(4, 2, 0.0), (5, 3, 0.5), (7, 7, 1.0)])
def test_occlusion_equals_brute_force(client, keras_models, mnist, patch, stride, fill):
    model = keras_models["mnist-lenet"]
    x = (mnist[0][4] / 255.0).astype("float32")[..., None]
    body = post(client, "mnist-lenet", "occlusion", x[..., 0], class_index=4, patch=patch, stride=stride, fill=fill)
    grid, heatmap = brute_force_occlusion(model, x, 4, patch, stride, fill)
    np.testing.assert_allclose(arr(body["grid"]), grid, atol=1e-5)
    np.testing.assert_allclose(arr(body["heatmap"]), heatmap, atol=1e-5)
    assert (body["patch"], body["stride"], body["fill"]) == (patch, stride, fill)


def test_occlusion_defaults(client, mnist):
    body = post(client, "mnist-convnet", "occlusion", mnist[0][0] / 255.0)
    assert (body["patch"], body["stride"], body["fill"]) == (4, 2, 0.0)
    assert arr(body["grid"]).shape == (13, 13) and body["positions"] == 169


def test_occlusion_finds_the_only_region_a_model_looks_at(tmp_path):
    """A model whose score reads pixels [8:12, 16:20] only: occlusion is non-zero exactly there."""
    inputs = keras.Input((24, 24, 1))
    dense = keras.layers.Dense(2, name="scores")
    outputs = keras.layers.Softmax()(dense(keras.layers.Flatten()(inputs)))
    model = keras.Model(inputs, outputs)
    kernel = np.zeros((576, 2), np.float32)
    mask = np.zeros((24, 24), bool)
    mask[8:12, 16:20] = True
    kernel[mask.ravel(), 0] = 1.0
    dense.set_weights([kernel, np.zeros(2, np.float32)])
    model.save(tmp_path / "region.keras")
    with client_for(tmp_path) as region_client:
        body = post(region_client, "region", "occlusion", np.ones((24, 24), np.float32), class_index=0, patch=4, stride=4)
    grid = arr(body["grid"])
    assert grid[2, 4] > 0.4
    grid[2, 4] = 0
    np.testing.assert_allclose(grid, 0, atol=1e-6)
    heatmap = arr(body["heatmap"])
    assert (heatmap[mask] > 0.4).all() and np.abs(heatmap[~mask]).max() < 1e-6


def linear_model(tmp_path):
    """S = x . w + b per class, no softmax: saliency is |w| and IG is (x - x') * w exactly."""
    inputs = keras.Input((6, 5, 3))
    dense = keras.layers.Dense(3, name="scores")
    model = keras.Model(inputs, dense(keras.layers.Flatten()(inputs)))
    weights = np.random.default_rng(9).normal(size=(90, 3)).astype("float32")
    dense.set_weights([weights, np.array([0.1, -0.2, 0.3], np.float32)])
    model.save(tmp_path / "linear.keras")
    return weights.reshape(6, 5, 3, 3)


def test_saliency_and_integrated_gradients_on_a_linear_model(tmp_path):
    w = linear_model(tmp_path)
    x = np.random.default_rng(1).uniform(0, 1, (6, 5, 3)).astype("float32")
    with client_for(tmp_path) as linear_client:
        gradient = post(linear_client, "linear", "saliency", x, class_index=1)
        np.testing.assert_allclose(arr(gradient["raw"]), np.abs(w[..., 1]).max(axis=-1), rtol=1e-5)
        signed = post(linear_client, "linear", "saliency", x, class_index=1, absolute="false")
        np.testing.assert_allclose(arr(signed["raw"]), w[..., 1].sum(axis=-1), rtol=1e-5, atol=1e-6)
        ig = post(linear_client, "linear", "saliency", x, class_index=1, method="integrated_gradients", steps=8, baseline=0.5)
        np.testing.assert_allclose(arr(ig["raw"]), (x - 0.5) * w[..., 1], rtol=1e-4, atol=1e-6)
        smooth = post(linear_client, "linear", "saliency", x, class_index=1, method="smoothgrad", samples=7)
        np.testing.assert_allclose(arr(smooth["raw"]), np.abs(w[..., 1]).max(axis=-1), rtol=1e-5)


def test_integrated_gradients_completeness(client, keras_models, mnist):
    model = keras_models["mnist-convnet"]
    for index in (0, 1, 2):
        x = (mnist[0][index] / 255.0).astype("float32")
        body = post(client, "mnist-convnet", "saliency", x, method="integrated_gradients")
        last = model.layers[-1]
        penultimate = keras.Sequential(model.layers[:-1])
        score = lambda image: float((penultimate(image[None, ..., None]) @ last.kernel + last.bias)[0, body["class_index"]])
        difference = score(x) - score(np.zeros_like(x))
        total = float(arr(body["raw"]).sum())
        assert abs(total - difference) <= 0.01 * abs(difference), (total, difference)
        assert body["score_difference"] == pytest.approx(difference, rel=1e-4)


def test_smoothgrad_is_seeded_and_reduces_to_the_gradient_without_noise(client, mnist):
    x = mnist[0][5] / 255.0
    a = post(client, "mnist-convnet", "saliency", x, method="smoothgrad", samples=20, seed=3)
    b = post(client, "mnist-convnet", "saliency", x, method="smoothgrad", samples=20, seed=3)
    c = post(client, "mnist-convnet", "saliency", x, method="smoothgrad", samples=20, seed=4)
    assert a["raw"] == b["raw"] and a["raw"] != c["raw"]
    quiet = post(client, "mnist-convnet", "saliency", x, method="smoothgrad", samples=3, noise_level=0)
    plain = post(client, "mnist-convnet", "saliency", x)
    np.testing.assert_allclose(arr(quiet["raw"]), arr(plain["raw"]), rtol=1e-5, atol=1e-7)


def test_sanity_check_randomised_top_layers_change_the_maps(tmp_path, mnist):
    """Adebayo et al. 2018: maps that survive re-initialising the top layers explain nothing.

    Grad-CAM and the signed gradient must decorrelate. (The absolute-value gradient keeps a rank
    correlation near 0.75 here, as the paper observes for absolute maps: it follows the input's edges.)
    """
    shutil.copy(MODELS_DIR / "mnist-convnet.keras", tmp_path / "original.keras")
    model = keras.saving.load_model(MODELS_DIR / "mnist-convnet.keras", compile=False)
    rng = np.random.default_rng(0)
    for name in ("output", "dense1", "conv3"):
        layer = model.get_layer(name)
        layer.set_weights([rng.normal(0, np.std(w) + 1e-3, w.shape).astype("float32") for w in layer.get_weights()])
    model.save(tmp_path / "randomised.keras")
    correlations = {"gradcam": [], "saliency": []}
    with client_for(tmp_path) as sanity_client:
        for index in range(6):
            x = mnist[0][index] / 255.0
            for endpoint in correlations:
                params = {"layer": "conv2"} if endpoint == "gradcam" else {"absolute": "false"}
                a = post(sanity_client, "original", endpoint, x, class_index=int(mnist[1][index]), **params)
                b = post(sanity_client, "randomised", endpoint, x, class_index=int(mnist[1][index]), **params)
                correlations[endpoint].append(spearmanr(arr(a["raw"]).ravel(), arr(b["raw"]).ravel())[0])
    for endpoint, values in correlations.items():
        assert np.median(np.nan_to_num(values)) < 0.5, (endpoint, values)


def test_overlay_is_a_png_over_the_input(client, mnist):
    body = post(client, "mnist-convnet", "gradcam", mnist[0][0] / 255.0)
    assert body["overlay"].startswith("data:image/png;base64,")
    image = Image.open(io.BytesIO(base64.b64decode(body["overlay"].split(",", 1)[1])))
    assert image.format == "PNG" and image.size == (224, 224) and image.mode == "RGB"


def test_progress_stream_ends_with_the_same_result(client, mnist):
    x = (mnist[0][0] / 255.0).tolist()
    url = URL.format("mnist-convnet", "occlusion") + "?patch=2&stride=1"
    plain = client.post(url, json={"pixels": x}).json()
    with client.stream("POST", url + "&stream=true", json={"pixels": x}) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        events, data = [], []
        for line in response.iter_lines():
            if line.startswith("event: "):
                events.append(line[7:])
            elif line.startswith("data: "):
                data.append(line[6:])
    import json

    assert events[-1] == "result" and set(events[:-1]) == {"progress"} and len(events) >= 3
    progress = [json.loads(d) for d in data[:-1]]
    assert progress[-1] == {"done": 729, "total": 729}
    assert json.loads(data[-1])["grid"] == plain["grid"]


PIXELS = {"json": {"pixels": np.zeros((28, 28)).tolist()}}


@pytest.mark.parametrize(
    "endpoint,query,status",
    [
        ("gradcam", "class_index=10", 422),
        ("gradcam", "class_index=-1", 422),
        ("gradcam", "class_index=two", 422),
        ("gradcam", "layer=dense1", 422),
        ("gradcam", "layer=flatten", 422),
        ("gradcam", "layer=nope", 404),
        ("gradcam", "method=cam", 422),
        ("occlusion", "patch=0", 422),
        ("occlusion", "patch=29", 422),
        ("occlusion", "stride=0", 422),
        ("occlusion", "fill=nan", 422),
        ("occlusion", "class_index=99", 422),
        ("saliency", "method=deconvnet", 422),
        ("saliency", "method=smoothgrad&samples=0", 422),
        ("saliency", "method=smoothgrad&samples=100000", 422),
        ("saliency", "method=smoothgrad&noise_level=3", 422),
        ("saliency", "method=integrated_gradients&steps=0", 422),
        ("saliency", "method=integrated_gradients&steps=100000", 422),
        ("saliency", "method=integrated_gradients&baseline=2", 422),
    ],
)
def test_bad_options(client, endpoint, query, status):
    response = client.post(URL.format("mnist-convnet", endpoint) + "?" + query, **PIXELS)
    assert_error(response, status)
    assert client.post(URL.format("mnist-convnet", endpoint), **PIXELS).status_code == 200


@pytest.mark.parametrize("endpoint", ["gradcam", "occlusion", "saliency"])
def test_bad_bodies_on_explanations(client, endpoint):
    from tests.bad_inputs import bad_bodies

    for case, kwargs, status in bad_bodies():
        response = client.post(URL.format("mnist-convnet", endpoint), **kwargs)
        assert response.status_code == status, (case, response.text)
