"""The benchmark: `python -m bench [--requests N] [--model ID] [--only NAME ...]`.

Starts the real server in its own process, measures each endpoint's round trip from a client in
this process, and runs the naive in-process baselines in the same run, so the printed ratios
compare like with like on whatever machine runs it. Each case prints p50/p95 in milliseconds.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import httpx
import numpy as np

from bench.server import PROJECT_ROOT, running_server


def timed(
    call: Callable[[], object], repeats: int, warmup: int = 3, settle: float = 0.0, waits: list[float] | None = None
) -> list[float]:
    """`repeats` timed calls after `warmup` untimed ones, and untimed ones for `settle` seconds.
    With `waits`, each call's time minus this thread's CPU time in it is added there: for an HTTP
    call, the server, the loopback and any wait for a core, without the client's own work."""
    started = time.perf_counter()
    done = 0
    while done < warmup or time.perf_counter() - started < settle:
        call()
        done += 1
    samples = []
    for _ in range(repeats):
        cpu = time.thread_time()
        started = time.perf_counter()
        call()
        elapsed = time.perf_counter() - started
        samples.append(elapsed * 1000)
        if waits is not None:
            waits.append((elapsed - (time.thread_time() - cpu)) * 1000)
    return samples


# A block's first requests are slower when the server sat idle before it, as it does while an
# in-process case runs: after 50 in-process Grad-CAMs, the first request took 3.65 ms, the tenth
# 2.10 ms, and from about the fifteenth on they took their usual 2.0 ms (medians over 40 rounds).
SETTLE_SECONDS = 0.05


def interleaved(
    cases: dict[str, Callable[[], object]], repeats: int, rounds: int = 5, waits: dict[str, list[float]] | None = None
) -> dict[str, list[float]]:
    """`timed` for several cases taking turns, `rounds` blocks each: a slow spell of the machine (a
    shared VM's speed varies by a third from minute to minute here) then falls on every case
    alike, not on whichever ran during it, and the ratios between them stay fair. Each block
    starts with `SETTLE_SECONDS` of untimed calls, and each round takes the cases in its own
    (seeded) order, so that no case always follows the same one. `waits` (case name -> list)
    collects `timed`'s waits for those cases."""
    samples: dict[str, list[float]] = {name: [] for name in cases}
    order = random.Random(0)
    for round_index in range(rounds):
        share = repeats // rounds + (1 if round_index < repeats % rounds else 0)
        if share == 0:  # fewer requests than rounds
            break
        for name in order.sample(list(cases), len(cases)):
            samples[name] += timed(cases[name], share, settle=SETTLE_SECONDS, waits=(waits or {}).get(name))
    return samples


def p(samples: list[float], q: float) -> float:
    return float(np.percentile(samples, q))


class Report:
    def __init__(self) -> None:
        self.rows: dict[str, list[float]] = {}

    def add(self, name: str, samples: list[float]) -> None:
        self.rows[name] = samples
        print(f"  {name:<48} p50 {p(samples, 50):9.2f} ms   p95 {p(samples, 95):9.2f} ms   (n={len(samples)})", flush=True)

    def ratio(self, name: str, baseline: str, target: str = "") -> None:
        if name in self.rows and baseline in self.rows:
            value = statistics.median(self.rows[name]) / statistics.median(self.rows[baseline])
            print(f"  ratio p50 {name} / {baseline}: {value:.3f}  ({1 / value:.1f}x faster) {target}", flush=True)


def sample_digits(count: int) -> np.ndarray:
    with np.load(PROJECT_ROOT / "tests" / "data" / "mnist_test_300.npz") as archive:
        return (archive["x"][:count] / 255.0).astype("float32")


def bench_activations(url: str, model_id: str, repeats: int, report: Report) -> None:
    """Issue 3: all-layer activations over HTTP and the live channel vs Model.predict and eager."""
    from websockets.sync.client import connect

    digits = sample_digits(16)
    bodies = [json.dumps({"pixels": d.tolist()}) for d in digits]
    endpoint = f"{url}/api/models/{model_id}/activations"
    counter = iter(range(10**9))
    with httpx.Client(timeout=60) as client:

        def http_call():
            body = bodies[next(counter) % len(bodies)]
            response = client.post(endpoint, content=body, headers={"content-type": "application/json"})
            response.raise_for_status()

        report.add("activations HTTP (JSON pixels, base64 float32)", timed(http_call, repeats))

    with connect(url.replace("http", "ws") + f"/api/models/{model_id}/live", max_size=None) as socket:

        def live_call():
            seq = next(counter)
            socket.send(json.dumps({"seq": seq, "pixels": digits[seq % len(digits)].tolist()}))
            json.loads(socket.recv())

        report.add("activations live channel (WebSocket)", timed(live_call, repeats))

    all_layers = load_graph(model_id).traced.all_outputs  # a plain Keras functional model of every layer
    batch = digits[:1, ..., None]
    report.add("baseline: all-layer Model.predict (in-process)", timed(lambda: all_layers.predict(batch, verbose=0), repeats))
    report.add("baseline: all-layer eager call (in-process)", timed(lambda: all_layers(batch, training=False), repeats))
    report.ratio("activations HTTP (JSON pixels, base64 float32)", "baseline: all-layer Model.predict (in-process)", "[target <= 0.333]")
    report.ratio("activations live channel (WebSocket)", "baseline: all-layer Model.predict (in-process)")
    report.ratio("activations live channel (WebSocket)", "activations HTTP (JSON pixels, base64 float32)", "[target < 1]")
    report.ratio("activations HTTP (JSON pixels, base64 float32)", "baseline: all-layer eager call (in-process)")


def load_graph(model_id: str):
    import keras

    from app.graph import ModelGraph

    model = keras.saving.load_model(PROJECT_ROOT / "models" / f"{model_id}.keras", compile=False)
    return ModelGraph(model)


def post_timer(client: httpx.Client, url: str, bodies: list[str]):
    counter = iter(range(10**9))

    def call():
        response = client.post(url, content=bodies[next(counter) % len(bodies)], headers={"content-type": "application/json"})
        response.raise_for_status()

    return call


def stdlib_timer(url: str, bodies: list[str] | None):
    """`post_timer` with the standard library's `http.client` on one kept-alive connection: the
    same requests and answers, with a third of httpx's own CPU time a request on the client's side
    (the `floor` rows). With `bodies=None`, a GET."""
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    counter = iter(range(10**9))
    method, headers = ("GET", {}) if bodies is None else ("POST", {"content-type": "application/json"})

    def call():
        body = None if bodies is None else bodies[next(counter) % len(bodies)]
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # the server closed the kept-alive connection while other cases ran (uvicorn's
            # keep-alive timeout is 5 s); httpx reconnects by itself. Each block's warm-up
            # requests come first, so the new connection is not in the timed samples.
            connection.close()
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
        answer = response.read()
        if response.status != 200:
            raise RuntimeError(f"{response.status}: {answer[:300]!r}")

    return call


def bench_gradcam(url: str, model_id: str, repeats: int, report: Report) -> None:
    """Issues 4 and 15: Grad-CAM over HTTP vs the keras.io example (eager tape, model rebuilt per
    call), from two clients: httpx (what the tests use) and the standard library's http.client
    (the lightest client: closest to the server's own time)."""
    import keras
    import tensorflow as tf

    digits = sample_digits(16)
    bodies = [json.dumps({"pixels": d.tolist()}) for d in digits]
    gradcam_url = f"{url}/api/models/{model_id}/gradcam"
    graph = load_graph(model_id)
    all_layers, layer = graph.traced.all_outputs, graph.layers.default_gradcam_layer
    conv_output = graph.traced.output_tensor(layer)
    logits_output = all_layers.outputs[-1]  # the pre-softmax scores (keras.io sets activation=None)

    def keras_io_gradcam():
        # keras.io "Grad-CAM class activation visualization", make_gradcam_heatmap, as published
        grad_model = keras.Model(all_layers.inputs, [conv_output, logits_output])
        with tf.GradientTape() as tape:
            last_conv_layer_output, preds = grad_model(digits[:1, ..., None])
            pred_index = tf.argmax(preds[0])
            class_channel = preds[:, pred_index]
        grads = tape.gradient(class_channel, last_conv_layer_output)
        pooled_grads = tf.reduce_mean(grads, axis=(0, 1, 2))
        heatmap = last_conv_layer_output[0] @ pooled_grads[..., tf.newaxis]
        heatmap = tf.maximum(tf.squeeze(heatmap), 0) / tf.math.reduce_max(heatmap)
        return heatmap.numpy()

    from app.viz import gradcam

    image = digits[0][..., None]
    with httpx.Client(timeout=60) as client:
        requests = {
            "gradcam HTTP (default layer, top class)": post_timer(client, gradcam_url, bodies),
            "gradcam HTTP, fields=heatmap": post_timer(client, f"{gradcam_url}?fields=heatmap", bodies),
            "gradcam++ HTTP": post_timer(client, f"{gradcam_url}?method=gradcam%2B%2B", bodies),
            "gradcam HTTP, http.client (default)": stdlib_timer(gradcam_url, bodies),
            "gradcam HTTP, http.client, fields=heatmap": stdlib_timer(f"{gradcam_url}?fields=heatmap", bodies),
            # what each client's round trip costs with no work in it: the floor under its rows
            "floor: GET /api/health, httpx": lambda: client.get(f"{url}/api/health").raise_for_status(),
            "floor: GET /api/health, http.client": stdlib_timer(f"{url}/api/health", None),
        }
        in_process = {
            "baseline: keras.io Grad-CAM (in-process)": keras_io_gradcam,
            "gradcam method (in-process, compiled)": lambda: gradcam.attribute(graph, image, None, gradcam.Options(layer=layer)),
        }
        # each request's time less the client thread's CPU time: the server, the loopback and any
        # wait for a core (2 cores here), without the client's own work; the floor rows' waits
        # are that share for an answer with no work in it
        waits: dict[str, list[float]] = {name: [] for name in requests}
        for name, samples in interleaved({**requests, **in_process}, repeats, rounds=20, waits=waits).items():
            report.add(name, samples)
        for name in requests:
            report.add(f"{name}, waiting", waits[name])
    report.ratio("gradcam HTTP (default layer, top class)", "baseline: keras.io Grad-CAM (in-process)", "[target <= 0.2]")
    report.ratio("gradcam HTTP, fields=heatmap", "baseline: keras.io Grad-CAM (in-process)", "[target <= 0.2]")
    report.ratio("gradcam HTTP, http.client (default)", "baseline: keras.io Grad-CAM (in-process)", "[target <= 0.2]")
    report.ratio("gradcam HTTP, http.client, fields=heatmap", "baseline: keras.io Grad-CAM (in-process)", "[target <= 0.2]")
    report.ratio("gradcam HTTP (default layer, top class), waiting", "baseline: keras.io Grad-CAM (in-process)", "[less the client's CPU]")
    report.ratio("gradcam HTTP, fields=heatmap, waiting", "baseline: keras.io Grad-CAM (in-process)", "[less the client's CPU]")
    report.ratio("gradcam method (in-process, compiled)", "baseline: keras.io Grad-CAM (in-process)", "[like for like]")


def functional_logits_clone(model):
    """Fresh layers with the model's weights on a new keras.Input, the last one linear: what
    tf-keras-vis needs (`output_names`, a layer `.output` in the same graph, the logit)."""
    import keras

    inputs = keras.Input(model.inputs[0].shape[1:])
    tensor = inputs
    for layer in model.layers:
        config = {**layer.get_config(), **({"activation": "linear"} if layer is model.layers[-1] else {})}
        fresh = type(layer).from_config(config)
        tensor = fresh(tensor)
        fresh.set_weights(layer.get_weights())
    return keras.Model(inputs, tensor)


def bench_scorecam(url: str, model_id: str, repeats: int, report: Report) -> None:
    """Issue 15: batched Score-CAM over HTTP vs tf-keras-vis's Scorecam in process (same layer, all channels)."""
    import keras
    from tf_keras_vis.scorecam import Scorecam
    from tf_keras_vis.utils.scores import CategoricalScore

    digits = sample_digits(4)
    bodies = [json.dumps({"pixels": d.tolist()}) for d in digits]
    repeats = max(10, repeats // 10)
    graph = load_graph(model_id)
    layer = graph.layers.default_gradcam_layer
    channels = graph.layers.units(layer)
    from app.viz import scorecam

    image = digits[0][..., None]
    class_index = int(np.argmax(graph.probabilities(image[None])[0]))
    keras.utils.disable_interactive_logging()  # its Model.predict would print a progress bar on every call
    score_cam = Scorecam(functional_logits_clone(graph.model))
    with httpx.Client(timeout=120) as client:
        cases = {  # taking turns, as for Grad-CAM: a slow spell of the machine falls on all alike
            f"scorecam HTTP ({layer}: {channels} channels)": post_timer(client, f"{url}/api/models/{model_id}/gradcam?method=scorecam", bodies),
            "scorecam HTTP, fields=heatmap": post_timer(client, f"{url}/api/models/{model_id}/gradcam?method=scorecam&fields=heatmap", bodies),
            "baseline: tf-keras-vis Scorecam (in-process)": lambda: score_cam(CategoricalScore(class_index), image[None], penultimate_layer=layer),
            "scorecam method (in-process)": lambda: scorecam.attribute(graph, image, None, scorecam.Options(layer=layer)),
        }
        for name, samples in interleaved(cases, repeats).items():
            report.add(name, samples)
    report.ratio(f"scorecam HTTP ({layer}: {channels} channels)", "baseline: tf-keras-vis Scorecam (in-process)", "[target <= 0.1]")
    report.ratio("scorecam method (in-process)", "baseline: tf-keras-vis Scorecam (in-process)", "[like for like]")


def bench_rise(url: str, model_id: str, repeats: int, report: Report) -> None:
    """Issue 15: RISE over HTTP (default 2000 masks, batched) vs the same masks one Keras call each."""
    from app.viz import rise

    digits = sample_digits(4)
    bodies = [json.dumps({"pixels": d.tolist()}) for d in digits]
    options = rise.Options()
    with httpx.Client(timeout=300) as client:
        report.add(f"rise HTTP ({options.masks} masks)", timed(post_timer(client, f"{url}/api/models/{model_id}/saliency?method=rise", bodies), max(5, repeats // 20), warmup=1))

    graph = load_graph(model_id)
    model = graph.model
    image = digits[0][..., None]
    class_index = int(np.argmax(graph.probabilities(image[None])[0]))
    masks = rise.MaskSampler.draw(*image.shape[:2], options).masks(0, options.masks)

    def per_mask_loop():
        total = np.zeros(image.shape[:2])
        for mask in masks:
            total += float(model(image[None] * mask[None, ..., None], training=False)[0, class_index]) * mask
        return total / (len(masks) * options.probability)

    report.add(f"baseline: per-mask Keras loop, {options.masks} masks (in-process)", timed(per_mask_loop, 3, warmup=1))
    report.add("rise method (in-process)", timed(lambda: rise.attribute(graph, image, None, options), max(5, repeats // 20), warmup=1))
    report.ratio(f"rise HTTP ({options.masks} masks)", f"baseline: per-mask Keras loop, {options.masks} masks (in-process)", "[target <= 0.1]")


def bench_occlusion(url: str, model_id: str, repeats: int, report: Report) -> None:
    """Issue 4: batched occlusion over HTTP vs one forward pass per patch, in-process."""
    digits = sample_digits(4)
    bodies = [json.dumps({"pixels": d.tolist()}) for d in digits]
    repeats = max(10, repeats // 5)
    with httpx.Client(timeout=120) as client:
        report.add("occlusion HTTP (patch 4, stride 2: 169 positions)", timed(post_timer(client, f"{url}/api/models/{model_id}/occlusion", bodies), repeats))
        report.add("occlusion HTTP (patch 2, stride 1: 729 positions)", timed(post_timer(client, f"{url}/api/models/{model_id}/occlusion?patch=2&stride=1", bodies), repeats))

    model = load_graph(model_id).model
    x = digits[0][..., None]

    def per_patch_loop(patch=4, stride=2):
        p = model(x[None], training=False)[0].numpy()
        k = int(np.argmax(p))
        grid = []
        for y in range(0, 28 - patch + 1, stride):
            for xx in range(0, 28 - patch + 1, stride):
                occluded = x.copy()
                occluded[y : y + patch, xx : xx + patch] = 0
                grid.append(p[k] - model(occluded[None], training=False)[0, k].numpy())
        return grid

    report.add("baseline: per-patch loop, 169 positions (in-process)", timed(per_patch_loop, max(5, repeats // 2), warmup=1))
    report.ratio("occlusion HTTP (patch 4, stride 2: 169 positions)", "baseline: per-patch loop, 169 positions (in-process)", "[target <= 0.2]")


def bench_saliency(url: str, model_id: str, repeats: int, report: Report) -> None:
    """Issue 4: the input-gradient methods at their defaults (no baseline asked for)."""
    bodies = [json.dumps({"pixels": d.tolist()}) for d in sample_digits(8)]
    with httpx.Client(timeout=120) as client:
        for method in ("gradient", "smoothgrad", "integrated_gradients"):
            report.add(f"saliency {method} HTTP (defaults)", timed(post_timer(client, f"{url}/api/models/{model_id}/saliency?method={method}", bodies), max(10, repeats // 4)))


# The page's engine alone, in the page: the seed model's forward pass on MNIST digits (no
# normalisation, no painting), on the main thread as the worker runs it.
FORWARD_IN_PAGE = """async ([id, digits, rounds]) => {
    const { Network } = await import("/static/js/engine/index.js");
    const spec = await (await fetch(`/api/models/${id}/browser`)).json();
    const network = new Network(spec, await (await fetch(spec.weights_url)).arrayBuffer());
    const inputs = digits.map((d) => Float32Array.from(d));
    for (const input of inputs) network.run(input);  // warm-up: the JIT compiles the kernels
    const times = [];
    for (let r = 0; r < rounds; r++) for (const input of inputs) {
        const start = performance.now();
        network.run(input);
        times.push(performance.now() - start);
    }
    return times;
}"""

# From navigation to the first drawn view: seconds, and the bytes the page moved (HTML, scripts,
# styles, the model and its weights, samples; not the live channel's frames).
COLD_START = """() => {
    const [navigation] = performance.getEntriesByType("navigation");
    const resources = performance.getEntriesByType("resource");
    const bytes = navigation.encodedBodySize + resources.reduce((sum, r) => sum + r.encodedBodySize, 0);
    return { bytes, weights: resources.filter((r) => r.name.includes("/browser/weights")).reduce((s, r) => s + r.encodedBodySize, 0) };
}"""


def placed_on_map(page, wait: bool):
    """Around an input change: wait for the page's pen-up request (its place on the map) to be
    answered, or not at all."""
    return page.expect_response(lambda r: "/embedding/place" in r.url, timeout=30_000) if wait else contextlib.nullcontext()


def bench_page(url: str, model_id: str, repeats: int, report: Report) -> None:
    """Issues 6, 13 and 26: pen move to painted view, measured in the browser: computed in the page
    (its engine in a Web Worker) against the live channel and plain HTTP, in one run.

    Two readings per move: to the moment the view's canvases hold the answer (`latencies`), and to
    the next animation frame after that (`frames`, when the compositor shows it; one 60 Hz frame is
    16.7 ms, so this one can never go below the wait for the next frame). The page's own
    Performance measures `decode` and `render` (per answer), and the engine's time per drawing in
    its worker (`computes`: normalisation and forward pass), show where the time goes. Then the
    seed model's forward pass alone in the page, and each bundled model's cold start."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM_ARGS, DIGITS, chromium_path, draw

    strokes = [DIGITS["7"], DIGITS["0"], DIGITS["1"]]
    # Each digit is drawn, then the page's pen-up request (the drawing's place on the map and its
    # nearest digits) is answered before the next digit starts, as a student looks at where the
    # digit landed. The server shares this machine's two cores with the browser here (in a class it
    # is another machine), so with the next digit 300 ms after pen-up its pen-up work can run beside
    # the next stroke's first moves; that older pacing is measured too, for the page's own engine.
    paths = (
        ("page: pen move -> view, computed in the page", "", True),
        ("page: pen move -> view, computed in the page, next digit 300 ms after pen-up", "", False),
        ("page: pen move -> view, live channel", "&engine=server", True),
        ("baseline: page over HTTP, one POST per update", "&engine=server&transport=http", True),
    )
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        for label, query, after_pen_up in paths:
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(f"{url}/?model={model_id}{query}")
            page.wait_for_selector("[data-testid=layer]")
            page.wait_for_function("() => window.convnetVis.answers > 0")
            # steady state: the reference map (computed once per server process) is ready
            page.wait_for_function("() => document.querySelector('#map-status').textContent.includes('t-SNE')", timeout=120_000)
            with placed_on_map(page, after_pen_up):
                page.click("[data-testid=clear]")  # the page opens with a sample digit: draw on a blank pad
            page.wait_for_timeout(300)
            page.evaluate("() => { window.convnetVis.latencies = []; window.convnetVis.frames = []; window.convnetVis.computes = []; window.convnetVis.stages = []; performance.clearMeasures(); }")
            rounds = max(1, repeats // 100)
            for _ in range(rounds):
                for stroke in strokes:
                    with placed_on_map(page, after_pen_up):
                        draw(page, stroke, pace=1 / 60)  # a pen reports about 60 moves a second
                    page.wait_for_timeout(300)
                    with placed_on_map(page, after_pen_up):  # the cleared pad is placed too
                        page.click("[data-testid=clear]")
            page.wait_for_timeout(500)
            report.add(label, page.evaluate("window.convnetVis.latencies"))
            report.add(f"{label.split(',')[-1].strip()}: ... -> next animation frame", page.evaluate("window.convnetVis.frames"))
            if not query and after_pen_up:
                report.add("  page engine per drawing (worker: field + forward)", page.evaluate("window.convnetVis.computes"))
                stages = page.evaluate("window.convnetVis.stages")
                for name, start, end in (("to the worker (posted -> taken)", "posted", "began"), ("in the worker (taken -> answered)", "began", "sent"),
                                         ("back to the page (answered -> taken)", "sent", "got")):
                    report.add(f"  {name}", [stage[end] - stage[start] for stage in stages])
            measures = () if not after_pen_up else ("render",) if not query else ("round-trip", "decode", "render") if query == "&engine=server" else ()
            for measure in measures:
                report.add(f"  page {measure} per answer{' (live)' if query else ''}", page.evaluate(f"performance.getEntriesByName('{measure}').map(e => e.duration)"))
            page.close()

        context = browser.new_context(bypass_csp=True)  # the engine's modules imported on a JSON answer's page
        page = context.new_page()
        page.goto(f"{url}/api/health")
        digits = [d.reshape(-1).tolist() for d in sample_digits(50)]
        for model in ("mnist-convnet", "mnist-lenet"):
            page_times = page.evaluate(FORWARD_IN_PAGE, [model, digits, max(2, repeats // 50)])
            report.add(f"page engine forward pass alone, {model}", page_times)
        context.close()

        for model in ("mnist-convnet", "mnist-lenet"):
            for label, query in (("computed in the page", ""), ("live channel", "&engine=server")):
                context = browser.new_context(viewport={"width": 1440, "height": 900})  # an empty cache
                page = context.new_page()
                start = time.perf_counter()
                page.goto(f"{url}/?model={model}{query}")
                page.wait_for_function("() => window.convnetVis.answers > 0", timeout=60_000)
                seconds = time.perf_counter() - start
                moved = page.evaluate(COLD_START)
                print(f"  cold start {model}, {label}: {seconds:.2f} s to the first drawn view, {moved['bytes'] / 1e3:.0f} kB "
                      f"(weights {moved['weights'] / 1e3:.0f} kB)", flush=True)
                context.close()
        browser.close()
    report.ratio("page: pen move -> view, computed in the page", "page: pen move -> view, live channel", "[p95 target <= 8 ms]")
    report.ratio("page: pen move -> view, live channel", "baseline: page over HTTP, one POST per update")


def bench_overview(url: str, model_id: str, repeats: int, report: Report) -> None:
    """Issue 13: a 224x224 upload to VGG16 (random weights, built here) until its overview is drawn
    in Chromium, against the server's own answer to the same request (forward pass, reduction,
    encoding) timed from a client; and the bytes the overview moves."""
    import io

    from PIL import Image
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM_ARGS, chromium_path
    from tests.e2e.inmemory import serving, vgg16

    picture = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (224, 224, 3), dtype=np.uint8)).save(picture, format="PNG")
    body = picture.getvalue()
    rounds = max(5, repeats // 20)
    with serving({"vgg16": (vgg16(), {"name": "VGG16 (random weights)", "input_range": (0.0, 255.0)})}) as base:
        endpoint = f"{base}/api/models/vgg16/activations?dtype=uint8&max_side=16"
        with httpx.Client(timeout=120) as client:
            size = len(client.post(endpoint, files={"image": ("p.png", body, "image/png")}).content)
            report.add("VGG16 224x224 overview answer, HTTP client", timed(lambda: client.post(endpoint, files={"image": ("p.png", body, "image/png")}), rounds, warmup=1))
        print(f"  VGG16 overview answer: {size / 1e6:.2f} MB [target <= 8 MB]", flush=True)
        path = Path(tempfile.mkdtemp()) / "picture.png"
        path.write_bytes(body)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 900})
            page.goto(f"{base}/?model=vgg16")
            page.wait_for_function("() => window.convnetVis.answers > 0", timeout=60_000)
            page.evaluate("() => { window.convnetVis.files = []; }")
            for i in range(rounds):
                page.set_input_files("[data-testid=upload]", str(path))
                page.wait_for_function(f"() => window.convnetVis.files.length > {i}", timeout=60_000)
            report.add("VGG16 224x224 upload -> overview drawn, page", page.evaluate("window.convnetVis.files"))
            browser.close()
    rows = report.rows
    extra = statistics.median(rows["VGG16 224x224 upload -> overview drawn, page"]) - statistics.median(rows["VGG16 224x224 overview answer, HTTP client"])
    print(f"  page time over the server's answer (p50): {extra:.0f} ms [target <= 1000 ms]", flush=True)


def bench_filters(url: str, model_id: str, repeats: int, report: Report) -> None:
    """Issue 5: one pattern and a whole-layer atlas vs a generate_pattern-style loop per channel."""
    import tensorflow as tf


    layer, steps = "conv3", 128
    with httpx.Client(timeout=600) as client:
        seeds = iter(range(1000, 10**6))  # a new seed per request: nothing comes from the cache

        def single():
            client.get(f"{url}/api/models/{model_id}/layers/{layer}/filters/3?seed={next(seeds)}").raise_for_status()

        report.add(f"filter pattern HTTP ({layer}, {steps} steps, uncached)", timed(single, 5, warmup=1))

        def whole_layer():
            client.get(f"{url}/api/models/{model_id}/layers/{layer}/filters?seed={next(seeds)}").raise_for_status()

        atlas = timed(whole_layer, 3, warmup=1)
        channels = 64
        report.add(f"atlas HTTP, per channel ({layer}: {channels} channels batched)", [t / channels for t in atlas])
        report.add("filter pattern HTTP, cached", timed(lambda: client.get(f"{url}/api/models/{model_id}/layers/{layer}/filters/3").raise_for_status(), 20))

    graph = load_graph(model_id)
    feature_model = graph.traced.all_outputs

    def generate_pattern(filter_index: int = 3):
        # "Deep Learning with Python" generate_pattern: eager tape, loss = channel mean,
        # gradient divided by its RMS, fixed step (here as many steps as ours)
        image = tf.Variable(np.random.default_rng(0).uniform(0.4, 0.6, (1, 28, 28, 1)).astype("float32"))
        for _ in range(steps):
            with tf.GradientTape() as tape:
                activation = feature_model(image, training=False)[graph.layers.get(layer).output_index]
                loss = tf.reduce_mean(activation[..., filter_index])
            gradient = tape.gradient(loss, image)
            gradient /= tf.sqrt(tf.reduce_mean(tf.square(gradient))) + 1e-5
            image.assign_add(gradient * 0.01)
        return image.numpy()

    report.add(f"baseline: generate_pattern loop, per channel ({steps} eager steps)", timed(generate_pattern, 3, warmup=1))
    report.ratio(f"atlas HTTP, per channel ({layer}: {channels} channels batched)", f"baseline: generate_pattern loop, per channel ({steps} eager steps)", "[target <= 0.1]")
    report.ratio(f"filter pattern HTTP ({layer}, {steps} steps, uncached)", f"baseline: generate_pattern loop, per channel ({steps} eager steps)")


def bench_dataset(url: str, model_id: str, repeats: int, report: Report) -> None:
    """Issue 8: top examples, neighbours and placement, vs recomputing the reference features."""
    digits = sample_digits(8)
    bodies = [json.dumps({"pixels": d.tolist()}) for d in digits]
    with httpx.Client(timeout=300) as client:
        started = time.perf_counter()
        while (response := client.get(f"{url}/api/models/{model_id}/embedding")).status_code == 202:
            time.sleep(float(response.headers["retry-after"]))  # not shipped: computed meanwhile
        response.raise_for_status()
        report.add("map: first request (shipped, or until a computed one is there)", [(time.perf_counter() - started) * 1000])
        report.add("map: cached", timed(lambda: client.get(f"{url}/api/models/{model_id}/embedding").raise_for_status(), 20))
        report.add("top examples HTTP (conv3 unit, k=9)", timed(lambda: client.get(f"{url}/api/models/{model_id}/layers/conv3/units/5/top?k=9").raise_for_status(), repeats))
        report.add("neighbours HTTP (k=8, last hidden layer)", timed(post_timer(client, f"{url}/api/models/{model_id}/neighbors", bodies), repeats))
        report.add("place on the map HTTP", timed(post_timer(client, f"{url}/api/models/{model_id}/embedding/place", bodies), repeats))

    from app.registry import load_served_model

    served = load_served_model(PROJECT_ROOT / "models" / f"{model_id}.keras")

    def naive_neighbours():
        # recompute every reference image's features for each query, with Model.predict
        with np.load(PROJECT_ROOT / "models" / "mnist-reference.npz") as archive:
            images = (archive["x"] / 255.0).astype("float32")[..., None]
        features = served.graph.traced.all_outputs.predict(images, batch_size=500, verbose=0)[served.graph.layers.get("dense1").output_index]
        query = served.graph.traced.all_outputs.predict(digits[:1, ..., None], verbose=0)[served.graph.layers.get("dense1").output_index]
        return np.argsort(((features - query) ** 2).sum(axis=1))[:8]

    report.add("baseline: neighbours recomputing reference features", timed(naive_neighbours, 3, warmup=1))
    report.ratio("neighbours HTTP (k=8, last hidden layer)", "baseline: neighbours recomputing reference features")


CASES = {
    "activations": bench_activations,
    "gradcam": bench_gradcam,
    "scorecam": bench_scorecam,
    "rise": bench_rise,
    "occlusion": bench_occlusion,
    "saliency": bench_saliency,
    "filters": bench_filters,
    "dataset": bench_dataset,
    "page": bench_page,
    "overview": bench_overview,
    "models": None,  # bench.models.bench_models, imported when asked for
}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--requests", type=int, default=200, help="timed requests per case")
    parser.add_argument("--model", default="mnist-convnet")
    parser.add_argument("--only", nargs="*", choices=sorted(CASES), help="run only these cases")
    args = parser.parse_args(argv)
    print(f"convnet-vis benchmark: model {args.model}, {args.requests} requests per case, "
          f"{os.cpu_count()} cores, Python {sys.version.split()[0]}", flush=True)
    report = Report()
    with running_server() as url:
        for name in args.only or CASES:
            print(f"\n[{name}]", flush=True)
            if name == "models":
                from bench.models import bench_models

                bench_models(url, args.model, args.requests, report)
            else:
                CASES[name](url, args.model, args.requests, report)


if __name__ == "__main__":
    main()
