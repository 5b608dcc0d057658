"""The response's `preprocessing` and, with `explain_preprocessing=true`, its step images."""

import base64
import io

import numpy as np
import pytest
from PIL import Image

from tests import digit_images as pictures
from tests.conftest import arr, assert_error, b64

PREDICT = "/api/models/mnist-convnet/predict"
STEPS = ["ink", "threshold", "crop", "box", "field"]


def png_size(data_url: str) -> tuple[int, int]:
    assert data_url.startswith("data:image/png;base64,")
    with Image.open(io.BytesIO(base64.b64decode(data_url.split(",", 1)[1]))) as image:
        return image.height, image.width


def uploads(mnist):
    digit = mnist[0][4]
    rng = np.random.default_rng(2)
    return {
        "phone photo": (pictures.phone_photo(digit, rng), "uneven_background", STEPS),
        "tight crop": (pictures.encode(pictures.tight_crop(digit)), "flat_background", STEPS),
        "squared paper": (pictures.ruled(digit, rng, squared=True), "flat_background", STEPS),
        "16x16": (pictures.encode(pictures.rescaled(digit, 16, 4)), "flat_background", STEPS),
        "MNIST field": (pictures.encode(digit), "mnist_like", ["field"]),
        "blank page": (pictures.encode(np.full((60, 80), 240, np.uint8)), "flat_background", ["ink", "field"]),
    }


@pytest.mark.parametrize("kind", ["phone photo", "tight crop", "squared paper", "16x16", "MNIST field", "blank page"])
@pytest.mark.parametrize("endpoint", ["predict", "activations"])
def test_the_last_step_is_exactly_what_the_model_is_given(client, mnist, kind, endpoint):
    data, path, names = uploads(mnist)[kind]
    url = f"/api/models/mnist-convnet/{endpoint}?explain_preprocessing=true" + ("&layers=output" if endpoint == "activations" else "")
    body = client.post(url, files={"image": ("digit", data, "application/octet-stream")}).json()
    report = body["preprocessing"]
    assert (report["mode"], report["path"]) == ("digit", path)
    steps = report["steps"]
    assert [step["name"] for step in steps] == names
    np.testing.assert_array_equal(arr(steps[-1]["array"]), arr(body["input"])[..., 0])
    for step in steps:
        assert step["title"]
        values = arr(step["array"])
        # the crop's picture is the box drawn on the ink map; its array is the ink inside the box
        shown = arr(steps[0]["array"]) if step["name"] == "crop" else values
        assert png_size(step["png"]) == shown.shape[:2]
        assert np.isfinite(values).all() and values.min() >= 0 and values.max() <= 1
        assert max(values.shape) <= 112
    if "box" in names:
        box = arr(steps[names.index("box")]["array"])
        assert max(box.shape) == 20 and tuple(report["box_size"]) == box.shape
    if path == "mnist_like":
        np.testing.assert_array_equal(arr(body["input"])[..., 0], mnist[0][4] / np.float32(255.0))


def test_the_report_comes_without_steps_unless_asked(client, mnist):
    crop = pictures.tight_crop(mnist[0][0])
    data = pictures.encode(crop)
    body = client.post(PREDICT, files={"image": ("d.png", data, "image/png")}).json()
    report = body["preprocessing"]
    assert report["path"] == "flat_background" and "steps" not in report
    assert report["crop_box"] == {"left": 0, "top": 0, "width": crop.shape[1], "height": crop.shape[0]}
    # JSON image bodies report the same; pixels are used as they are
    assert client.post(PREDICT, json={"image": b64(data)}).json()["preprocessing"] == report
    assert client.post(PREDICT, json={"pixels": (mnist[0][0] / 255.0).tolist()}).json()["preprocessing"] == {"mode": "none"}


def test_the_crop_box_is_in_the_uploaded_files_pixels(client):
    """A big photo is reduced when decoded; its crop box is still in the file's own pixels."""
    page = np.full((1800, 2400), 235, np.uint8)
    page[600:1200, 1000:1120] = 20
    body = client.post(PREDICT, files={"image": ("p.png", pictures.encode(page), "image/png")}).json()
    box = body["preprocessing"]["crop_box"]
    assert abs(box["left"] - 1000) <= 8 and abs(box["top"] - 600) <= 8
    assert abs(box["width"] - 120) <= 16 and abs(box["height"] - 600) <= 16


def test_the_steps_follow_the_array_options(client, mnist):
    data = pictures.encode(pictures.tight_crop(mnist[0][1]))
    body = client.post(PREDICT + "?explain_preprocessing=true&encoding=list&dtype=float16", files={"image": ("d.png", data, "image/png")}).json()
    field = body["preprocessing"]["steps"][-1]["array"]
    assert field["dtype"] == "float16" and isinstance(field["data"], list)


def test_other_modes_say_only_their_mode(client, mnist):
    data = pictures.encode(mnist[0][1])
    body = client.post(PREDICT + "?preprocess=resize&explain_preprocessing=true", files={"image": ("d.png", data, "image/png")}).json()
    assert body["preprocessing"] == {"mode": "resize"}


def test_other_endpoints_do_not_carry_it(client, mnist):
    body = client.post("/api/models/mnist-convnet/gradcam", files={"image": ("d.png", pictures.encode(mnist[0][1]), "image/png")}).json()
    assert "preprocessing" not in body and "input" in body


@pytest.mark.parametrize("value", ["maybe", "2", ""])
def test_a_bad_flag_is_a_422(client, mnist, value):
    data = pictures.encode(mnist[0][1])
    assert_error(client.post(PREDICT + f"?explain_preprocessing={value}", files={"image": ("d.png", data, "image/png")}), 422)
