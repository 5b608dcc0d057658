"""Filter patterns: selective, strong, deterministic, cached; dead units still move."""

import keras
import numpy as np
import pytest

from app.cache import ArrayCache
from tests.conftest import arr, assert_error, client_for


@pytest.fixture(scope="module")
def atlases(client):
    """conv2 and conv3 atlases of the seed model, through the API (and its cache)."""
    return {layer: client.get(f"/api/models/mnist-convnet/layers/{layer}/filters").json() for layer in ("conv2", "conv3")}


@pytest.mark.parametrize("layer", ["conv2", "conv3"])
def test_patterns_are_selective_and_strong(atlases, keras_models, layer):
    model = keras_models["mnist-convnet"]
    probe = keras.Sequential(model.layers[: [l.name for l in model.layers].index(layer) + 1])
    patterns = arr(atlases[layer]["patterns"])[:8]
    # response[i, j]: mean activation of channel j for pattern i, computed by Keras itself
    response = keras.ops.convert_to_numpy(probe(patterns)).mean(axis=(1, 2))[:, :8]
    selective = sum(int(np.argmax(response[:, j]) == j) for j in range(8))
    assert selective >= 7, response.round(3)
    random_image = np.random.default_rng(0).uniform(0, 1, (1, 28, 28, 1)).astype("float32")
    baseline = keras.ops.convert_to_numpy(probe(random_image)).mean(axis=(1, 2))[0, :8]
    ratios = np.diag(response) / np.maximum(baseline, 1e-6)
    assert np.median(ratios) >= 3, (np.diag(response), baseline)
    np.testing.assert_allclose(atlases[layer]["activations"][:8], np.diag(response), rtol=1e-4, atol=1e-6)
    assert (patterns >= 0).all() and (patterns <= 1).all()  # the model's input range


def test_single_pattern_equals_its_atlas_entry_and_is_deterministic(client, atlases, tmp_path):
    import shutil

    from tests.conftest import MODELS_DIR

    shutil.copy(MODELS_DIR / "mnist-convnet.keras", tmp_path / "mnist-convnet.keras")
    with client_for(tmp_path) as fresh:  # no atlas cached here: computed alone, twice
        first = fresh.get("/api/models/mnist-convnet/layers/conv3/filters/5").json()
        again = fresh.get("/api/models/mnist-convnet/layers/conv3/filters/5").json()
        other_seed = fresh.get("/api/models/mnist-convnet/layers/conv3/filters/5?seed=1").json()
    assert first["pattern"] == again["pattern"]
    assert first["pattern"] != other_seed["pattern"]
    np.testing.assert_allclose(arr(first["pattern"]), arr(atlases["conv3"]["patterns"])[5], atol=1e-4)
    assert first["png"].startswith("data:image/png;base64,") and first["filter"] == 5


def test_silent_channels_come_alive(tmp_path):
    """A channel that is zero after ReLU on any random start still gets a pattern that excites it."""
    inputs = keras.Input((12, 12, 1))
    conv = keras.layers.Conv2D(2, 3, activation="relu", name="conv")
    outputs = keras.layers.Dense(2, activation="softmax")(keras.layers.Flatten()(conv(inputs)))
    model = keras.Model(inputs, outputs)
    kernel = np.zeros((3, 3, 1, 2), np.float32)
    kernel[..., 0, 0] = 1.0  # channel 0 sums its 3x3 window...
    kernel[..., 0, 1] = -1.0
    conv.set_weights([kernel, np.array([-6.0, 0.0], np.float32)])  # ...minus 6: silent below 2/3 brightness
    model.save(tmp_path / "silent.keras")
    start = np.random.default_rng(0).uniform(0.4, 0.6, (1, 12, 12, 1)).astype("float32")
    assert keras.Model(inputs, conv.output)(start).numpy()[..., 0].max() == 0.0
    with client_for(tmp_path) as silent_client:
        body = silent_client.get("/api/models/silent/layers/conv/filters/0").json()
    assert body["activation"] > 1.0  # a bright patch: 9 * ~0.9 - 6
    assert arr(body["pattern"]).mean() > 0.7


def test_atlas_is_cached_on_disk(tmp_path):
    import shutil

    from tests.conftest import MODELS_DIR

    shutil.copy(MODELS_DIR / "mnist-lenet.keras", tmp_path / "mnist-lenet.keras")
    with client_for(tmp_path) as first_app:
        atlas = first_app.get("/api/models/mnist-lenet/layers/conv1/filters?steps=20").json()
    files = list((tmp_path / ".cache" / "filters").glob("*.npz"))
    assert len(files) == 1
    with np.load(files[0]) as stored:
        np.testing.assert_array_equal(stored["patterns"], arr(atlas["patterns"]))
    cache = ArrayCache(tmp_path / ".cache" / "filters")
    assert cache.get(files[0].stem) is not None


def test_atlas_progress_stream(client):
    with client.stream("GET", "/api/models/mnist-lenet/layers/conv2/filters?steps=16&stream=true") as response:
        events = [line[7:] for line in response.iter_lines() if line.startswith("event: ")]
    assert events[-1] == "result" and events.count("progress") >= 2


def test_precompute_cli(tmp_path, capsys, monkeypatch):
    import shutil

    from app.__main__ import main
    from tests.conftest import MODELS_DIR

    shutil.copy(MODELS_DIR / "mnist-lenet.keras", tmp_path / "mnist-lenet.keras")
    monkeypatch.setenv("CONVNET_VIS_CACHE_DIR", str(tmp_path / "cache"))
    main(["filters", "mnist-lenet", "--layer", "conv1", "--steps", "8", "--models-dir", str(tmp_path)])
    assert "conv1: 6 patterns" in capsys.readouterr().out
    assert len(list((tmp_path / "cache" / "filters").glob("*.npz"))) == 1


@pytest.mark.parametrize(
    "url,status",
    [
        ("conv1/filters/32", 404),
        ("conv1/filters/-1", 404),
        ("conv1/filters/x", 422),
        ("nope/filters/0", 404),
        ("flatten/filters/0", 422),
        ("conv1/filters/0?steps=0", 422),
        ("conv1/filters/0?steps=100000", 422),
        ("conv1/filters/0?size=4096", 422),
        ("conv1/filters/0?jitter=99", 422),
        ("flatten/filters", 422),
        ("conv1/filters?steps=100000", 422),
    ],
)
def test_bad_filter_requests(client, url, status):
    response = client.get(f"/api/models/mnist-convnet/layers/{url}")
    assert_error(response, status)


def _events(response) -> list[tuple[str, dict]]:
    import json

    events, name = [], None
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line[7:]
        elif line.startswith("data: "):
            events.append((name, json.loads(line[6:])))
    return events


def test_atlas_progress_shows_the_patterns_as_they_form(tmp_path):
    """A few progress events carry the atlas as it forms: valid PNGs of the result's size, each
    different from the one before, the last equal to the result's picture."""
    import base64
    import io

    import shutil

    from PIL import Image

    from tests.conftest import MODELS_DIR

    shutil.copy(MODELS_DIR / "mnist-lenet.keras", tmp_path / "mnist-lenet.keras")
    with client_for(tmp_path) as fresh:
        with fresh.stream("GET", "/api/models/mnist-lenet/layers/conv2/filters?steps=16&stream=true") as response:
            events = _events(response)
    assert events[-1][0] == "result"
    result = events[-1][1]
    previews = [data["preview"] for name, data in events if name == "progress" and "preview" in data]
    assert len(previews) >= 4
    pictures = [np.asarray(Image.open(io.BytesIO(base64.b64decode(p.split(",", 1)[1])))) for p in previews]
    final = np.asarray(Image.open(io.BytesIO(base64.b64decode(result["png"].split(",", 1)[1]))))
    assert all(picture.shape == final.shape for picture in pictures)
    assert all(not np.array_equal(a, b) for a, b in zip(pictures, pictures[1:]))
    np.testing.assert_array_equal(pictures[-1], final)


def test_pattern_previews_are_the_optimisations_images_at_their_steps(client):
    """`patterns(preview=...)` hands over the images as they are after each preview step: the last
    ones are the images returned; running fewer steps with the same seed is a different
    optimisation, so only the final ones are compared exactly."""
    from app.viz import filters

    graph = client.app.state.registry.get("mnist-lenet").graph
    seen = []
    options = filters.Options(steps=12)
    images, _ = filters.patterns(graph, "conv2", [0, 1, 2], options, preview=lambda first, batch: seen.append((first, batch.copy())))
    assert len(seen) == filters.PREVIEWS and sorted(filters.preview_steps(12)) == [2, 5, 8, 11]
    assert all(first == 0 and batch.shape == images.shape for first, batch in seen)
    np.testing.assert_array_equal(seen[-1][1], images)
    assert not np.array_equal(seen[0][1], images)
    again, _ = filters.patterns(graph, "conv2", [0, 1, 2], options)
    np.testing.assert_array_equal(again, images)  # previews change nothing


def _convnext_like() -> keras.Model:
    """A ConvNeXt block in small: a 7x7 convolution with one group per channel (Keras computes it
    as a grouped convolution), LayerNorm, pointwise Dense layers, a residual sum."""
    inputs = keras.Input((16, 16, 3))
    stem = keras.layers.Conv2D(8, 2, strides=2, name="stem")(inputs)
    x = keras.layers.Conv2D(8, 7, padding="same", groups=8, activation="relu", name="grouped")(stem)
    x = keras.layers.LayerNormalization(epsilon=1e-6, name="norm")(x)
    x = keras.layers.Dense(16, activation="gelu", name="expand")(x)
    x = keras.layers.Dense(8, name="project")(x)
    x = keras.layers.Add(name="block_add")([stem, x])
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    return keras.Model(inputs, keras.layers.Dense(4, name="logits")(x))


@pytest.fixture(scope="module")
def convnext_graph():
    from app.graph import ModelGraph

    keras.utils.set_random_seed(3)
    return ModelGraph(_convnext_like(), input_range=(0.0, 255.0))


def test_pattern_gradients_run_grouped_convolutions_as_depthwise_with_keras_gradients(convnext_graph):
    """The gradient-ascent step differentiates through the model with its grouped 7x7 convolution
    as `tf.nn.depthwise_conv2d` (`ModelGraph.gradient_traced`); its gradient equals the one through
    Keras's own grouped convolution, for the layer after it and for that layer itself (whose
    warm-up objective is its pre-activation twin, also rewritten), in both parameterisations."""
    from app.graph import thin_conv
    from app.viz import filters
    from app.viz.image_params import random_warps

    graph = convnext_graph
    rewritten = graph.gradient_traced
    assert rewritten is not graph.traced
    assert any(isinstance(layer, thin_conv.DepthwiseConv2D) for layer in rewritten.all_outputs.layers)
    assert not any(isinstance(layer, thin_conv.DepthwiseConv2D) for layer in graph.traced.all_outputs.layers)
    rng = np.random.default_rng(0)
    for layer in ("block_add", "grouped"):
        for kind in ("pixel", "fourier"):
            fast = filters._step_function(graph, layer, kind)
            plain = filters._step_function(graph, layer, kind, traced=graph.traced)
            parameters = filters.image_parameters(graph, kind)
            params = np.stack([parameters.start(rng) * 20 for _ in range(3)])  # far from grey: the maps vary
            for warming in (1.0, 0.0):
                args = (
                    params, np.array([0, 3, 7], np.int32), np.float32(warming), np.array([1, -2], np.int32),
                    random_warps(1, 16, 16, rng)[0], np.float32(0.05), np.array([0.0, 255.0], np.float32),
                )
                (gradient, mean), (expected, expected_mean) = fast(*args), plain(*args)
                assert float(np.abs(expected.numpy()).max()) > 0, (layer, kind, warming)
                np.testing.assert_allclose(gradient.numpy(), expected.numpy(), rtol=1e-4, atol=1e-5 * float(np.abs(expected.numpy()).max()))
                np.testing.assert_allclose(mean.numpy(), expected_mean.numpy(), rtol=1e-5, atol=1e-5)


def test_a_few_steps_of_patterns_equal_the_keras_graphs(convnext_graph):
    """`filters.patterns` through the rewritten graph gives the images and activations that the
    same optimisation gives through Keras's grouped convolution."""
    from app.graph import ModelGraph
    from app.viz import filters

    options = filters.Options(steps=6)
    images, activations = filters.patterns(convnext_graph, "block_add", [0, 5], options)
    assert convnext_graph.gradient_traced is not convnext_graph.traced
    plain = ModelGraph(convnext_graph.model, input_range=(0.0, 255.0))
    plain._gradient_traced = plain.traced  # Keras's own layers all the way
    expected_images, expected_activations = filters.patterns(plain, "block_add", [0, 5], options)
    np.testing.assert_allclose(images, expected_images, rtol=1e-4, atol=1e-3)  # 0-255 images after 6 Adam steps
    np.testing.assert_allclose(activations, expected_activations, rtol=1e-4, atol=1e-5)
    assert not np.allclose(images[0], images[1])
