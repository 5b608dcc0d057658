"""The live channel's micro-batches: every connection gets Keras's answer for its own drawing.

Frames from several connections (two models, different digits, one bad frame) are made to meet in
one batch (a long wait of 1 s, a cap equal to the lane's frame count) and compared with Keras's own
layer outputs for each connection's input.
"""

import asyncio
import concurrent.futures
import json
import threading

import numpy as np
import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app
from tests.conftest import MODELS_DIR, arr
from tests.test_activations import assert_close, keras_layer_outputs

# (model, digit index or None for a bad frame): four frames for the convnet, two for LeNet
CONNECTIONS = [("mnist-convnet", 0), ("mnist-convnet", 1), ("mnist-convnet", None), ("mnist-convnet", 2),
               ("mnist-lenet", 3), ("mnist-lenet", 4)]


@pytest.fixture(scope="module")
def batching_client(tmp_path_factory):
    settings = Settings(models_dir=MODELS_DIR, cache_dir=tmp_path_factory.mktemp("cache"), live_batch_wait_ms=1000, live_batch_max=4)
    with TestClient(create_app(settings)) as client:
        yield client


def _frame(seq: int, digit) -> str:
    if digit is None:
        return json.dumps({"seq": seq, "pixels": [[2.0, -1.0]]})  # values outside [0, 1]: this frame's 422
    return json.dumps({"seq": seq, "pixels": digit.tolist()})


def test_batched_answers_equal_keras_for_each_connection(batching_client, keras_models, mnist):
    images = (mnist[0][:5] / 255.0).astype("float32")
    registry = batching_client.app.state.registry
    traces_before = {m: registry.get(m).graph.runner._forward.experimental_get_tracing_count() for m in keras_models}
    answers: dict[int, dict] = {}
    ready = threading.Barrier(len(CONNECTIONS))

    def connection(index: int) -> None:
        model_id, digit = CONNECTIONS[index]
        with batching_client.websocket_connect(f"/api/models/{model_id}/live") as socket:
            ready.wait(timeout=60)
            socket.send_text(_frame(100 + index, None if digit is None else images[digit]))
            answers[index] = socket.receive_json()
            # the channel goes on after the batch: a second frame is answered too
            socket.send_text(_frame(200 + index, images[0]))
            assert socket.receive_json()["seq"] == 200 + index

    threads = [threading.Thread(target=connection, args=(i,)) for i in range(len(CONNECTIONS))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert max(batching_client.app.state.live_batcher.batch_sizes) == 4  # the convnet's four frames met
    for index, (model_id, digit) in enumerate(CONNECTIONS):
        answer = answers[index]
        assert answer["seq"] == 100 + index  # nobody got someone else's answer
        if digit is None:
            assert answer["error"]["status"] == 422 and "layers" not in answer
            continue
        expected = keras_layer_outputs(keras_models[model_id], images[digit][None, ..., None])
        assert [layer["name"] for layer in answer["layers"]] == list(expected)
        for layer in answer["layers"]:
            assert_close(arr(layer["activations"]), expected[layer["name"]], f"{model_id} {layer['name']}")
        np.testing.assert_allclose(answer["prediction"]["probabilities"], expected["output"], rtol=1e-5, atol=1e-7)
    # batches of 1, 2 and 4 used the functions traced at load: no retracing per batch size
    for model_id, count in traces_before.items():
        assert registry.get(model_id).graph.runner._forward.experimental_get_tracing_count() == count


def test_batched_frames_keep_their_own_options(batching_client, mnist):
    """A frame's layers, dtype and max_side apply to its own answer only."""
    x = (mnist[0][7] / 255.0).tolist()
    with batching_client.websocket_connect("/api/models/mnist-lenet/live") as socket:
        socket.send_text(json.dumps({"seq": 1, "pixels": x, "layers": ["conv1"], "dtype": "float16", "max_side": 8}))
        answer = socket.receive_json()
        socket.send_text(json.dumps({"seq": 2, "pixels": x, "layers": ["nope"]}))
        unknown = socket.receive_json()
    assert [layer["name"] for layer in answer["layers"]] == ["conv1"]
    assert answer["layers"][0]["activations"]["dtype"] == "float16" and max(answer["layers"][0]["shape"][:2]) == 8
    assert unknown["seq"] == 2 and unknown["error"]["status"] == 404



def test_a_lone_client_does_not_wait_for_a_batch():
    """Nobody to batch with: an hour-long window does not delay a lone client's item; with two
    clients the window holds until their items fill a batch, and they go together."""
    from app.services.micro_batch import MicroBatcher

    async def scenario():
        batcher = MicroBatcher(lambda key, items: [item * 10 for item in items], wait_seconds=3600, max_batch=2)
        batcher.joined("m")
        assert await asyncio.wait_for(batcher.submit("m", 1), timeout=10) == 10
        batcher.joined("m")
        first = asyncio.ensure_future(batcher.submit("m", 2))
        await asyncio.sleep(0.2)
        assert not first.done()  # held for the other client's item
        assert await asyncio.wait_for(asyncio.gather(first, batcher.submit("m", 3)), timeout=10) == [20, 30]
        batcher.left("m")
        assert await asyncio.wait_for(batcher.submit("m", 4), timeout=10) == 40
        return list(batcher.batch_sizes)

    # a thread of its own: the browser tests' Playwright keeps an event loop running in this one
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        assert pool.submit(asyncio.run, scenario()).result(timeout=60) == [1, 2, 1]
