"""The live view computed in the page (issue 26): what the student sees while drawing is the page
engine's answer, equal to Keras; the server hears at most one message per stroke; drawing goes on
with the server stopped, and catches up when it returns; a model the page cannot run is still live
through the server."""

from __future__ import annotations

import base64
import time

import numpy as np
import pytest

from tests.conftest import MODELS_DIR
from tests.e2e.conftest import CHROMIUM_ARGS, DIGITS, draw  # noqa: F401  (CHROMIUM_ARGS: the fixtures' launch)

pytestmark = pytest.mark.browser

TOLERANCE = 1e-5

# The page's newest answer: the model input and every layer, as base64 float32.
ANSWER = """() => {
    const answer = window.convnetVis.answer;
    const encode = (floats) => {
        const bytes = new Uint8Array(floats.buffer, floats.byteOffset, floats.byteLength);
        let text = "";
        for (let i = 0; i < bytes.length; i += 0x8000) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 0x8000));
        return btoa(text);
    };
    const layers = {};
    for (const [name, layer] of answer.layers) if (name !== "input") layers[name] = [layer.shape, encode(layer.values)];
    return { input: [answer.input.shape, encode(answer.input.values)], layers, probabilities: answer.probabilities, computedIn: answer.computedIn || "server" };
}"""

# What each layer of the 2D view shows: its canvases' pixels, or the output's bars and labels.
CANVASES = """() => Object.fromEntries([...document.querySelectorAll("#network [data-testid=layer]")].map(
    (layer) => [layer.dataset.layer, [...layer.querySelectorAll("canvas")].map((c) => c.toDataURL()).join()
        + [...layer.querySelectorAll("[style]")].map((e) => e.style.cssText).join() + layer.innerText]))"""


def page_answer(page) -> dict:
    raw = page.evaluate(ANSWER)
    decode = lambda pair: np.frombuffer(base64.b64decode(pair[1]), "<f4").reshape(pair[0])  # noqa: E731
    return {
        "input": decode(raw["input"]),
        "layers": {name: decode(pair) for name, pair in raw["layers"].items()},
        "probabilities": np.array(raw["probabilities"]),
        "computed_in": raw["computedIn"],
    }


@pytest.fixture(scope="module")
def graphs():
    import keras

    from app.graph import ModelGraph

    return {
        model_id: ModelGraph(keras.saving.load_model(MODELS_DIR / f"{model_id}.keras", safe_mode=True))
        for model_id in ("mnist-convnet", "mnist-lenet")
    }


def assert_equals_keras(graph, answer: dict) -> None:
    result = graph.run(answer["input"][None])
    for name, node in graph.layers.nodes.items():
        expected = result["features"][node.output_index][0]
        scale = max(float(np.abs(expected).max()), 1e-12)
        error = float(np.abs(answer["layers"][name] - expected).max()) / scale
        assert error <= TOLERANCE, f"{name}: max |page - Keras| = {error:.2e} x its largest value"
    assert np.abs(answer["probabilities"] - result["probabilities"][0]).max() <= TOLERANCE


def open_page(browser, url: str, allowed_errors: tuple[str, ...] = (), listen=None):
    """`listen(page)` is called before the page loads, so it hears the page's first sockets too."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    if listen is not None:
        listen(page)
    page.errors = []
    page.on("console", lambda m: page.errors.append(m.text) if m.type == "error" and not any(a in m.text for a in allowed_errors) else None)
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.goto(url)
    page.wait_for_function("() => window.convnetVis.answers > 0", timeout=60_000)
    return context, page


def wait_for_new_answer(page, before: int) -> None:
    page.wait_for_function(f"() => window.convnetVis.answers > {before}", timeout=20_000)
    page.wait_for_timeout(100)  # the pen's last move answered too


def draw_digit(page, digit: str, on_clear=None) -> dict:
    """Clear the pad, draw `digit` and return the page's answer to it (`on_clear()` runs between
    the clear and the drawing, so what it resets hears only the drawing)."""
    before = page.evaluate("window.convnetVis.answers")
    page.click("[data-testid=clear]")
    if on_clear is not None:
        on_clear()
    draw(page, DIGITS[digit])
    wait_for_new_answer(page, before)
    return page_answer(page)


@pytest.mark.parametrize("model_id", ["mnist-convnet", "mnist-lenet"])
def test_drawing_is_computed_in_the_page_and_equals_keras(browser, live_server, graphs, model_id):
    context, page = open_page(browser, f"{live_server}/?model={model_id}")
    try:
        page.wait_for_selector("[data-testid=computed-in][data-computed-in=browser]")
        assert page.inner_text("[data-testid=computed-in]") == "in your browser"
        assert page.evaluate("window.convnetVis.engine.computedIn") == "browser"
        answer = draw_digit(page, "7")
        assert answer["computed_in"] == "browser"
        assert_equals_keras(graphs[model_id], answer)
        assert int(np.argmax(answer["probabilities"])) == 7
        # the page's field is the server's for the same pad (its digit preprocessing), within 1/255
        rows = page.evaluate("window.convnetVis.drawing.rows()")
        served = page.evaluate(
            """async ([id, pixels]) => {
                const r = await fetch(`/api/models/${id}/predict?preprocess=digit&encoding=list`, {
                    method: "POST", headers: {"content-type": "application/json"}, body: JSON.stringify({ pixels }) });
                return (await r.json()).input.data;
            }""",
            [model_id, rows],
        )
        assert np.abs(np.array(served, np.float32) - answer["input"]).max() <= 1 / 255
        assert not page.errors, page.errors
    finally:
        context.close()


def test_the_server_hears_at_most_one_message_per_stroke(browser, live_server):
    context, page = open_page(browser, f"{live_server}/?model=mnist-convnet")
    try:
        page.wait_for_selector("[data-testid=computed-in][data-computed-in=browser]")
        page.click("[data-testid=clear]")
        page.wait_for_timeout(600)  # the clear's own map placement
        sent: list[str] = []
        page.on("request", lambda request: sent.append(request.url))
        page.on("websocket", lambda socket: sent.append("websocket " + socket.url))
        strokes = [DIGITS["7"][0][:2], DIGITS["7"][0][1:], DIGITS["1"][0], [(60, 150), (220, 150)]]
        before = page.evaluate("window.convnetVis.answers")
        start = time.monotonic()
        for stroke in strokes:  # four strokes over about three seconds, with pauses between them
            draw(page, [stroke], pace=0.08)
            page.wait_for_timeout(300)
        drawing_seconds = time.monotonic() - start
        page.wait_for_timeout(800)
        answers = page.evaluate("window.convnetVis.answers") - before
        assert drawing_seconds >= 2.5
        assert answers >= 4 * len(strokes), f"only {answers} views for {len(strokes)} strokes"
        assert not any(url.startswith("websocket") for url in sent), sent
        assert len(sent) <= len(strokes), sent
        assert all("/embedding/place" in url for url in sent), sent  # the map card's one request a settled drawing
    finally:
        context.close()


def test_drawing_goes_on_with_the_server_stopped_and_catches_up(browser, graphs):
    from bench.server import Server

    import tempfile

    cache = tempfile.mkdtemp(prefix="convnet-vis-cache-")  # kept across the restart: the map is not made twice
    server = Server(cache=cache)
    server.wait_healthy()
    context = None
    try:
        context, page = open_page(browser, f"{server.url}/?model=mnist-convnet", allowed_errors=("ERR_CONNECTION_REFUSED", "Failed to load resource"))
        page.wait_for_selector("[data-testid=computed-in][data-computed-in=browser]")
        page.wait_for_selector("[data-testid=neighbours]", timeout=60_000)
        before_canvases = page.evaluate(CANVASES)
        server.stop()

        answer = draw_digit(page, "0")
        assert answer["computed_in"] == "browser"
        assert_equals_keras(graphs["mnist-convnet"], answer)
        after_canvases = page.evaluate(CANVASES)
        unchanged = [name for name in before_canvases if before_canvases[name] == after_canvases.get(name)]
        assert not unchanged, f"layers not redrawn with the server stopped: {unchanged}"
        # the map card tried the server: the page says it is away, and drawing still works
        page.wait_for_selector("[data-testid=server-away]:not([hidden])", timeout=10_000)
        assert "drawing still works" in page.inner_text("[data-testid=server-away]")
        assert page.is_hidden("#status"), page.inner_text("#status")

        # back on the same port: the page notices and places the newest drawing on the map
        placed = page.evaluate("document.querySelector('#embedding').dataset.point || ''")
        server = Server(cache=cache, port=server.port)
        server.wait_healthy()
        page.wait_for_selector("[data-testid=server-away]", state="hidden", timeout=15_000)
        page.wait_for_function(f"() => (document.querySelector('#embedding').dataset.point || '') !== {placed!r}", timeout=30_000)
        assert not page.errors, page.errors
    finally:
        if context is not None:
            context.close()
        server.stop()


# What the pad on the page shows against its ink (the drawing the page computes from), both at
# 56x56 as the page sends it: right after each pen move (a listener after the pad's own), and at
# each animation frame, before it is painted.
INK_SAMPLER = """() => {
    const pad = document.querySelector("[data-testid=draw-canvas]");
    const small = document.createElement("canvas");
    small.width = small.height = 56;
    const context = small.getContext("2d", { willReadFrequently: true });
    const shown = () => {
        context.imageSmoothingEnabled = true;
        context.imageSmoothingQuality = "high";
        context.drawImage(pad, 0, 0, 56, 56);
        const data = context.getImageData(0, 0, 56, 56).data;
        return Array.from({ length: 56 * 56 }, (_, i) => data[i * 4]).join();
    };
    const same = () => window.convnetVis.drawing ? shown() === Array.from(window.convnetVis.drawing.grey().bytes).join() : null;
    window.inkSamples = { atMove: [], atFrame: [], same };
    pad.addEventListener("onpointerrawupdate" in window ? "pointerrawupdate" : "pointermove", (event) => {
        if (event.buttons) window.inkSamples.atMove.push(same());
    });
    const frame = () => { window.inkSamples.atFrame.push(same()); window.inkSamples.frame = requestAnimationFrame(frame); };
    frame();
}"""


def longest_run(samples: list, value) -> int:
    longest = run = 0
    for sample in samples:
        run = run + 1 if sample == value else 0
        longest = max(longest, run)
    return longest


@pytest.mark.parametrize("engine", ["browser", "server"])
def test_the_pads_ink_is_shown_with_the_views_answer_to_it(browser, live_server, engine):
    """Computed in the page, a pen move's ink waits for the network's answer (a few ms) so both are
    painted in one frame, never more than one 17 ms hold behind; computed on the server, the ink
    is shown at once."""
    query = "" if engine == "browser" else "&engine=server"
    context, page = open_page(browser, f"{live_server}/?model=mnist-convnet{query}")
    try:
        page.wait_for_selector(f"[data-testid=computed-in][data-computed-in={'browser' if engine == 'browser' else 'live'}]")
        page.click("[data-testid=clear]")
        page.evaluate(INK_SAMPLER)
        before = page.evaluate("window.convnetVis.answers")
        draw(page, DIGITS["0"], pace=1 / 60)
        wait_for_new_answer(page, before)
        page.wait_for_timeout(200)
        samples = page.evaluate("() => { cancelAnimationFrame(window.inkSamples.frame); return { atMove: window.inkSamples.atMove, atFrame: window.inkSamples.atFrame }; }")
        moves, frames = samples["atMove"], [s for s in samples["atFrame"] if s is not None]
        assert len(moves) >= 50 and len(frames) >= 20, (len(moves), len(frames))
        assert page.evaluate("window.inkSamples.same()") is True  # the whole digit is on the pad
        if engine == "browser":
            assert moves.count(False) >= 0.9 * len(moves), moves  # held for the answer
            assert longest_run(frames, False) <= 2, frames  # about a frame at most, never left behind
        else:
            assert all(moves), moves  # no quick answer to wait for: shown at once
        assert not page.errors, page.errors
    finally:
        context.close()


def test_a_cleared_pad_is_answered_at_once_and_as_keras_answers_a_blank_field(browser, live_server, graphs):
    """The first clear goes through the worker; after it the cleared pad's answer (the same every
    time) is shown within the click, not after the frame the browser paints for it."""
    context, page = open_page(browser, f"{live_server}/?model=mnist-convnet")
    try:
        page.wait_for_selector("[data-testid=computed-in][data-computed-in=browser]")
        first = page.evaluate("window.convnetVis.answers")
        page.click("[data-testid=clear]")
        wait_for_new_answer(page, first)
        draw_digit(page, "7")
        within_click = page.evaluate("""() => {
            const before = window.convnetVis.answers;
            document.querySelector("[data-testid=clear]").click();
            return window.convnetVis.answers - before;
        }""")
        assert within_click == 1
        answer = page_answer(page)
        assert not answer["input"].any()
        assert_equals_keras(graphs["mnist-convnet"], answer)
        assert page.inner_text("#prediction") == "?"
        assert not page.errors, page.errors
    finally:
        context.close()


def test_a_model_the_page_cannot_run_is_live_through_the_server(browser):
    import keras
    from keras import layers as L

    from tests.e2e.inmemory import serving

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((28, 28, 1)), L.Conv2D(4, 3, strides=2, activation="relu", name="down"), L.Conv2DTranspose(2, 3, name="up"),
         L.Flatten(name="flat"), L.Dense(10, activation="softmax", name="out")]
    )
    card = {"name": "Transposed", "kind": "digits", "classes": [str(d) for d in range(10)]}
    with serving({"transposed": (model, card)}) as url:
        frames: list[str] = []

        def listen(page):
            page.on("websocket", lambda socket: socket.on("framesent", lambda payload: frames.append("sent")))

        context, page = open_page(browser, f"{url}/?model=transposed", listen=listen)
        try:
            page.wait_for_selector("[data-testid=computed-in][data-computed-in=live]")
            assert page.inner_text("[data-testid=computed-in]") == "on the server"
            assert page.evaluate("window.convnetVis.engine.computedIn") == "server"
            answer = draw_digit(page, "7", on_clear=frames.clear)  # only the drawing's frames count
            assert answer["computed_in"] == "server"
            expected = keras.ops.convert_to_numpy(model(answer["input"][None]))[0]
            assert np.abs(answer["probabilities"] - expected).max() < 1e-3  # float16 on the wire
            assert frames, "the drawing did not go over the live channel"
            assert not page.errors, page.errors
        finally:
            context.close()


def test_a_reload_works_offline_through_the_service_worker(browser, graphs):
    from bench.server import Server

    server = Server()
    server.wait_healthy()
    context = None
    try:
        context, page = open_page(browser, f"{server.url}/?model=mnist-convnet", allowed_errors=("ERR_CONNECTION_REFUSED", "Failed to load resource", "Failed to fetch"))
        page.wait_for_selector("[data-testid=computed-in][data-computed-in=browser]")
        page.wait_for_function("() => window.convnetVis.keptForOffline !== undefined", timeout=30_000)
        server.stop()
        page.reload()
        page.wait_for_function("() => window.convnetVis.answers > 0", timeout=30_000)  # the sample digit, drawn offline
        page.wait_for_selector("[data-testid=computed-in][data-computed-in=browser]")
        answer = draw_digit(page, "1")
        assert answer["computed_in"] == "browser"
        assert_equals_keras(graphs["mnist-convnet"], answer)
        assert int(np.argmax(answer["probabilities"])) == 1
        page.wait_for_selector("[data-testid=server-away]:not([hidden])", timeout=10_000)
        assert not page.errors, page.errors
    finally:
        if context is not None:
            context.close()
        server.stop()
