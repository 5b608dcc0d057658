"""The page's engine, chosen by measurement (issue 26): `python -m bench.engines [--models ID ...]
[--only ENGINE ...] [--runs N]`.

Runs the bundled convnets' forward pass in headless Chromium (Debian's, driven by Playwright, as
the browser tests do) with each candidate engine, and prints one table: the bytes each engine
downloads (its JS and wasm files as the page loads them, and the model file), its load and first
run, one forward pass's median and p95 over `--runs` passes after warm-up on 50 MNIST test digits
(tests/data), to the probabilities and (as the live view needs) to every layer's output, and its
exactness: max |engine - Keras| over the digits, divided by the largest
|value| of that layer for that digit, for the probabilities and for every layer the engine exposes.

The engines:
  tfjs-cpu, tfjs-wasm, tfjs-webgl   TensorFlow.js (@tensorflow/tfjs, @tensorflow/tfjs-backend-wasm):
                                    the same network built with tf.sequential/tf.layers and the
                                    Keras weights (no converter); webgl on SwiftShader, if it starts
  ort-wasm                          ONNX Runtime Web (onnxruntime-web), its wasm backend, on a graph
                                    written with the onnx package's helper (bench/onnx_graph.py)
  plain                             the project's own typed-array engine (static/js/engine/), on the
                                    app's GET /api/models/{id}/browser and /browser/weights; skipped
                                    with a note while static/js/engine/index.js is absent
                                    (`--plain-root DIR` takes it from another checkout)

First run: the npm packages are fetched with `npm pack` into bench/.cache/npm/ (not committed),
and a venv for the `onnx` package is made in bench/.cache/onnx-venv/ (the project's venv does not
get it; CONVNET_VIS_ONNX_PYTHON names another Python that has `onnx`). Everything is served from a
small HTTP server on 127.0.0.1; the page loads nothing else. The page is cross-origin isolated
(COOP/COEP) so that performance.now() counts in 5 us steps, not 100 us; every engine runs on one
thread (ONNX Runtime's numThreads = 1, TensorFlow.js's wasm backend told it has no threads, so it
loads the same .wasm file as on a page that is not isolated), and the forward passes run on the
page's main thread, one input at a time, each timed from the input Float32Array to the
probabilities as a Float32Array. Each case has its own page, loaded and warmed up first; the timed
passes then come in 5 blocks per case, the cases taking turns in a seeded order (each block after
10 untimed passes), so that a slow spell of the shared machine falls on every case alike. Run it
alone on the machine: `flock /work/bench.lock .venv/bin/python -m bench.engines`.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import json
import os
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from dataclasses import dataclass, field
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np

from bench.server import PROJECT_ROOT

CACHE = PROJECT_ROOT / "bench" / ".cache"
NPM_CACHE = CACHE / "npm"
ONNX_VENV = CACHE / "onnx-venv"
ONNX_VERSION = "1.23.2"

# npm package -> (version, the folder it is served from under /npm/)
PACKAGES = {
    "@tensorflow/tfjs": ("4.22.0", "tfjs"),
    "@tensorflow/tfjs-backend-wasm": ("4.22.0", "tfjs-backend-wasm"),
    "onnxruntime-web": ("1.31.1", "onnxruntime-web"),
}
MODELS = ["mnist-convnet", "mnist-lenet"]
ENGINES = ["plain", "tfjs-cpu", "tfjs-wasm", "tfjs-webgl", "ort-wasm"]
DIGITS = 50
WARMUP = 50  # untimed passes after the first one
ROUNDS = 5  # timed blocks per case, taking turns with the other cases
SETTLE = 10  # untimed passes at the start of each block


# ---------------------------------------------------------------------------------------------
# What the run needs: npm packages, a Python with onnx, the models as the engines read them


def ensure_packages() -> dict[str, Path]:
    """Each npm package unpacked under bench/.cache/npm/<folder>-<version>/ (npm pack on first run)."""
    NPM_CACHE.mkdir(parents=True, exist_ok=True)
    folders = {}
    for package, (version, name) in PACKAGES.items():
        folder = NPM_CACHE / f"{name}-{version}"
        if not (folder / "package" / "package.json").exists():
            print(f"fetching {package}@{version} with npm pack into {NPM_CACHE} (first run only)", flush=True)
            packed = subprocess.run(
                ["npm", "pack", f"{package}@{version}", "--pack-destination", str(NPM_CACHE), "--json"],
                check=True, capture_output=True, text=True,
            )
            tarball = NPM_CACHE / json.loads(packed.stdout)[0]["filename"]
            folder.mkdir(exist_ok=True)
            with tarfile.open(tarball) as archive:
                archive.extractall(folder, filter="data")
            tarball.unlink()
        folders[name] = folder / "package"
    return folders


def onnx_python() -> str:
    """A Python with the onnx package: CONVNET_VIS_ONNX_PYTHON, else bench/.cache/onnx-venv (made
    on first run: `onnx` and numpy only, kept out of the project's venv)."""
    chosen = os.environ.get("CONVNET_VIS_ONNX_PYTHON")
    if chosen:
        return chosen
    python = ONNX_VENV / "bin" / "python"
    if subprocess.run([str(python), "-c", "import onnx"], capture_output=True).returncode if python.exists() else True:
        print(f"making a venv for the onnx package in {ONNX_VENV} (first run only; the project's venv is left alone)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(ONNX_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"onnx=={ONNX_VERSION}"], check=True)
    return str(python)


def python_package_version(python: str, package: str) -> str:
    return subprocess.run([python, "-c", f"import {package}; print({package}.__version__)"], capture_output=True, text=True).stdout.strip()


@dataclass
class Prepared:
    """One model as each engine reads it, and Keras's own outputs for the digits."""

    model_id: str
    description: dict  # layers, settings and weight offsets, for tfjs and the ONNX writer
    weights: bytes  # little-endian float32, at the description's offsets
    onnx: bytes = b""
    onnx_all: bytes = b""
    spec: dict | None = None  # GET /api/models/{id}/browser, for the plain engine
    spec_weights: bytes = b""
    reference: dict[str, np.ndarray] = field(default_factory=dict)  # layer -> [digits, ...] from Keras
    layer_names: list[str] = field(default_factory=list)


def describe(model) -> tuple[dict, bytes]:
    """The layers of a Sequential convnet with their settings and weights in one float32 blob."""
    parts, offset, layers = [], 0, []
    for layer in model.layers:
        config = layer.get_config()
        kept = {key: config[key] for key in ("filters", "kernel_size", "strides", "padding", "activation", "pool_size", "units", "use_bias", "dilation_rate") if key in config}
        if config.get("data_format", "channels_last") != "channels_last":
            raise ValueError(f"{layer.name}: only channels_last is written here")
        weights = {}
        for variable in layer.weights:
            value = np.ascontiguousarray(variable.numpy(), "<f4")
            weights[variable.path.split("/")[-1]] = {"offset": offset, "shape": list(value.shape)}
            parts.append(value.tobytes())
            offset += value.nbytes
        layers.append({"name": layer.name, "class_name": type(layer).__name__, "config": kept, "weights": weights, "output_shape": list(layer.output.shape[1:])})
    description = {"name": model.name, "input_shape": list(model.inputs[0].shape[1:]), "layers": layers}
    return description, b"".join(parts)


def prepare(model_id: str, digits: np.ndarray, python: str | None, with_plain: bool, app_client) -> Prepared:
    import keras

    model = keras.saving.load_model(PROJECT_ROOT / "models" / f"{model_id}.keras", safe_mode=True)
    description, weights = describe(model)
    prepared = Prepared(model_id, description, weights)
    every_layer = keras.Model(model.inputs, [layer.output for layer in model.layers])
    outputs = every_layer.predict(digits[..., None], verbose=0, batch_size=len(digits))
    prepared.layer_names = [layer.name for layer in model.layers]
    prepared.reference = {name: np.asarray(value) for name, value in zip(prepared.layer_names, outputs)}
    if python:
        with tempfile.TemporaryDirectory(prefix="convnet-vis-onnx-") as folder:
            (Path(folder) / "description.json").write_text(json.dumps(description))
            (Path(folder) / "weights.bin").write_bytes(weights)
            for flag, attribute in (("", "onnx"), ("--all-layers", "onnx_all")):
                out = Path(folder) / f"model{flag}.onnx"
                command = [python, "-m", "bench.onnx_graph", f"{folder}/description.json", f"{folder}/weights.bin", str(out)]
                subprocess.run(command + ([flag] if flag else []), check=True, cwd=PROJECT_ROOT)
                setattr(prepared, attribute, out.read_bytes())
    if with_plain:
        answer = app_client.get(f"/api/models/{model_id}/browser")
        answer.raise_for_status()
        prepared.spec = answer.json()
        weights_answer = app_client.get(prepared.spec["weights_url"])
        weights_answer.raise_for_status()
        prepared.spec_weights = weights_answer.content
    return prepared


# ---------------------------------------------------------------------------------------------
# The loopback server: the harness page, the npm files, the project's static files, the models


class Files:
    """What the server serves, and a log of what it served (path, bytes) for the byte counts."""

    def __init__(self, packages: dict[str, Path], static_root: Path) -> None:
        self.packages = packages
        self.static_root = static_root
        self.memory: dict[str, bytes] = {"/harness.html": b"<!doctype html><meta charset=utf-8><title>engines</title><body>engines</body>"}
        self.log: list[tuple[str, int]] = []
        self.lock = threading.Lock()

    def resolve(self, path: str) -> bytes | None:
        if path in self.memory:
            return self.memory[path]
        if path.startswith("/npm/"):
            name, _, rest = path[len("/npm/") :].partition("/")
            root = self.packages.get(name)
        elif path.startswith("/static/"):
            root, rest = self.static_root / "static", path[len("/static/") :]
        else:
            return None
        if root is None:
            return None
        file = (root / rest).resolve()
        if not file.is_relative_to(root.resolve()) or not file.is_file():
            return None
        return file.read_bytes()

    def taken(self) -> list[tuple[str, int]]:
        with self.lock:
            log, self.log = self.log, []
        return log


TYPES = {".html": "text/html", ".js": "text/javascript", ".mjs": "text/javascript", ".wasm": "application/wasm", ".json": "application/json"}


def serve(files: Files) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            path = self.path.split("?")[0]
            body = files.resolve(path)
            if body is None:
                self.send_error(404)
                return
            self.send_response(200)
            self.send_header("Content-Type", TYPES.get(Path(path).suffix, "application/octet-stream"))
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Cache-Control", "no-store")
            # cross-origin isolated: performance.now() in 5 us steps instead of 100 us
            self.send_header("Cross-Origin-Opener-Policy", "same-origin")
            self.send_header("Cross-Origin-Embedder-Policy", "require-corp")
            self.end_headers()
            self.wfile.write(body)
            with files.lock:
                files.log.append((path, len(body)))

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


# ---------------------------------------------------------------------------------------------
# In the page. Each engine's loader leaves window.engine = {run(x) -> probabilities,
# runAll(x) -> [every layer's output, in the description's order], info}; load time is from the
# first library request to a network that can run (weights in place), before any forward pass.

LOAD_SCRIPT = """() => {
    window.loadScript = (src) => new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = src; script.onload = resolve; script.onerror = () => reject(new Error("cannot load " + src));
        document.head.appendChild(script);
    });
}"""

LOAD_TFJS = """async ({ backend, description, weightsUrl }) => {
    const started = performance.now();
    await window.loadScript("/npm/tfjs/dist/tf.min.js");
    if (backend === "wasm") {
        await window.loadScript("/npm/tfjs-backend-wasm/dist/tf-backend-wasm.min.js");
        tf.wasm.setWasmPaths("/npm/tfjs-backend-wasm/dist/");
        tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);  // one thread, the file a page that is not isolated gets
    }
    if (!(await tf.setBackend(backend)) || tf.getBackend() !== backend) return { error: `tf.setBackend("${backend}") failed` };
    await tf.ready();
    const buffer = await (await fetch(weightsUrl)).arrayBuffer();
    const model = tf.sequential();
    description.layers.forEach((layer, index) => {
        const c = layer.config, first = index === 0 ? { inputShape: description.input_shape } : {};
        const made = {
            Conv2D: () => tf.layers.conv2d({ ...first, name: layer.name, filters: c.filters, kernelSize: c.kernel_size, strides: c.strides,
                padding: c.padding, activation: c.activation, useBias: c.use_bias, dilationRate: c.dilation_rate }),
            MaxPooling2D: () => tf.layers.maxPooling2d({ ...first, name: layer.name, poolSize: c.pool_size, strides: c.strides, padding: c.padding }),
            Flatten: () => tf.layers.flatten({ ...first, name: layer.name }),
            Dense: () => tf.layers.dense({ ...first, name: layer.name, units: c.units, activation: c.activation, useBias: c.use_bias }),
        }[layer.class_name];
        if (!made) throw new Error("no tf.layers for " + layer.class_name);
        model.add(made());
    });
    description.layers.forEach((layer) => {
        const names = Object.keys(layer.weights);
        if (!names.length) return;
        const order = ["kernel", "bias"].filter((n) => names.includes(n));
        model.getLayer(layer.name).setWeights(order.map((n) => {
            const { offset, shape } = layer.weights[n];
            return tf.tensor(new Float32Array(buffer, offset, shape.reduce((a, b) => a * b, 1)), shape);
        }));
    });
    const everyLayer = tf.model({ inputs: model.inputs, outputs: model.layers.map((l) => l.output) });
    const shape = [1, ...description.input_shape];
    window.engine = {
        run(x) {
            const y = tf.tidy(() => model.predict(tf.tensor(x, shape)));
            const probabilities = y.dataSync();
            y.dispose();
            return probabilities;
        },
        runAll(x) {
            const ys = tf.tidy(() => everyLayer.predict(tf.tensor(x, shape)));
            const values = ys.map((y) => y.dataSync());
            tf.dispose(ys);
            return values;
        },
    };
    const loaded = performance.now() - started;
    let renderer = "";
    if (backend === "webgl") {
        const gl = tf.backend().gpgpu.gl, ext = gl.getExtension("WEBGL_debug_renderer_info");
        renderer = ext ? gl.getParameter(ext.UNMASKED_RENDERER_WEBGL) : gl.getParameter(gl.RENDERER);
    }
    return { loaded, info: `tfjs ${tf.version.tfjs} ${tf.getBackend()}` + (renderer ? ` (${renderer})` : "") };
}"""

LOAD_ORT = """async ({ modelUrl, allUrl, layerNames, inputShape }) => {
    const started = performance.now();
    const ort = await import("/npm/onnxruntime-web/dist/ort.wasm.min.mjs");
    ort.env.wasm.numThreads = 1;
    ort.env.wasm.proxy = false;
    ort.env.wasm.wasmPaths = "/npm/onnxruntime-web/dist/";
    const bytes = new Uint8Array(await (await fetch(modelUrl)).arrayBuffer());
    const options = { executionProviders: ["wasm"], graphOptimizationLevel: "all" };
    const session = await ort.InferenceSession.create(bytes, options);
    const loaded = performance.now() - started;
    const inputName = session.inputNames[0], outputName = session.outputNames[0], shape = [1, ...inputShape];
    window.ortAll = async () => {
        const all = await ort.InferenceSession.create(new Uint8Array(await (await fetch(allUrl)).arrayBuffer()), options);
        window.engine.runAll = async (x) => {
            const out = await all.run({ [inputName]: new ort.Tensor("float32", x, shape) });
            return layerNames.map((name) => out[name].data);
        };
    };
    window.engine = {
        async run(x) {
            const out = await session.run({ [inputName]: new ort.Tensor("float32", x, shape) });
            return out[outputName].data;
        },
    };
    return { loaded, info: `onnxruntime-web ${ort.env.versions.web} wasm, ${ort.env.wasm.numThreads} thread` };
}"""

LOAD_PLAIN = """async ({ specUrl, weightsUrl, layerNames }) => {
    const started = performance.now();
    const { Network } = await import("/static/js/engine/index.js");
    const spec = await (await fetch(specUrl)).json();
    const buffer = await (await fetch(weightsUrl)).arrayBuffer();
    const net = typeof Network.fromSpec === "function" ? Network.fromSpec(spec, buffer) : new Network(spec, buffer);
    const loaded = performance.now() - started;
    const data = (output) => (output && output.data !== undefined ? output.data : output);
    window.engine = {
        run(x) { return net.run(x).probabilities; },
        runAll(x) {
            const { outputs } = net.run(x);
            return layerNames.map((name) => data(outputs.get(name)));
        },
    };
    return { loaded, info: "static/js/engine (plain typed arrays)" };
}"""

FIRST_RUNS = """async ({ inputs, warmup }) => {
    window.xs = inputs.map((text) => new Float32Array(Uint8Array.from(atob(text), (c) => c.charCodeAt(0)).buffer));
    const started = performance.now();
    await window.engine.run(window.xs[0]);
    const firstMs = performance.now() - started;
    for (let i = 0; i < warmup; i++) await window.engine.run(window.xs[i % window.xs.length]);
    const probabilities = [];
    for (const x of window.xs) probabilities.push(Array.from(await window.engine.run(x)));
    return { firstMs, probabilities, isolated: self.crossOriginIsolated };
}"""

# One block of timed passes; each block starts with `settle` untimed ones (the page sat idle while
# the other cases took their turn).
TIME_BLOCK = """async ({ runs, settle, start, every }) => {
    const engine = window.engine, xs = window.xs, pass = every ? (x) => engine.runAll(x) : (x) => engine.run(x);
    for (let i = 0; i < settle; i++) await pass(xs[i % xs.length]);
    const samples = [];
    for (let i = 0; i < runs; i++) {
        const x = xs[(start + i) % xs.length];
        const started = performance.now();
        await pass(x);
        samples.push(performance.now() - started);
    }
    return samples;
}"""

# The engine's every-layer pass, ready and warmed up (ONNX Runtime: a second session, on the graph
# with every layer as an output); not counted in the load.
PREPARE_ALL = """async ({ warmup }) => {
    if (window.ortAll) await window.ortAll();
    for (let i = 0; i < warmup; i++) await window.engine.runAll(window.xs[i % window.xs.length]);
}"""

RUN_ALL = """async () => {
    const xs = window.xs, results = [];
    for (const x of xs) {
        const parts = await window.engine.runAll(x);
        const all = new Float32Array(parts.reduce((n, p) => n + p.length, 0));
        let at = 0;
        for (const part of parts) { all.set(part, at); at += part.length; }
        const bytes = new Uint8Array(all.buffer);
        let text = "";
        for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
        results.push(btoa(text));
    }
    return results;
}"""


# ---------------------------------------------------------------------------------------------
# One engine on one model


@dataclass
class Row:
    model_id: str
    engine: str
    info: str = ""
    library_bytes: int = 0
    library_gzip: int = 0
    model_bytes: int = 0
    load_ms: float = float("nan")
    first_ms: float = float("nan")
    samples: list[float] = field(default_factory=list)  # forward passes to the probabilities
    every_samples: list[float] = field(default_factory=list)  # forward passes to every layer's output
    probability_error: float = float("nan")
    layer_error: float = float("nan")
    worst_layer: str = ""
    agree: int = 0
    note: str = ""
    files: list[tuple[str, int]] = field(default_factory=list)


@lru_cache(maxsize=None)
def gzip_size(files: Files, path: str) -> int:
    return len(gzip.compress(files.resolve(path) or b"", compresslevel=9))


def relative_error(got: np.ndarray, expected: np.ndarray) -> float:
    return float(np.abs(got.astype(np.float64) - expected).max()) / max(float(np.abs(expected).max()), 1e-12)


class Case:
    """One engine on one model in its own page: loaded, warmed up, then timed in blocks."""

    def __init__(self, browser, base: str, files: Files, prepared: Prepared, engine: str, inputs: list[str]) -> None:
        self.row = Row(prepared.model_id, engine)
        self.prepared, self.inputs, self.files = prepared, inputs, files
        self.context = browser.new_context()
        self.page = self.context.new_page()
        self.errors: list[str] = []
        self.page.on("pageerror", lambda error: self.errors.append(str(error)))
        self.page.goto(base + "/harness.html")
        self.page.evaluate(LOAD_SCRIPT)

    def load(self) -> bool:
        """Load the engine and the model, run once (timed) and WARMUP times; the probabilities."""
        row, prepared = self.row, self.prepared
        prefix = f"/model/{prepared.model_id}"
        if row.engine.startswith("tfjs"):
            script, argument = LOAD_TFJS, {"backend": row.engine.split("-")[1], "description": prepared.description, "weightsUrl": f"{prefix}/weights.bin"}
        elif row.engine == "ort-wasm":
            script, argument = LOAD_ORT, {"modelUrl": f"{prefix}/model.onnx", "allUrl": f"{prefix}/all.onnx", "layerNames": prepared.layer_names,
                                          "inputShape": prepared.description["input_shape"]}
        else:
            script, argument = LOAD_PLAIN, {"specUrl": f"{prefix}/browser.json", "weightsUrl": f"{prefix}/browser.bin", "layerNames": prepared.layer_names}
        self.files.taken()
        loaded = self.page.evaluate(script, argument)
        if "error" in loaded:
            row.note = loaded["error"]
            return False
        row.load_ms, row.info = loaded["loaded"], loaded["info"]
        first = self.page.evaluate(FIRST_RUNS, {"inputs": self.inputs, "warmup": WARMUP})
        row.files = self.files.taken()  # everything the load and the first runs fetched (a backend may fetch lazily)
        if not first["isolated"]:
            raise RuntimeError("the page is not cross-origin isolated: its timer counts in 100 us steps")
        row.first_ms = first["firstMs"]
        for path, size in row.files:
            if path.startswith("/model/"):
                row.model_bytes += size
            else:
                row.library_bytes += size
                row.library_gzip += gzip_size(self.files, path)
        probabilities = np.asarray(first["probabilities"], np.float32)
        expected = prepared.reference[prepared.layer_names[-1]]
        row.probability_error = max(relative_error(p, e) for p, e in zip(probabilities, expected))
        row.agree = int((probabilities.argmax(1) == expected.argmax(1)).sum())
        self.page.evaluate(PREPARE_ALL, {"warmup": WARMUP})
        self.files.taken()
        return True

    def time_block(self, runs: int) -> None:
        """`runs` timed passes to the probabilities, then `runs` to every layer's output."""
        self.row.samples += self.page.evaluate(TIME_BLOCK, {"runs": runs, "settle": SETTLE, "start": len(self.row.samples), "every": False})
        self.row.every_samples += self.page.evaluate(TIME_BLOCK, {"runs": runs, "settle": SETTLE, "start": len(self.row.every_samples), "every": True})

    def every_layer(self) -> None:
        """Every layer's output for each digit against Keras's (the ONNX graph with every layer
        as an output is a second session; TensorFlow.js a tf.model with every layer's output)."""
        row, prepared = self.row, self.prepared
        results = self.page.evaluate(RUN_ALL)
        worst: dict[str, float] = {}
        for i, text in enumerate(results):
            flat, at = np.frombuffer(base64.b64decode(text), "<f4"), 0
            for name in prepared.layer_names:
                expected = prepared.reference[name][i]
                got = flat[at : at + expected.size].reshape(expected.shape)
                at += expected.size
                worst[name] = max(worst.get(name, 0.0), relative_error(got, expected))
            if at != flat.size:
                raise RuntimeError(f"{row.engine}: {flat.size} values for {at} expected")
        row.worst_layer = max(worst, key=worst.get)
        row.layer_error = worst[row.worst_layer]
        if self.errors:
            row.note = "; ".join(self.errors)[:200]

    def close(self) -> None:
        self.context.close()


# ---------------------------------------------------------------------------------------------


def kib(size: int) -> str:
    return f"{size / 1024:,.0f} KiB" if size < 1024 * 1024 else f"{size / 1024 / 1024:,.2f} MiB"


def print_table(rows: list[Row]) -> None:
    header = ["model", "engine", "JS+wasm", "(gzip -9)", "model file", "load ms", "1st run", "p50 ms", "p95 ms", "all p50", "all p95", "probs err", "layers err (worst)", "argmax"]
    lines = [header]
    for row in rows:
        if not row.samples:
            lines.append([row.model_id, row.engine, "-", "-", "-", "-", "-", "-", "-", "-", "-", "-", f"skipped: {row.note}", "-"])
            continue
        lines.append([
            row.model_id, row.engine, kib(row.library_bytes), kib(row.library_gzip), kib(row.model_bytes),
            f"{row.load_ms:.0f}", f"{row.first_ms:.2f}", f"{statistics.median(row.samples):.3f}", f"{np.percentile(row.samples, 95):.3f}",
            f"{statistics.median(row.every_samples):.3f}", f"{np.percentile(row.every_samples, 95):.3f}",
            f"{row.probability_error:.1e}", f"{row.layer_error:.1e} ({row.worst_layer})", f"{row.agree}/{DIGITS}",
        ])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    for index, line in enumerate(lines):
        print("  ".join(cell.ljust(width) if i < 2 else cell.rjust(width) for i, (cell, width) in enumerate(zip(line, widths))))
        if index == 0:
            print("  ".join("-" * width for width in widths))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.engines", description=__doc__.split("\n")[0])
    parser.add_argument("--models", nargs="+", default=MODELS, choices=MODELS)
    parser.add_argument("--only", nargs="+", default=ENGINES, choices=ENGINES, metavar="ENGINE", help=" ".join(ENGINES))
    parser.add_argument("--runs", type=int, default=200, help="timed forward passes per engine and model (after warm-up)")
    parser.add_argument("--plain-root", type=Path, default=PROJECT_ROOT, help="the checkout whose static/js/engine/ is the plain engine")
    parser.add_argument("--show-files", action="store_true", help="list each engine's downloads")
    args = parser.parse_args(argv)

    started = time.monotonic()
    print(time.strftime("bench.engines at %Y-%m-%d %H:%M:%S %Z"), flush=True)
    packages = ensure_packages()
    python = onnx_python() if "ort-wasm" in args.only else None

    engines = list(args.only)
    plain_note = ""
    if "plain" in engines and not (args.plain_root / "static" / "js" / "engine" / "index.js").exists():
        plain_note = f"no {args.plain_root}/static/js/engine/index.js yet"
    app_client = None
    if "plain" in engines and not plain_note:
        from fastapi.testclient import TestClient

        from app.config import Settings
        from app.main import create_app

        settings = Settings(models_dir=PROJECT_ROOT / "models", cache_dir=Path(tempfile.mkdtemp(prefix="convnet-vis-engines-")))
        app_client = TestClient(create_app(settings)).__enter__()
        if app_client.get(f"/api/models/{args.models[0]}/browser").status_code != 200:
            plain_note = "this checkout's app has no GET /api/models/{id}/browser"
    if plain_note:
        print(f"note: the plain engine is skipped: {plain_note} (it runs as soon as that file exists; or --plain-root DIR)", flush=True)

    with np.load(PROJECT_ROOT / "tests" / "data" / "mnist_test_300.npz") as archive:
        digits = (archive["x"][:DIGITS] / 255.0).astype("float32")

    files = Files(packages, args.plain_root)
    prepared = {}
    for model_id in args.models:
        prepared[model_id] = model = prepare(model_id, digits, python, "plain" in engines and not plain_note, app_client)
        prefix = f"/model/{model_id}"
        files.memory[f"{prefix}/weights.bin"] = model.weights
        files.memory[f"{prefix}/model.onnx"] = model.onnx
        files.memory[f"{prefix}/all.onnx"] = model.onnx_all
        if model.spec:
            files.memory[f"{prefix}/browser.json"] = json.dumps(model.spec).encode()
            files.memory[f"{prefix}/browser.bin"] = model.spec_weights
    if app_client is not None:
        app_client.__exit__(None, None, None)

    versions = {package: version for package, (version, _) in PACKAGES.items()}
    print("versions: " + ", ".join(f"{p} {v}" for p, v in versions.items()) + (f", onnx (Python) {python_package_version(python, 'onnx')}" if python else ""))

    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM_ARGS, chromium_path

    server = serve(files)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    rows = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
            print(f"chromium {browser.version}, headless; {args.runs} timed passes per case after {WARMUP} warm-up, {DIGITS} MNIST test digits", flush=True)
            cases: list[Case] = []
            inputs = [base64.b64encode(np.ascontiguousarray(d, "<f4").tobytes()).decode() for d in digits]
            for model_id in args.models:
                for engine in engines:
                    if engine == "plain" and plain_note:
                        rows.append(Row(model_id, engine, note=plain_note))
                        continue
                    case = Case(browser, base, files, prepared[model_id], engine, inputs)
                    rows.append(case.row)
                    if not case.load():
                        print(f"  {model_id} {engine}: skipped, {case.row.note}", flush=True)
                        case.close()
                        continue
                    cases.append(case)
                    print(f"  {model_id} {engine}: {case.row.info}", flush=True)
                    if args.show_files:
                        for path, size in case.row.files:
                            print(f"      {size:>10,d}  {path}")
            # the timed passes: every case in each round, in the round's own seeded order, so that
            # a slow spell of the shared machine falls on all of them alike
            order = random.Random(0)
            for round_index in range(ROUNDS):
                share = args.runs // ROUNDS + (1 if round_index < args.runs % ROUNDS else 0)
                for case in order.sample(cases, len(cases)):
                    case.time_block(share)
            for case in cases:
                case.every_layer()
                case.close()
            browser.close()
    finally:
        server.shutdown()
    print()
    print_table(rows)
    print(
        f"\n(in {time.monotonic() - started:.0f} s; p50/p95: one pass to the probabilities; all p50/p95: one pass to every layer's output,"
        f" as the live view needs; errors: max |engine - Keras| / max |Keras| of the layer, per digit, worst of {DIGITS})"
    )


if __name__ == "__main__":
    main()
