"""Reliability, second round (issue 12): bounded decode memory, a loop that never blocks, caches
that heal, deep JSON, binary frames, long handshakes, the t-SNE stampede, readiness, shutdown.

Timing and memory claims are checked against the real server in its own process
(`bench.server.running_server`), serving the bundled convnet with a 600-image reference set so a
cold t-SNE map takes about 2 s instead of 13.
"""

from __future__ import annotations

import base64
import io
import json
import logging
import os
import signal
import socket
import threading
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
from fastapi.testclient import TestClient
from PIL import Image, ImageDraw
from websockets.sync.client import connect

from app.cache import ArrayCache
from app.config import Settings
from app.inputs import decode_image
from app.main import create_app
from app.registry import ModelRegistry
from bench.server import rss_bytes, running_server
from tests.conftest import MODELS_DIR, arr, assert_error, client_for, until_ready

PIXELS = {"pixels": np.zeros((28, 28)).tolist()}
# Documented in the README: what decoding 8 huge PNGs at once may add to a worker's resident memory.
DECODE_MEMORY_BOUND = 400 * 2**20


@pytest.fixture(scope="module")
def small_models(tmp_path_factory) -> Path:
    """The bundled convnet with the first 600 images of its reference set."""
    folder = tmp_path_factory.mktemp("small-models")
    os.symlink(MODELS_DIR / "mnist-convnet.keras", folder / "mnist-convnet.keras")
    card = json.loads((MODELS_DIR / "mnist-convnet.json").read_text())
    (folder / "mnist-convnet.json").write_text(json.dumps({**card, "reference": "small-reference.npz"}))
    with np.load(MODELS_DIR / "mnist-reference.npz") as archive:
        np.savez(folder / "small-reference.npz", **{name: archive[name][:600] for name in archive.files})
    return folder


@pytest.fixture(scope="module")
def server(small_models):
    with running_server(small_models) as url:
        yield url


@pytest.fixture(scope="module")
def huge_png() -> bytes:
    """The reported file: a PNG of about 140 KB that decodes to 7999x5000 RGB (a drawn 7)."""
    image = Image.new("RGB", (7999, 5000), "white")
    ImageDraw.Draw(image).line([(2800, 900), (5200, 900), (3600, 4200)], fill=(20, 20, 30), width=380)
    buffer = io.BytesIO()
    image.save(buffer, "PNG", optimize=True)
    assert len(buffer.getvalue()) < 200_000
    return buffer.getvalue()


def peak_rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))


# ------------------------------------------------------------------ 1. decoding, bounded
def _encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _scene(width: int, height: int) -> Image.Image:
    """Smooth gradients plus hard edges, so block averages are easy to get wrong at strip seams."""
    ys, xs = np.mgrid[0:height, 0:width]
    rgb = np.stack([xs * 255 // width, ys * 255 // height, ((xs // 37 + ys // 23) % 2) * 255], -1).astype(np.uint8)
    return Image.fromarray(rgb, "RGB")


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "LA", "L", "P", "1", "I;16", "CMYK"])
def test_reduced_decoding_equals_block_means_of_the_full_image(mode):
    """Reduced in strips, in the file's own mode: the same as averaging 4x4 blocks of the full decode."""
    scene = _scene(1500, 1401)  # several strips, and a partial last row of blocks
    if mode == "I;16":
        image = Image.fromarray((np.asarray(scene.convert("L"), np.uint16) * 257).astype(np.uint16))
    elif mode == "P":
        image = scene.convert("P", palette=Image.Palette.ADAPTIVE)
    elif mode in ("RGBA", "LA"):
        image = scene.convert(mode)
        image.putalpha(Image.fromarray(np.asarray(scene)[..., 0]))
    else:
        image = scene.convert(mode)
    data = _encoded(image, "JPEG", quality=100) if mode == "CMYK" else _encoded(image, "PNG")
    full = decode_image(data, Settings())
    reduced = decode_image(data, Settings(), lambda width, height: max(width, height) // 375)
    assert reduced.shape == (351, 375, full.shape[-1])
    blocks = full[:1400].reshape(350, 4, 375, 4, -1).mean(axis=(1, 3))
    error = np.abs(reduced[:350] - blocks)
    if mode == "CMYK":  # a JPEG is decoded at 1/4 scale by the codec itself (draft), not averaged
        assert error.mean() < 0.02
    elif mode in ("RGBA", "LA"):  # averaged premultiplied, then composited: close, not equal
        assert error.mean() < 0.02
    else:
        assert error.max() < 1.5 / 255


def test_reduced_decoding_keeps_exif_orientation():
    upright = _scene(1600, 1200)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display", as phones write it
    data = _encoded(upright.transpose(Image.Transpose.ROTATE_90), "JPEG", exif=exif, quality=95)
    shrink = lambda width, height: max(width, height) // 400  # noqa: E731
    reduced = decode_image(data, Settings(), shrink)
    expected = decode_image(_encoded(upright, "JPEG", quality=95), Settings(), shrink)
    assert reduced.shape == expected.shape == (300, 400, 3)
    assert np.abs(reduced - expected).mean() < 0.02


def test_a_huge_file_sent_with_preprocess_none_is_refused_before_decoding(client, huge_png):
    response = client.post("/api/models/mnist-convnet/predict?preprocess=none", content=huge_png,
                           headers={"content-type": "image/png"})
    assert_error(response, 422)
    assert "7999x5000" in response.json()["detail"]


# --------------------------------------------- 1 + 2. huge PNGs: bounded memory, a free loop
def test_huge_pngs_keep_memory_bounded_and_health_answering(server, huge_png):
    """8 at once (4 over HTTP, 4 on live channels): worker RSS stays under the README's bound,
    /api/health keeps answering while they are decoded, and every answer is right.

    No fixed number of milliseconds: the yardstick is one such request alone, timed in this test on
    this machine at this moment (a busy machine slows both alike). Decoding on the event loop holds
    a health poll for up to a whole decode, so most polls would wait about half a request."""
    with httpx.Client(timeout=60) as client:  # warm up: the first decode loads Pillow's plugins
        assert client.post(server + "/api/models/mnist-convnet/predict", content=huge_png,
                           headers={"content-type": "image/png"}).status_code == 200
        alone = []
        for _ in range(3):
            started = time.perf_counter()
            assert client.post(server + "/api/models/mnist-convnet/predict", content=huge_png,
                               headers={"content-type": "image/png"}).status_code == 200
            alone.append(time.perf_counter() - started)
    one_request = min(alone)
    time.sleep(1)
    with open(f"/proc/{server.pid}/clear_refs", "w") as refs:
        refs.write("5")  # resets the peak (VmHWM) to the current RSS
    baseline = rss_bytes(server.pid)
    answers: list = []
    data_url = "data:image/png;base64," + base64.b64encode(huge_png).decode()
    url = server + "/api/models/mnist-convnet/predict"
    live = server.replace("http://", "ws://") + "/api/models/mnist-convnet/live"

    def over_http():
        with httpx.Client(timeout=120) as client:
            response = client.post(url, content=huge_png, headers={"content-type": "image/png"})
            answers.append(response.json()["prediction"]["top"][0]["label"] if response.status_code == 200 else response.text)

    def over_live_channel():
        with connect(live, max_size=2**24, open_timeout=30) as socket_:
            socket_.send(json.dumps({"seq": 1, "image": data_url, "layers": ["output"]}))
            answer = json.loads(socket_.recv(timeout=120))
            answers.append(answer["prediction"]["top"][0]["label"] if "prediction" in answer else answer)

    workers = [threading.Thread(target=over_http) for _ in range(4)] + [threading.Thread(target=over_live_channel) for _ in range(4)]
    latencies = []
    with httpx.Client(timeout=10) as client:
        client.get(server + "/api/health")  # the poller's own connection is open before the load starts
        for worker in workers:
            worker.start()
        while any(worker.is_alive() for worker in workers):
            started = time.perf_counter()
            assert client.get(server + "/api/health").status_code == 200
            latencies.append(time.perf_counter() - started)
            time.sleep(0.02)
    for worker in workers:
        worker.join()
    peak = peak_rss_bytes(server.pid) - baseline
    latencies.sort()
    p90 = latencies[int(len(latencies) * 0.9)]
    print(f"health: {len(latencies)} polls, p90 {p90 * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms; one request "
          f"alone {one_request * 1000:.0f} ms; RSS peak +{peak / 2**20:.0f} MiB over {baseline / 2**20:.0f} MiB")
    assert answers == ["7"] * 8
    # Decoding on the event loop stalled it for seconds (7.5 s for two such files before): then the
    # loop is busy with one decode after another and a poll waits for the rest of the current one
    # (half a request on average, 90% of one at the 90th percentile). Not decoding there, 9 polls
    # in 10 come back in well under a quarter of one request, however busy the machine.
    assert len(latencies) >= 10, latencies
    assert p90 < one_request / 4, (one_request, latencies)
    assert peak < DECODE_MEMORY_BOUND, f"RSS rose by {peak / 2**20:.0f} MiB"


# ------------------------------------------------------------------------ 4. deep JSON
DEEP = "[" * 10_000 + "]" * 10_000


@pytest.mark.parametrize("body", [DEEP, '{"pixels": ' + DEEP + "}", '{"image": "x", "extra": ' + DEEP + "}"])
def test_deeply_nested_json_is_a_422(client, body):
    response = client.post("/api/models/mnist-convnet/predict", content=body, headers={"content-type": "application/json"})
    assert_error(response, 422)
    assert "nested too deeply" in response.json()["detail"]


def test_deeply_nested_json_on_the_live_channel_keeps_it_open(client):
    with client.websocket_connect("/api/models/mnist-convnet/live") as socket_:
        socket_.send_text('{"seq": 1, "pixels": ' + DEEP + "}")
        answer = socket_.receive_json()
        assert answer["error"]["status"] == 422 and "nested too deeply" in answer["error"]["detail"]
        socket_.send_text(json.dumps({"seq": 2, **PIXELS}))
        assert socket_.receive_json()["seq"] == 2


# ----------------------------------------------------- 5. binary frames, long handshakes
def test_a_malformed_binary_frame_gets_an_error_and_the_channel_stays_open(client):
    """Binary frames carry a drawing's pixels (tests/test_live_binary.py); anything else is refused."""
    with client.websocket_connect("/api/models/mnist-convnet/live") as socket_:
        socket_.send_bytes(b"\x89PNG\r\n\x1a\n binary")
        answer = socket_.receive_json()
        assert answer["error"]["status"] == 422 and "Binary frame" in answer["error"]["detail"]
        socket_.send_text(json.dumps({"seq": 3, **PIXELS}))
        assert socket_.receive_json()["seq"] == 3


def _handshake(base: str, path: str, extra_header: str = "") -> bytes:
    host = base.removeprefix("http://")
    address, port = host.rsplit(":", 1)
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\nSec-WebSocket-Version: 13\r\n{extra_header}\r\n"
    )
    with socket.create_connection((address, int(port)), timeout=5) as connection:
        connection.sendall(request.encode())
        received = b""
        while chunk := connection.recv(65536):  # until the server closes; a timeout fails the test
            received += chunk
    return received


@pytest.mark.parametrize("size", [9_000, 70_000])
def test_an_oversized_handshake_is_answered_and_closed(server, size):
    """uvicorn 0.54 never sent the 414 it logged: the client hung (app/ws_protocol.py)."""
    answer = _handshake(server, "/api/models/mnist-convnet/live?x=" + "a" * size)
    assert answer.startswith(b"HTTP/1.1 414"), answer[:100]
    header = _handshake(server, "/api/models/mnist-convnet/live", f"X-Big: {'b' * 9000}\r\n")
    assert header.startswith(b"HTTP/1.1 431"), header[:100]


def test_a_foreign_origin_cannot_open_the_live_channel(server):
    live = server.replace("http://", "ws://") + "/api/models/mnist-convnet/live"
    with pytest.raises(Exception) as refused:
        connect(live, origin="http://evil.example", open_timeout=10)
    assert "403" in str(refused.value)
    with connect(live, origin=server, open_timeout=10) as socket_:  # the page's own origin
        socket_.send(json.dumps({"seq": 1, **PIXELS, "layers": ["output"]}))
        assert json.loads(socket_.recv(timeout=30))["seq"] == 1


# --------------------------------------------------------------- 6. the t-SNE stampede
def test_a_stampede_on_a_cold_map_leaves_the_drawing_path_fast(server):
    """50 first requests for the map at once (more than the 40 threads of the drawing path's pool):
    each is answered 202 at once and comes back after Retry-After; they share one computation, and
    /predict keeps answering meanwhile instead of waiting for the map."""
    answers: list = []
    first: list = []

    def ask_for_the_map():
        with httpx.Client(timeout=120) as client:
            first.append(client.get(server + "/api/models/mnist-convnet/embedding"))
            answers.append(until_ready(client.get, server + "/api/models/mnist-convnet/embedding"))

    stampede = [threading.Thread(target=ask_for_the_map) for _ in range(50)]
    began = time.perf_counter()
    for thread in stampede:
        thread.start()
    time.sleep(0.5)  # every request is in
    latencies = []
    with httpx.Client(timeout=30) as client:
        while any(thread.is_alive() for thread in stampede):
            started = time.perf_counter()
            assert client.post(server + "/api/models/mnist-convnet/predict", json=PIXELS).status_code == 200
            latencies.append(time.perf_counter() - started)
            time.sleep(0.05)
    for thread in stampede:
        thread.join()
    map_seconds = time.perf_counter() - began
    print(f"predict during the stampede: {len(latencies)} requests, max {max(latencies) * 1000:.1f} ms, "
          f"median {np.median(latencies) * 1000:.1f} ms; the map took {map_seconds:.1f} s")
    assert sorted({response.status_code for response in first}) == [202]  # nobody held for the computation
    assert all(response.headers["retry-after"] == "2" for response in first)
    assert [response.status_code for response in answers] == [200] * 50
    assert len({response.content for response in answers}) == 1  # one computation, one answer
    assert arr(answers[0].json()["points"]).shape == (600, 2)
    # Starved, /predict waited for the whole map (20 s before this fix): one request for the map's
    # whole time. Measured against the map's own time in this run, not a fixed limit, so a busy
    # machine (every request slower, the map too) does not fail it: /predict kept answering
    # throughout, none of its requests waited a quarter of the map, the typical one a fiftieth.
    assert len(latencies) >= 5, latencies
    assert max(latencies) < map_seconds / 4, (max(latencies), map_seconds)
    assert np.median(latencies) < map_seconds / 50, (np.median(latencies), map_seconds)


# ------------------------------------------------------------------- 3. caches that heal
def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(os.urandom(3000))


def _wrong_names(path: Path) -> None:
    np.savez(path, something_else=np.zeros(3))


def _wrong_shapes(path: Path) -> None:
    with np.load(path) as archive:
        arrays = {name: archive[name] for name in archive.files}
    np.savez(path, **{name: values.reshape(-1)[:-1] for name, values in arrays.items()})


@pytest.fixture(scope="module")
def small_registry(small_models):
    return ModelRegistry.from_settings(Settings(models_dir=small_models))


CACHED = {
    "pattern": ("/api/models/mnist-convnet/layers/conv2/filters/3?steps=4", "filters"),
    "atlas": ("/api/models/mnist-convnet/layers/conv1/filters?steps=4", "filters"),
    "top": ("/api/models/mnist-convnet/layers/dense1/units/5/top?k=4", "dataset"),
    "map": ("/api/models/mnist-convnet/embedding", "dataset"),
}


@pytest.fixture(scope="module")
def first_answers(tmp_path_factory, small_models, small_registry):
    """Each endpoint's answer and the one cache file it wrote, computed once for every damage."""
    answers = {}
    for name, (url, folder) in CACHED.items():
        cache_dir = tmp_path_factory.mktemp(f"cache-{name}")
        with TestClient(create_app(Settings(models_dir=small_models, cache_dir=cache_dir), registry=small_registry)) as client:
            response = until_ready(client.get, url)
        assert response.status_code == 200, response.text
        [entry] = (cache_dir / folder).glob("*.npz")
        answers[name] = (response.json(), entry.name, entry.read_bytes())
    return answers


@pytest.mark.parametrize("damage", [_truncate, _garbage, _wrong_names, _wrong_shapes])
@pytest.mark.parametrize("endpoint", sorted(CACHED))
def test_a_damaged_cache_entry_is_recomputed_and_rewritten(tmp_path, small_models, small_registry, first_answers, endpoint, damage, caplog):
    url, folder = CACHED[endpoint]
    expected, name, healthy = first_answers[endpoint]
    entry = tmp_path / folder / name
    entry.parent.mkdir()
    entry.write_bytes(healthy)
    damage(entry)
    with caplog.at_level(logging.WARNING, logger="convnet_vis.cache"):
        # a new app: nothing in memory, the damaged file is all there is
        with TestClient(create_app(Settings(models_dir=small_models, cache_dir=tmp_path), registry=small_registry)) as fresh:
            for _ in range(2):  # and the recomputed entry is what memory keeps
                response = until_ready(fresh.get, url)
                assert response.status_code == 200, response.text
                if endpoint != "map":  # t-SNE may differ in the last bits between runs
                    assert response.json() == expected
    assert name in caplog.text and "recomputed" in caplog.text
    with np.load(entry) as rewritten, np.load(io.BytesIO(healthy)) as original:
        assert rewritten.files == original.files
        assert all(rewritten[key].shape == original[key].shape for key in original.files)
    assert not list(entry.parent.glob("*.tmp"))


def test_a_full_disk_leaves_no_partial_files_and_is_logged_once(tmp_path, monkeypatch, caplog):
    def write_half_then_fail(stream, **arrays):
        stream.write(b"PK\x03\x04 partial")
        raise OSError(28, "No space left on device")

    cache = ArrayCache(tmp_path)
    monkeypatch.setattr(np, "savez", write_half_then_fail)
    with caplog.at_level(logging.WARNING, logger="convnet_vis.cache"):
        cache.put("a", {"x": np.zeros(3)})
        cache.put("b", {"x": np.ones(3)})
    assert list(tmp_path.iterdir()) == []
    assert caplog.text.count("cannot write the cache") == 1
    np.testing.assert_array_equal(cache.get("b")["x"], np.ones(3))  # still served from memory


def test_partial_writes_of_dead_processes_are_removed(tmp_path):
    stale, fresh = tmp_path / "old.tmp", tmp_path / "new.tmp"
    stale.write_bytes(b"partial")
    fresh.write_bytes(b"another worker is writing this")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    ArrayCache(tmp_path)
    assert not stale.exists() and fresh.exists()


# ------------------------------------------------------------- 7. liveness and readiness
def test_ready_when_models_are_served(client):
    ready = client.get("/api/ready").json()
    assert {key: ready[key] for key in ("status", "models")} == {"status": "ready", "models": 2}
    assert ready["warm_up"]["state"] == "off"  # tests turn the background warm-up off (tests/conftest.py)
    assert client.get("/api/models").json()["skipped"] == []


@pytest.mark.parametrize("case", ["missing folder", "empty folder", "all broken"])
def test_not_ready_without_a_served_model(tmp_path, case, caplog):
    folder = tmp_path / "models"
    if case != "missing folder":
        folder.mkdir()
    if case == "all broken":
        data = (MODELS_DIR / "mnist-lenet.keras").read_bytes()
        (folder / "truncated.keras").write_bytes(data[: len(data) // 2])
        (folder / "garbage.h5").write_bytes(b"not hdf5 at all")
    with caplog.at_level(logging.ERROR, logger="convnet_vis.registry"), client_for(folder) as client:
        assert client.get("/api/health").json() == {"status": "ok", "models": 0}  # alive
        response = client.get("/api/ready")
        assert_error(response, 503)
        skipped = {entry["file"]: entry["reason"] for entry in client.get("/api/models").json()["skipped"]}
    detail = response.json()["detail"]
    if case == "missing folder":
        assert "does not exist" in detail
    elif case == "empty folder":
        assert "has no .keras or .h5 files" in detail
    else:
        assert "every model file was skipped" in detail
        assert skipped["truncated.keras"].startswith("not a valid .keras archive (truncated or corrupt")
        assert skipped["garbage.h5"].startswith("not a valid HDF5 .h5 file")
        assert "not a valid .keras archive" in caplog.text and "File not found" not in caplog.text


# ------------------------------------------------------------------ 9. graceful shutdown
GRACE = 8.0  # room for the short job on a loaded 2-core machine


@pytest.fixture
def slow_model_server(tmp_path):
    """A model with a 192x192 input, so occlusion at patch 2 takes about half a minute or more.
    (Its convolution was 8 channels of 3x3 until this machine ran the 9,216 passes in 4 s, inside
    the grace period: 32 of 5x5 is about 11 times the work a pass; the short job stays under 1 s.)"""
    import keras

    keras.utils.set_random_seed(0)
    keras.Sequential(
        [keras.Input((192, 192, 3)), keras.layers.Conv2D(32, 5, activation="relu"),
         keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(3, activation="softmax")],
        name="slow",
    ).save(tmp_path / "slow.keras")
    # 9,216 positions of 192x192 cost 340 M pixel passes, over the default cost limit (250 M)
    env = {"CONVNET_VIS_SHUTDOWN_GRACE_SECONDS": str(GRACE), "CONVNET_VIS_MAX_EXPLANATION_COST": "1e9"}
    with running_server(tmp_path, env=env) as url:
        yield url


def _exited(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1].startswith("Z")
    except FileNotFoundError:
        return True


def test_sigterm_lets_short_jobs_finish_and_stops_long_ones_within_the_grace_period(slow_model_server):
    url = slow_model_server + "/api/models/slow/occlusion?stream=true"
    pixels = {"pixels": np.full((192, 192, 3), 0.5).tolist()}
    events: dict[str, list] = {"short": [], "long": []}
    started = {name: threading.Event() for name in events}

    def stream(name: str, query: str) -> None:
        with httpx.Client(timeout=60) as client, client.stream("POST", url + query, json=pixels) as response:
            for line in response.iter_lines():
                if line.startswith("event: "):
                    events[name].append(line.removeprefix("event: "))
                    started[name].set()

    threads = [
        threading.Thread(target=stream, args=("long", "&patch=2&stride=2")),  # 9,216 positions: ~30 s
        threading.Thread(target=stream, args=("short", "&patch=16&stride=16")),  # 144 positions: under 1 s
    ]
    for thread in threads:
        thread.start()
    assert started["long"].wait(60) and started["short"].wait(60)
    signalled = time.monotonic()
    os.kill(slow_model_server.pid, signal.SIGTERM)
    while not _exited(slow_model_server.pid) and time.monotonic() - signalled < 30:
        time.sleep(0.05)
    took = time.monotonic() - signalled
    for thread in threads:
        thread.join(10)
    print(f"SIGTERM to exit: {took:.2f} s (grace {GRACE} s); events: short {events['short'][-1:]}, long {events['long'][-1:]}")
    assert events["short"][-1] == "result"  # in flight at SIGTERM, finished within the grace period
    assert events["long"][-1] == "error"  # told why it stopped
    assert GRACE - 0.5 < took < GRACE + 2.0
