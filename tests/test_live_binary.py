"""The live channel's binary drawing frame (docs/api.md): the same answers as JSON text frames and
as Keras, and every malformed frame a clear 422 while the channel keeps answering."""

from __future__ import annotations

import json

import numpy as np
import pytest

from app.api.live_binary import binary_message, read_binary_answer
from app.encoding import decode_array
from app.errors import InvalidOption
from tests.conftest import arr
from tests.test_activations import assert_close, keras_layer_outputs

LIVE = "/api/models/mnist-convnet/live"


def frame(header: dict, pixels: np.ndarray) -> bytes:
    """What the page's `binaryFrame` sends: uint32 LE header length, JSON header, uint8 pixels."""
    text = json.dumps(header).encode()
    return len(text).to_bytes(4, "little") + text + pixels.astype(np.uint8).tobytes()


def as_floats(pixels: np.ndarray) -> np.ndarray:
    """The values the server reads from the bytes: each byte / 255, in float32."""
    return pixels.astype(np.float32) / np.float32(255)


def test_a_binary_frame_gets_keras_outputs_and_the_text_frames_answer(client, keras_models, mnist):
    digit = mnist[0][7]
    expected = keras_layer_outputs(keras_models["mnist-convnet"], as_floats(digit)[None, ..., None])
    with client.websocket_connect(LIVE) as socket:
        socket.send_bytes(frame({"seq": 1, "shape": [28, 28], "preprocess": "none"}, digit))
        binary = socket.receive_json()
        socket.send_text(json.dumps({"seq": 2, "pixels": as_floats(digit).tolist(), "preprocess": "none"}))
        text = socket.receive_json()
    assert binary["seq"] == 1 and binary["dropped"] == 0 and text["seq"] == 2
    assert [layer["name"] for layer in binary["layers"]] == list(expected)
    for layer, same in zip(binary["layers"], text["layers"]):
        assert_close(arr(layer["activations"]), expected[layer["name"]], layer["name"])
        np.testing.assert_array_equal(arr(layer["activations"]), arr(same["activations"]))
    assert binary["prediction"] == text["prediction"]
    assert binary["prediction"]["top"][0]["label"] == str(mnist[1][7])


def test_the_pads_binary_frame_is_preprocessed_like_its_json(client, mnist):
    """The page's pad: 56x56 bytes with preprocess=digit, with other message fields alongside."""
    pad = np.zeros((56, 56), np.uint8)
    pad[10:38, 14:42] = mnist[0][11]
    header = {"seq": "a", "preprocess": "digit", "layers": ["conv1", "output"], "dtype": "float16"}
    with client.websocket_connect(LIVE) as socket:
        socket.send_bytes(frame({**header, "shape": [56, 56, 1]}, pad[..., None]))
        binary = socket.receive_json()
        socket.send_text(json.dumps({**header, "pixels": as_floats(pad).tolist()}))
        text = socket.receive_json()
    assert binary["seq"] == "a" and [layer["name"] for layer in binary["layers"]] == ["conv1", "output"]
    assert binary["layers"][0]["activations"]["dtype"] == "float16"
    assert binary["input"] == text["input"] and binary["layers"] == text["layers"] and binary["prediction"] == text["prediction"]
    assert binary["prediction"]["top"][0]["label"] == str(mnist[1][11])


def test_a_big_binary_frame_takes_the_decode_pool_and_answers_the_same(client, mnist):
    """Over the light path's size: a 3-channel 240x240 frame goes one by one through the decode pool."""
    big = np.repeat(np.kron(mnist[0][4], np.ones((10, 10), np.uint8))[20:260, 20:260, None], 3, axis=-1)
    assert big.nbytes > 128 * 1024
    with client.websocket_connect(LIVE) as socket:
        socket.send_bytes(frame({"seq": 5, "shape": [240, 240, 3], "preprocess": "digit", "layers": ["output"]}, big))
        binary = socket.receive_json()
    body = client.post("/api/models/mnist-convnet/activations?preprocess=digit&layers=output", json={"pixels": as_floats(big).tolist()}).json()
    assert binary["seq"] == 5 and binary["prediction"] == body["prediction"]


MALFORMED = {
    "too short": (b"\x01\x00", "too short"),
    "header past the end": (b"\xff\x00\x00\x00{}", "longer than"),
    "header not JSON": (b"\x03\x00\x00\x00{x}" + bytes(4), "not UTF-8 JSON"),
    "header not an object": (frame([1], np.zeros(0)), "JSON object"),  # type: ignore[arg-type]
    "pixels in the header": (frame({"shape": [1, 1], "pixels": [[0]]}, np.zeros(1)), "must not hold"),
    "no shape": (frame({"seq": 1}, np.zeros(4)), "'shape' must be"),
    "two channels": (frame({"shape": [2, 2, 2]}, np.zeros(8)), "'shape' must be"),
    "too few pixels": (frame({"shape": [28, 28]}, np.zeros(700)), "needs 784 pixel bytes"),
    "a PNG file": (b"\x89PNG\r\n\x1a\n binary", "longer than"),
}


@pytest.mark.parametrize("name", list(MALFORMED))
def test_malformed_binary_frames_say_what_is_wrong(name):
    data, expected = MALFORMED[name]
    with pytest.raises(InvalidOption) as refused:
        binary_message(data)
    assert expected in refused.value.detail and "docs/api.md" in refused.value.detail


def test_a_malformed_binary_frame_is_answered_with_an_error_and_the_channel_stays_open(client, mnist):
    digit = mnist[0][0]
    with client.websocket_connect(LIVE) as socket:
        for data, expected in MALFORMED.values():
            socket.send_bytes(data)
            answer = socket.receive_json()
            assert answer["seq"] is None and answer["error"]["status"] == 422 and expected in answer["error"]["detail"]
        socket.send_bytes(frame({"seq": 9, "shape": [28, 28], "preprocess": "none", "max_side": 0}, digit))
        answer = socket.receive_json()  # a bad field in a good frame: its own error, with its seq
        assert answer["seq"] == 9 and answer["error"]["status"] == 422 and "max_side" in answer["error"]["detail"]
        socket.send_bytes(frame({"seq": 10, "shape": [28, 28], "preprocess": "none"}, digit))
        answer = socket.receive_json()
        assert answer["seq"] == 10 and answer["prediction"]["top"][0]["label"] == str(mnist[1][0])


@pytest.mark.parametrize("dtype", ["float32", "float16", "uint8"])
def test_binary_answers_carry_the_json_answers_arrays(client, keras_models, mnist, dtype):
    """`?answers=binary`: the same answer, its arrays as 4-aligned bytes after the JSON; errors stay JSON text."""
    digit = mnist[0][21]
    message = {"seq": 4, "shape": [28, 28], "preprocess": "none"}
    with client.websocket_connect(f"{LIVE}?dtype={dtype}") as socket:
        socket.send_bytes(frame(message, digit))
        text = socket.receive_json()
    with client.websocket_connect(f"{LIVE}?dtype={dtype}&answers=binary") as socket:
        socket.send_bytes(frame(message, digit))
        data = socket.receive_bytes()
        socket.send_text(json.dumps({"seq": 5, "pixels": as_floats(digit).tolist(), "preprocess": "none", "layers": ["output"]}))
        by_text = read_binary_answer(socket.receive_bytes())  # a text message gets a binary answer too
        socket.send_bytes(b"\x00")
        error = socket.receive_json()
    size = int.from_bytes(data[:4], "little")
    assert (4 + size) % 4 == 0
    header = json.loads(data[4 : 4 + size])
    assert all(layer["activations"]["bytes"][0] % 4 == 0 and "data" not in layer["activations"] for layer in header["layers"])
    binary = read_binary_answer(data)
    assert {k: v for k, v in binary.items() if k not in ("input", "layers")} == {k: v for k, v in text.items() if k not in ("input", "layers")}
    np.testing.assert_array_equal(decode_array(binary["input"]), arr(text["input"]))
    expected = keras_layer_outputs(keras_models["mnist-convnet"], as_floats(digit)[None, ..., None])
    for layer, same in zip(binary["layers"], text["layers"], strict=True):
        assert {k: v for k, v in layer.items() if k != "activations"} == {k: v for k, v in same.items() if k != "activations"}
        np.testing.assert_array_equal(decode_array(layer["activations"]), arr(same["activations"]))
        if dtype == "float32":
            assert_close(decode_array(layer["activations"]), expected[layer["name"]], layer["name"])
    assert by_text["seq"] == 5 and by_text["prediction"] == text["prediction"]
    assert error["seq"] is None and error["error"]["status"] == 422 and "Binary frame" in error["error"]["detail"]


def test_an_unknown_answers_option_is_refused(client):
    from starlette.websockets import WebSocketDisconnect

    with pytest.raises(WebSocketDisconnect) as refused:
        with client.websocket_connect(f"{LIVE}?answers=xml") as socket:
            socket.receive_json()
    assert refused.value.code == 1008 and "'json' or 'binary'" in str(refused.value.reason)
