"""Long jobs are bounded and cancellable; the drawing path is never refused; several workers serve."""

import base64
import json
import threading
import time

import httpx
import numpy as np
import pytest

from bench.server import running_server
from tests.bad_inputs import bad_bodies
from tests.conftest import MODELS_DIR, png_bytes

PIXELS = {"pixels": np.zeros((28, 28)).tolist()}
# 600 x 600 pixels (over the drawing path's 512 x 512) in a PNG of a few KB: a light body
_STROKE = np.zeros((600, 600), np.uint8)
_STROKE[150:450, 270:330] = 255  # a "1"
BIG_IMAGE = {"image": base64.b64encode(png_bytes(_STROKE)).decode()}


@pytest.fixture(scope="module")
def one_slot_server():
    with running_server(MODELS_DIR, env={"CONVNET_VIS_MAX_LONG_JOBS": "1"}) as url:
        yield url


def test_long_jobs_are_bounded_and_cancellable(one_slot_server):
    url = one_slot_server + "/api/models/mnist-convnet"
    started, release = threading.Event(), threading.Event()

    def hold_the_slot():
        # a long atlas, streamed; we read its first progress event, then hang up (cancel)
        with httpx.Client(timeout=120) as client:
            with client.stream("GET", url + "/layers/conv3/filters?steps=1024&seed=77&stream=true") as response:
                for line in response.iter_lines():
                    if line.startswith("event: progress"):
                        started.set()
                        release.wait(60)
                        return

    holder = threading.Thread(target=hold_the_slot)
    holder.start()
    assert started.wait(60)
    with httpx.Client(timeout=60) as client:
        busy = client.post(url + "/occlusion?patch=2&stride=1", json=PIXELS)
        assert busy.status_code == 503 and busy.headers["retry-after"] == "2"
        assert "long job" in busy.json()["detail"]
        busy_filter = client.get(url + "/layers/conv2/filters/1?seed=5")
        assert busy_filter.status_code == 503
        # no slot, but a malformed drawing still gets its own 4xx, which says what to fix
        malformed = client.post(url + "/gradcam?method=scorecam", json={"pixels": [[0.5, 0.5], [0.5]]})
        assert 400 <= malformed.status_code < 500, malformed.text
        # a small JSON body holding a big image (decoded on the decode pool): 503 as well
        assert client.post(url + "/gradcam?method=scorecam", json=BIG_IMAGE).status_code == 503
        # the drawing path is never bounded
        assert client.post(url + "/activations", json=PIXELS).status_code == 200
        assert client.post(url + "/gradcam", json=PIXELS).status_code == 200
        release.set()
        holder.join(30)
        deadline = time.monotonic() + 30  # the cancelled job stops at its next batch of steps
        while True:
            response = client.post(url + "/occlusion", json=PIXELS)
            if response.status_code == 200 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert response.status_code == 200
        # the big image's job took the slot twice (before and after decoding) and gave it back
        assert client.post(url + "/gradcam?method=scorecam", json=BIG_IMAGE).status_code == 200
        assert client.post(url + "/occlusion", json=PIXELS).status_code == 200


def test_several_workers_serve_the_same_answers(client, mnist):
    """`python -m app serve --workers 2`: every answer equals the single-process app's."""
    digits = [(mnist[0][i] / 255.0).tolist() for i in range(4)]
    expected = [client.post("/api/models/mnist-convnet/activations", json={"pixels": d}).json() for d in digits]
    with running_server(MODELS_DIR, workers=2) as url, httpx.Client(timeout=60) as http:
        children = open(f"/proc/{url.pid}/task/{url.pid}/children").read().split()
        assert len(children) >= 2, children  # uvicorn really started two worker processes
        for _ in range(4):  # enough requests for both workers to answer some
            for pixels, reference in zip(digits, expected):
                body = http.post(url + "/api/models/mnist-convnet/activations", json={"pixels": pixels}).json()
                assert body == reference
        assert http.get(url + "/api/health").json()["models"] == 2


@pytest.mark.parametrize("endpoint", ["predict", "activations", "neighbors", "embedding/place"])
def test_bad_bodies_everywhere(client, endpoint):
    for case, kwargs, status in bad_bodies():
        response = client.post(f"/api/models/mnist-convnet/{endpoint}", **kwargs)
        assert response.status_code == status, (case, response.text)
        assert isinstance(response.json()["detail"], str)
    assert client.post(f"/api/models/mnist-convnet/{endpoint}", json=PIXELS).status_code == 200


@pytest.mark.parametrize(
    "message",
    ["", "[]", "null", '{"pixels": [[NaN]]}', '{"pixels": "x"}', '{"image": "%%%"}', '{"pixels": [[0]], "layers": "conv1"}',
     '{"pixels": [[0]], "dtype": "int8"}', '{"seq": 1}'],
)
def test_live_channel_survives_bad_messages(client, message):
    with client.websocket_connect("/api/models/mnist-convnet/live") as socket:
        socket.send_text(message)
        answer = socket.receive_json()
        assert answer["error"]["status"] in (415, 422) and answer["error"]["detail"]
        socket.send_text(json.dumps({"seq": 9, **PIXELS}))
        assert socket.receive_json()["seq"] == 9


def test_disk_cache_is_safe_under_concurrent_writers(tmp_path):
    """Workers writing the same entry at once: every reader sees a whole entry, never a torn file."""
    from app.cache import ArrayCache

    arrays = {"patterns": np.random.default_rng(0).normal(size=(64, 28, 28, 1)).astype("float32")}
    writers = [ArrayCache(tmp_path, capacity=1) for _ in range(8)]
    threads = [threading.Thread(target=lambda c=c: [c.put("same-key", arrays) for _ in range(10)]) for c in writers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [p.name for p in tmp_path.iterdir()] == ["same-key.npz"]  # no temporary files left behind
    np.testing.assert_array_equal(ArrayCache(tmp_path).get("same-key")["patterns"], arrays["patterns"])
