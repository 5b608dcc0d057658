"""The page's engine (static/js/engine/) equals Keras, layer by layer, in headless Chromium.

Each layer the page computes is compared with the same layer computed by Keras (the served
graph's own forward pass, which calls the model's Keras layers and is checked against the model's
output at load) on the same input: |page - Keras| <= 1e-5 x the layer's largest |activation|.
The bundled models on 50 MNIST test digits and random inputs; small models built here for every
layer kind and activation the server lets the page run (app/graph/browser.py).
"""

from __future__ import annotations

import base64

import numpy as np
import pytest

from tests.conftest import DATA, MODELS_DIR

pytestmark = pytest.mark.browser

TOLERANCE = 1e-5

# In the page: load a model's description and weights, run each input, return every layer's
# output (in the description's order) as one base64 float32 string per input.
RUN_IN_PAGE = """async ([id, inputs]) => {
    const { Network } = await import("/static/js/engine/index.js");
    const spec = await (await fetch(`/api/models/${id}/browser`)).json();
    const weights = await (await fetch(spec.weights_url)).arrayBuffer();
    const network = new Network(spec, weights);
    const toBase64 = (floats) => {
        const bytes = new Uint8Array(floats.buffer, floats.byteOffset, floats.byteLength);
        let text = "";
        for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
        return btoa(text);
    };
    const results = [];
    for (const encoded of inputs) {
        const raw = Uint8Array.from(atob(encoded), (c) => c.charCodeAt(0));
        const { outputs, probabilities } = network.run(new Float32Array(raw.buffer));
        const parts = [...spec.layers.map((layer) => outputs.get(layer.name).data), probabilities];
        const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
        let at = 0;
        for (const part of parts) { all.set(part, at); at += part.length; }
        results.push(toBase64(all));
    }
    return { layers: spec.layers.map((layer) => [layer.name, layer.output_shape]), results };
}"""


def run_in_page(page, model_id: str, inputs: np.ndarray):
    encoded = [base64.b64encode(np.ascontiguousarray(x, "<f4").tobytes()).decode() for x in inputs]
    answer = page.evaluate(RUN_IN_PAGE, [model_id, encoded])
    per_input = []
    for text in answer["results"]:
        flat = np.frombuffer(base64.b64decode(text), "<f4")
        outputs, at = {}, 0
        for name, shape in answer["layers"]:
            size = int(np.prod(shape))
            outputs[name] = flat[at : at + size].reshape(shape)
            at += size
        outputs["probabilities"] = flat[at:]
        per_input.append(outputs)
    return per_input


def assert_equals_keras(graph, inputs: np.ndarray, page_outputs: list[dict]) -> int:
    """Every layer of every input within tolerance; returns how many layer outputs were compared."""
    result = graph.run(inputs)
    compared = 0
    for i, outputs in enumerate(page_outputs):
        for name, node in graph.layers.nodes.items():
            expected = result["features"][node.output_index][i]
            got = outputs[name]
            scale = max(float(np.abs(expected).max()), 1e-12)
            error = float(np.abs(got - expected).max()) / scale
            assert error <= TOLERANCE, f"{name} ({node.class_name}) input {i}: max |page - Keras| = {error:.2e} x its largest value"
            compared += 1
        expected = result["probabilities"][i]
        assert np.abs(outputs["probabilities"] - expected).max() <= TOLERANCE, f"probabilities of input {i}"
    return compared


@pytest.fixture
def blank(browser):
    """A page on a JSON answer (no app running): its CSP (default-src 'none') is bypassed so the
    engine's modules can be imported there."""
    context = browser.new_context(bypass_csp=True)
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    yield opened, errors
    context.close()
    assert not errors, errors


@pytest.mark.parametrize("model_id", ["mnist-convnet", "mnist-lenet"])
def test_bundled_models_equal_keras_on_mnist_and_random_inputs(blank, live_server, model_id):
    import keras

    from app.graph import ModelGraph

    page, _ = blank
    page.goto(live_server + "/api/health")
    digits = np.load(DATA / "mnist_test_300.npz")["x"][:50].astype(np.float32)[..., None] / 255.0
    noise = np.random.default_rng(1).uniform(0, 1, (10, 28, 28, 1)).astype(np.float32)
    inputs = np.concatenate([digits, noise])
    graph = ModelGraph(keras.saving.load_model(MODELS_DIR / f"{model_id}.keras", safe_mode=True))
    outputs = run_in_page(page, model_id, inputs)
    assert assert_equals_keras(graph, inputs, outputs) == 60 * len(graph.layers.nodes)
    # and the page reads the digits as Keras does
    assert [int(np.argmax(o["probabilities"])) for o in outputs[:50]] == list(np.argmax(graph.run(digits)["probabilities"], axis=1))


def _kind_models():
    """Small models, each exercising some of the layer kinds and activations the page computes."""
    import keras
    from keras import layers as L

    keras.utils.set_random_seed(7)
    models = {}

    # convolutions: padding, strides, dilation, groups, depthwise and separable, every activation
    inputs = keras.Input((13, 12, 4))
    x = L.Conv2D(6, 3, padding="same", activation="elu", name="same_elu")(inputs)
    x = L.Conv2D(6, 3, strides=2, activation="gelu", name="stride_gelu")(x)
    x = L.Conv2D(6, 3, dilation_rate=2, padding="same", groups=2, activation="swish", name="dilated_grouped_swish")(x)
    x = L.Conv2D(11, 2, padding="same", activation="relu", name="eights_and_three")(x)  # eight at a time, then the rest
    x = L.Conv2D(9, 3, dilation_rate=2, padding="same", activation="relu", name="eights_dilated")(x)  # eight at a time: dilation
    x = L.Conv2D(8, 3, strides=2, padding="same", name="eights_strided")(x)  # ... and strides
    x = L.DepthwiseConv2D(3, depth_multiplier=2, padding="same", strides=2, activation="tanh", name="depthwise_tanh")(x)
    x = L.SeparableConv2D(5, 2, padding="same", activation="sigmoid", name="separable_sigmoid")(x)
    x = L.Conv2D(5, 1, activation="selu", name="pointwise_selu")(x)
    x = L.Conv2D(5, 1, activation="softplus", name="softplus")(x)
    x = L.Conv2D(5, 1, activation="hard_sigmoid", name="hard_sigmoid")(x)
    x = L.Conv2D(5, 1, activation="hard_silu", name="hard_silu")(x)
    x = L.Conv2D(5, 1, activation="relu6", name="relu6")(x)
    x = L.Conv2D(5, 1, activation="leaky_relu", name="leaky")(x)
    x = L.Conv2D(5, 1, activation="mish", name="mish")(x)
    x = L.Conv2D(5, 1, activation="softsign", name="softsign")(x)
    x = L.GlobalAveragePooling2D(name="gap")(x)
    outputs = L.Dense(3, activation="softmax", name="head")(x)
    models["kinds-conv"] = (keras.Model(inputs, outputs), {"input_range": [-1, 1]})

    # pooling, padding, normalization, activation layers, reshape, dense on a feature map
    inputs = keras.Input((15, 14, 3))
    x = L.Rescaling(1 / 127.5, offset=-1, name="rescale")(inputs)
    x = L.Normalization(mean=[0.1, -0.2, 0.3], variance=[0.5, 2.0, 1.5], name="normalize")(x)
    x = L.ZeroPadding2D(((1, 2), (0, 3)), name="pad")(x)
    x = L.Conv2D(8, 3, name="conv")(x)
    x = L.BatchNormalization(name="bn")(x)
    x = L.ReLU(max_value=1.5, negative_slope=0.1, threshold=0.2, name="relu_options")(x)
    x = L.MaxPooling2D(3, strides=2, padding="same", name="max_same")(x)
    x = L.AveragePooling2D(2, strides=1, padding="same", name="avg_same")(x)
    x = L.Cropping2D(((1, 0), (0, 1)), name="crop")(x)
    x = L.AveragePooling2D(2, name="avg_valid")(x)
    x = L.LayerNormalization(name="layer_norm")(x)
    x = L.LeakyReLU(negative_slope=0.25, name="leaky_layer")(x)
    x = L.ELU(alpha=0.7, name="elu_layer")(x)
    x = L.Dense(4, activation="tanh", name="dense_on_map")(x)
    x = L.Activation("gelu", name="gelu_layer")(x)
    x = L.Reshape((-1,), name="reshape")(x)
    x = L.Dense(6, name="logits_dense")(x)
    outputs = L.Softmax(name="softmax_layer")(x)
    model = keras.Model(inputs, outputs)
    model.get_layer("bn").set_weights([np.random.default_rng(s).uniform(0.5, 1.5, 8).astype("float32") for s in range(4)])
    models["kinds-norm"] = (model, {"input_range": [0, 255]})

    # branches and merges, identity-at-inference layers, a nested model, a sigmoid head
    inner = keras.Sequential([keras.Input((10, 10, 4)), L.Conv2D(4, 3, padding="same", activation="relu", name="c"), L.MaxPooling2D(name="p")], name="inner")
    inputs = keras.Input((20, 20, 1))
    x = L.RandomFlip(name="flip")(inputs)
    x = L.RandomRotation(0.2, name="rotate")(x)
    x = L.GaussianNoise(0.3, name="noise")(x)
    a = L.Conv2D(4, 3, padding="same", name="a")(x)
    b = L.Conv2D(4, 5, padding="same", name="b")(x)
    added = L.Add(name="add")([a, b])
    merged = [L.Subtract(name="sub")([a, b]), L.Multiply(name="mul")([a, b]), L.Average(name="avg")([a, b, added]),
              L.Maximum(name="max")([a, b]), L.Minimum(name="min")([a, b])]
    x = L.Concatenate(name="concat")([*merged, a, a])
    x = L.Dropout(0.5, name="drop")(x)
    x = L.Conv2D(4, 1, name="squeeze")(x)
    x = L.MaxPooling2D(name="pool")(x)
    x = inner(x)
    x = L.GlobalMaxPooling2D(keepdims=True, name="gmp")(x)
    x = L.Flatten(name="flat")(x)
    outputs = L.Dense(1, activation="sigmoid", name="out")(x)
    models["kinds-merge"] = (keras.Model(inputs, outputs), {"classes": ["no", "yes"]})

    # a Sequential RGB model with no final activation (logits)
    models["kinds-sequential"] = (
        keras.Sequential([keras.Input((9, 9, 3)), L.Conv2D(3, 3, activation="exponential", name="exp"), L.Flatten(name="f"), L.Dense(4, name="logits")]),
        {},
    )
    return models


def test_every_kind_equals_keras(blank):
    from tests.e2e.inmemory import serving

    page, _ = blank
    models = _kind_models()
    with serving({model_id: (model, {"name": model_id, **card}) for model_id, (model, card) in models.items()}) as url:
        page.goto(url + "/api/health")
        for model_id, (model, card) in models.items():
            detail = page.evaluate("async (id) => (await fetch(`/api/models/${id}`)).json()", model_id)
            assert detail["browser"]["supported"], (model_id, detail["browser"]["reason"])
            from app.graph import ModelGraph

            graph = ModelGraph(model, input_range=tuple(card.get("input_range", (0, 1))))
            low, high = card.get("input_range", (0, 1))
            inputs = np.random.default_rng(3).uniform(low, high, (6, *graph.input_shape)).astype(np.float32)
            outputs = run_in_page(page, model_id, inputs)
            assert assert_equals_keras(graph, inputs, outputs) == 6 * len(graph.layers.nodes)


def test_a_model_the_page_cannot_run_says_why(blank):
    import keras
    from keras import layers as L

    from tests.e2e.inmemory import serving

    page, _ = blank
    model = keras.Sequential([keras.Input((8, 8, 1)), L.Conv2DTranspose(2, 3, name="up"), L.Flatten(), L.Dense(2, activation="softmax")])
    with serving({"transposed": (model, {"name": "transposed"})}) as url:
        page.goto(url + "/api/health")
        detail = page.evaluate("async () => (await fetch('/api/models/transposed')).json()")
        assert detail["browser"]["supported"] is False
        assert "'up'" in detail["browser"]["reason"] and "Conv2DTranspose" in detail["browser"]["reason"]
        answer = page.evaluate("async () => { const r = await fetch('/api/models/transposed/browser'); return [r.status, await r.json()]; }")
        assert answer[0] == 404 and "Conv2DTranspose" in answer[1]["detail"]
