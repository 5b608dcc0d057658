"""The lesson endpoints against independent references: scipy's correlate2d and Keras's conv for the
kernel lab, a loop for pooling, /predict and numpy.rot90 for the sweep, Keras's summary for counts."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest
from scipy.signal import correlate2d

from tests.conftest import arr, assert_error, client_for

from app.lessons import kernels, pooling, transforms

CONVNET = "/api/models/mnist-convnet"


@pytest.fixture(scope="module")
def digit(mnist):
    return (mnist[0][0] / 255.0).astype(np.float32)


# ------------------------------------------------------------------ kernel lab
@pytest.mark.parametrize("seed", range(4))
def test_valid_stride_1_equals_scipy_correlate2d(seed):
    rng = np.random.default_rng(seed)
    image = rng.normal(size=(rng.integers(8, 30), rng.integers(8, 30)))
    kernel = rng.normal(size=(rng.integers(1, 6), rng.integers(1, 6)))
    np.testing.assert_allclose(kernels.correlate(image, kernel), correlate2d(image, kernel, mode="valid"), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("size,k,stride,padding", [(28, 3, 2, "same"), (28, 5, 3, "valid"), (27, 4, 2, "same"), (13, 3, 1, "same"), (26, 2, 4, "same")])
def test_stride_and_padding_equal_keras_conv(size, k, stride, padding):
    rng = np.random.default_rng(size + k)
    image = rng.normal(size=(size, size)).astype(np.float32)
    kernel = rng.normal(size=(k, k)).astype(np.float32)
    expected = keras.ops.convert_to_numpy(
        keras.ops.conv(image[None, :, :, None], kernel[:, :, None, None], strides=stride, padding=padding)
    )[0, :, :, 0]
    got = kernels.correlate(image, kernel, stride, padding)
    assert got.shape == expected.shape
    pads = kernels.padding_for(image.shape, kernel.shape, stride, padding)
    assert got.shape[0] == kernels.output_size(size, k, stride, sum(pads.rows))
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)


def test_kernel_endpoint_on_the_input_and_on_a_layer(client, digit, keras_models):
    kernel = [[0.5, -1.0, 0.25], [2.0, 0.0, -0.5], [1.0, 1.5, -2.0]]
    body = {"pixels": digit.tolist(), "options": {"kernel": kernel, "padding": "same", "stride": 2, "activation": "relu"}}
    answer = client.post(f"{CONVNET}/kernel?preprocess=none", json=body).json()
    padded = np.pad(digit, ((0, 1), (0, 1)))  # Keras's same padding for 28, K=3, S=2: 0 before, 1 after
    expected = np.maximum(correlate2d(padded, np.array(kernel), mode="valid")[::2, ::2], 0)
    np.testing.assert_allclose(arr(answer["feature_map"]), expected, atol=1e-5)
    assert answer["output_size"] == [14, 14]
    assert answer["formula"][0] == "⌊(28 − 3 + 1) / 2⌋ + 1 = 14   (2P = 0 + 1)"
    assert answer["png"].startswith("data:image/png;base64,")

    # on conv1's channel 5, a preset by name in the query
    answer = client.post(f"{CONVNET}/kernel?preprocess=none&preset=sobel_y&layer=conv1&channel=5", json={"pixels": digit.tolist()}).json()
    conv1 = keras.Model(keras_models["mnist-convnet"].inputs, keras_models["mnist-convnet"].get_layer("conv1").output)
    channel = conv1(digit[None, :, :, None]).numpy()[0, :, :, 5]
    np.testing.assert_allclose(arr(answer["source_map"]), channel, atol=1e-5)
    sobel_y = np.array(kernels.PRESETS["sobel_y"][1])
    np.testing.assert_allclose(arr(answer["feature_map"]), correlate2d(channel, sobel_y, mode="valid"), atol=1e-4)
    assert answer["formula"][1] == "⌊(26 − 3 + 2·0) / 1⌋ + 1 = 24"


def test_presets_hold_every_learned_first_layer_kernel(client, keras_models):
    presets = client.get(f"{CONVNET}/kernel/presets").json()
    names = [p["name"] for p in presets["presets"]]
    assert names[:8] == ["identity", "edge", "sobel_x", "sobel_y", "sharpen", "box_blur", "gaussian_blur", "emboss"]
    kernel = keras_models["mnist-convnet"].get_layer("conv1").kernel.numpy()
    learned = [p for p in presets["presets"] if p["learned"]]
    assert len(learned) == 32 and presets["learned_from"] == "conv1"
    np.testing.assert_allclose(np.array(learned[7]["kernel"]), kernel[:, :, 0, 7], atol=1e-7)


@pytest.mark.parametrize(
    "query,options",
    [
        ("kernel=1,2;3", None),  # ragged
        ("kernel=a,b", None),
        ("preset=nope", None),
        ("stride=0", None),
        ("padding=full", None),
        ("channel=1", None),  # the input has one channel
        ("layer=dense1", None),  # no spatial output
        ("", {"kernel": [[1.0] * 16] * 16}),  # over 15 a side
        ("preset=edge", {"kernel": [[1.0]], "bogus": 1}),
        ("", {"stride": "fast"}),
        ("layer=conv3&preset=learned:0", {"kernel": [[1.0] * 9] * 9}),  # larger than conv3's 3x3 map
    ],
)
def test_bad_kernel_options_are_422(client, digit, query, options):
    body = {"pixels": digit.tolist(), **({"options": options} if options else {})}
    assert_error(client.post(f"{CONVNET}/kernel?preprocess=none&{query}", json=body), 422)


# ------------------------------------------------------------------ pooling lab
def pool_reference(values, window, stride, kind):
    rows = (values.shape[0] - window) // stride + 1
    cols = (values.shape[1] - window) // stride + 1
    out = np.zeros((rows, cols))
    for i in range(rows):
        for j in range(cols):
            patch = values[i * stride : i * stride + window, j * stride : j * stride + window]
            out[i, j] = {"max": patch.max(), "average": patch.mean(), "l2": np.sqrt((patch**2).sum())}[kind]
    return out


@pytest.mark.parametrize("window,stride", [(2, 2), (3, 1), (3, 2), (4, 3)])
def test_pooling_equals_a_loop(window, stride):
    values = np.random.default_rng(window * 10 + stride).normal(size=(13, 11))
    for kind in pooling.KINDS:
        np.testing.assert_allclose(pooling.pool(values, window, stride, kind), pool_reference(values, window, stride, kind), rtol=1e-5, atol=1e-6)


def test_pool_endpoint_marks_and_matches_the_models_own_pooling(client, digit, keras_models):
    answer = client.post(f"{CONVNET}/pool?preprocess=none&layer=conv2&channel=9", json={"pixels": digit.tolist()}).json()
    assert answer["own_pooling"] == {"layer": "pool2", "kind": "max", "window": 2, "stride": 2}
    assert [(p["kind"], p["own"]) for p in answer["panels"]] == [("max", True), ("average", False), ("l2", False)]
    model = keras_models["mnist-convnet"]
    pool2 = keras.Model(model.inputs, model.get_layer("pool2").output)(digit[None, :, :, None]).numpy()[0, :, :, 9]
    np.testing.assert_allclose(arr(answer["panels"][0]["pooled"]), pool2, atol=1e-6)
    source = arr(answer["source_map"])
    np.testing.assert_allclose(arr(answer["panels"][2]["pooled"]), pool_reference(source, 2, 2, "l2"), rtol=1e-5)
    answer = client.post(f"{CONVNET}/pool?preprocess=none&window=3&stride=1", json={"pixels": digit.tolist()}).json()
    assert answer["own_pooling"] is None and answer["output_size"] == [26, 26]
    assert_error(client.post(f"{CONVNET}/pool?preprocess=none&layer=conv3&window=4", json={"pixels": digit.tolist()}), 422)


# ------------------------------------------------------------------ sweep
def test_identity_sweep_equals_predict(client, digit):
    body = {"pixels": digit.tolist()}
    predicted = client.post(f"{CONVNET}/predict?preprocess=none", json=body).json()
    one = client.post(f"{CONVNET}/sweep?preprocess=none&transform=rotate&start=0&stop=0&steps=1", json=body).json()
    assert one["probabilities"][0] == predicted["prediction"]["probabilities"]
    assert np.array_equal(arr(one["inputs"][0]), arr(predicted["input"]))
    many = client.post(f"{CONVNET}/sweep?preprocess=none&transform=zoom&start=0.5&stop=1.5&steps=5", json=body).json()
    assert many["values"] == [0.5, 0.75, 1.0, 1.25, 1.5]
    assert np.array_equal(arr(many["inputs"][2]), arr(predicted["input"]))
    np.testing.assert_allclose(many["probabilities"][2], predicted["prediction"]["probabilities"], atol=1e-6)


def test_rotation_by_90_degrees_is_numpy_rot90(client, digit):
    answer = client.post(f"{CONVNET}/sweep?preprocess=none&transform=rotate&start=0&stop=270&steps=4", json={"pixels": digit.tolist()}).json()
    for k, image in enumerate(answer["inputs"]):
        np.testing.assert_allclose(arr(image)[:, :, 0], np.rot90(digit, k), atol=1e-5)
    assert len(answer["probabilities"]) == 4 and all(abs(sum(p) - 1) < 1e-4 for p in answer["probabilities"])


def test_transform_definitions():
    image = np.random.default_rng(0).uniform(size=(12, 10, 2)).astype(np.float32)
    np.testing.assert_array_equal(transforms.apply(image, transforms.Transform(flip=True)), image[:, ::-1])
    shifted = transforms.apply(image, transforms.Transform(shift_x=3, shift_y=-2))
    np.testing.assert_allclose(shifted[:-2, 3:], image[2:, :-3], atol=1e-6)
    assert np.all(shifted[:, :3] == 0) and np.all(shifted[-2:] == 0)
    # zoom 2 about the centre of an 11x11 grid, (5, 5): output (7, 3) samples input (6, 4), (8, 3) half-way
    odd = image[:11, :10].repeat(2, axis=1)[:, :11]
    zoomed = transforms.apply(odd, transforms.Transform(zoom=2))
    np.testing.assert_allclose(zoomed[7, 3], odd[6, 4], atol=1e-6)
    np.testing.assert_allclose(zoomed[8, 3], 0.5 * odd[6, 4] + 0.5 * odd[7, 4], atol=1e-6)
    # shear 45: the bottom row lies 5.5 px below the centre, so it samples 5.5 px to the left
    sheared = transforms.apply(image, transforms.Transform(shear=45))
    np.testing.assert_allclose(sheared[11, 6:10, 0], 0.5 * image[11, 0:4, 0] + 0.5 * image[11, 1:5, 0], atol=1e-6)


@pytest.mark.parametrize(
    "query",
    [
        "transform=spin",
        "transform=rotate&steps=0",
        "transform=rotate&steps=1000",
        "transform=zoom&start=0&stop=2",
        "transform=shift_x&start=-40&stop=0",
        "transform=rotate&shear=89",
        "transform=rotate&start=nan",
        "steps=3",
    ],
)
def test_bad_sweeps_are_422(client, digit, query):
    assert_error(client.post(f"{CONVNET}/sweep?preprocess=none&{query}", json={"pixels": digit.tolist()}), 422)


# ------------------------------------------------------------------ summary
def keras_summary_totals(model) -> dict:
    lines: list[str] = []
    model.summary(print_fn=lambda line, *args, **kwargs: lines.append(line))
    text = "\n".join(lines)
    return {
        key: int(re.search(rf"{label} params: ([\d,]+)", text).group(1).replace(",", ""))
        for key, label in (("total", "Total"), ("trainable", "Trainable"), ("non_trainable", "Non-trainable"))
    }


def check_summary(answer: dict, model) -> None:
    assert {k: answer[k] for k in ("total", "trainable", "non_trainable")} == keras_summary_totals(model)
    assert [row["name"] for row in answer["layers"]] == [layer.name for layer in model.layers]
    assert [row["parameters"] for row in answer["layers"]] == [layer.count_params() for layer in model.layers]
    for row, layer in zip(answer["layers"], model.layers):
        cost = row["separable"]
        if type(layer).__name__ != "Conv2D":
            assert cost is None
            continue
        separable = keras.layers.SeparableConv2D(cost["out_channels"], cost["kernel_size"], use_bias=layer.use_bias)
        separable.build((None, 32, 32, cost["in_channels"]))
        assert cost["separable_parameters"] == separable.count_params()
        assert cost["conv_parameters"] == layer.count_params()


@pytest.mark.parametrize("model_id", ["mnist-convnet", "mnist-lenet"])
def test_summary_equals_keras(client, keras_models, model_id):
    check_summary(client.get(f"/api/models/{model_id}/summary").json(), keras_models[model_id])


def test_summary_with_batchnorm_and_a_frozen_layer(tmp_path):
    keras.utils.set_random_seed(4)
    model = keras.Sequential(
        [
            keras.Input((20, 20, 3)),
            keras.layers.Conv2D(8, 5, name="conv"),
            keras.layers.BatchNormalization(name="bn"),
            keras.layers.Conv2D(4, 3, name="frozen", use_bias=False),
            keras.layers.GlobalAveragePooling2D(name="gap"),
            keras.layers.Dense(3, activation="softmax", name="probs"),
        ]
    )
    model.get_layer("frozen").trainable = False
    model.save(tmp_path / "bn.keras")
    with client_for(tmp_path) as client:
        answer = client.get("/api/models/bn/summary").json()
    loaded = keras.saving.load_model(tmp_path / "bn.keras", compile=False)
    check_summary(answer, loaded)
    assert answer["non_trainable"] == 2 * 8 + 3 * 3 * 8 * 4  # moving mean and variance, the frozen kernel
    assert answer["layers"][0]["separable"]["separable_weights"] == 5 * 5 * 3 + 3 * 8


def test_course_example_of_separable_cost():
    layer = keras.layers.Conv2D(256, 5, use_bias=False)
    layer.build((None, 32, 32, 3))
    from app.lessons.summary import separable_cost

    cost = separable_cost(layer)
    assert (cost["conv_weights"], cost["separable_weights"], cost["biases"]) == (19_200, 843, 0)
