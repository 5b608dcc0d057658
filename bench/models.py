"""The `models` case: big models at interactive speed (`python -m bench --only models`).

Builds the course's VGG16-under-a-head at 224x224 and 150x150 and MobileNetV2 at 224x224 with
random weights (no downloads here), serves them from a temporary folder in a real server process,
and times each endpoint over HTTP against the in-process Keras call doing the same work.
"""

from __future__ import annotations

import io
import json
import tempfile
import time
from pathlib import Path

import httpx
import numpy as np

from bench.server import running_server

BUDGET_BYTES = 4_000_000  # "at most 4 MB", read strictly


def course_vgg16(side: int):
    """DLwP 5.3: VGG16's convolutional base under Flatten, Dense(256), Dense(1, sigmoid)."""
    import keras

    base = keras.applications.VGG16(weights=None, include_top=False, input_shape=(side, side, 3))
    return keras.Sequential(
        [keras.Input((side, side, 3)), base, keras.layers.Flatten(), keras.layers.Dense(256, activation="relu"),
         keras.layers.Dense(1, activation="sigmoid")],
        name=f"vgg16_{side}",
    )


def mobilenet_v2(side: int):
    import keras

    return keras.applications.MobileNetV2(weights=None, input_shape=(side, side, 3))


MODELS = {  # id -> (builder, side, a layer for one filter pattern)
    "vgg16-224": (course_vgg16, 224, "vgg16/block3_conv1"),
    "vgg16-150": (course_vgg16, 150, "vgg16/block3_conv1"),
    "mobilenetv2-224": (mobilenet_v2, 224, "block_3_expand"),
}


def png_of(image: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray((image * 255).astype(np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def bench_models(url_unused: str, model_id_unused: str, repeats: int, report) -> None:
    import keras
    import tensorflow as tf

    from bench.__main__ import timed

    repeats = min(repeats, 20)
    with tempfile.TemporaryDirectory() as folder:
        built = {}
        for model_id, (build, side, _) in MODELS.items():
            keras.utils.set_random_seed(0)
            built[model_id] = model = build(side)
            model.save(Path(folder) / f"{model_id}.keras")
            (Path(folder) / f"{model_id}.json").write_text(json.dumps({"input_range": [0, 255]}))
        started = time.perf_counter()
        with running_server(Path(folder), timeout=600) as url, httpx.Client(timeout=600) as client:
            print(f"  (server with 3 big models ready in {time.perf_counter() - started:.1f} s)", flush=True)
            for model_id, (_, side, pattern_layer) in MODELS.items():
                model = built[model_id]
                image = np.random.default_rng(1).uniform(0, 1, (side, side, 3)).astype("float32")
                files = {"image": ("photo.png", png_of(image), "image/png")}
                base = f"{url}/api/models/{model_id}"
                x = tf.constant(np.round(image * 255)[None], tf.float32)  # what the PNG decodes to, in [0, 255]

                def post(path, _files=files, _base=base):
                    response = client.post(f"{_base}/{path}", files=_files)
                    response.raise_for_status()
                    return response

                overview = post("activations?max_side=16&dtype=uint8")
                size = len(overview.content)
                print(f"  {model_id}: overview answer {size / 1e6:.2f} MB as sent "
                      f"[target <= {BUDGET_BYTES / 1e6:.2f} MB: {'met' if size <= BUDGET_BYTES else 'MISSED'}]", flush=True)

                report.add(f"{model_id} predict HTTP (PNG upload)", timed(lambda: post("predict"), repeats))
                report.add(f"{model_id} overview HTTP (max_side=16, uint8)", timed(lambda: post("activations?max_side=16&dtype=uint8"), repeats))
                report.add(f"{model_id} Grad-CAM HTTP (default layer)", timed(lambda: post("gradcam"), repeats))
                # occlusion at its default (169 positions) is 169 forward passes: timed once
                report.add(f"{model_id} occlusion HTTP (default patch)", timed(lambda: post("occlusion"), 1, warmup=0))
                channel = iter(range(64))  # a new channel each time: never a cached answer
                report.add(f"{model_id} one filter pattern HTTP ({pattern_layer}, 32 steps)",
                           timed(lambda: client.get(f"{base}/layers/{pattern_layer}/filters/{next(channel)}?steps=32").raise_for_status(), 2, warmup=1))

                def forward(_model=model, _x=x):
                    return _model(_x, training=False).numpy()

                layer_name = client.get(base).json()["default_gradcam_layer"]
                conv = model  # the (nested) model that holds the Grad-CAM layer
                for part in layer_name.split("/")[:-1]:
                    conv = conv.get_layer(part)
                inner = conv.get_layer(layer_name.split("/")[-1])

                grad_model = keras.Model(conv.inputs, [inner.output, conv.output])  # built once, not timed

                def forward_backward(_x=x, grad_model=grad_model):
                    # the keras.io Grad-CAM work: the layer's output and the score's gradient
                    with tf.GradientTape() as tape:
                        feature_map, top = grad_model(_x, training=False)
                        score = tf.reduce_sum(top)
                    return tape.gradient(score, feature_map).numpy()

                holder = model  # the (nested) model that holds the pattern's layer
                for part in pattern_layer.split("/")[:-1]:
                    holder = holder.get_layer(part)
                feature_model = keras.Model(holder.inputs, holder.get_layer(pattern_layer.split("/")[-1]).output)

                def generate_pattern(_feature_model=feature_model, _side=side):
                    # DLwP's generate_pattern, eager, the same 32 steps
                    image = tf.Variable(np.random.default_rng(0).uniform(0, 1, (1, _side, _side, 3)).astype("float32") * 20 + 128)
                    for _ in range(32):
                        with tf.GradientTape() as tape:
                            loss = tf.reduce_mean(_feature_model(image, training=False)[..., 0])
                        gradient = tape.gradient(loss, image)
                        image.assign_add(gradient / (tf.sqrt(tf.reduce_mean(tf.square(gradient))) + 1e-5))
                    return image.numpy()

                occluded = np.repeat(x.numpy(), 169, axis=0)
                report.add(f"{model_id} baseline: Keras forward (in-process)", timed(forward, repeats))
                report.add(f"{model_id} baseline: Keras forward+backward (in-process)", timed(forward_backward, repeats))
                report.add(f"{model_id} baseline: Keras predict of 169 occluded copies (in-process)",
                           timed(lambda: model.predict(occluded, batch_size=32, verbose=0), 1, warmup=0))
                report.add(f"{model_id} baseline: generate_pattern loop (in-process, 32 eager steps)", timed(generate_pattern, 2, warmup=1))
                report.ratio(f"{model_id} overview HTTP (max_side=16, uint8)", f"{model_id} baseline: Keras forward (in-process)", "[target <= 1.5]")
                report.ratio(f"{model_id} Grad-CAM HTTP (default layer)", f"{model_id} baseline: Keras forward+backward (in-process)", "[target <= 1.5]")
                report.ratio(f"{model_id} predict HTTP (PNG upload)", f"{model_id} baseline: Keras forward (in-process)")
                report.ratio(f"{model_id} occlusion HTTP (default patch)", f"{model_id} baseline: Keras predict of 169 occluded copies (in-process)")
                report.ratio(f"{model_id} one filter pattern HTTP ({pattern_layer}, 32 steps)",
                             f"{model_id} baseline: generate_pattern loop (in-process, 32 eager steps)")
