"""`POST /api/models/{id}/read`: rows of real MNIST test digits, as users photograph or scan them.

The evaluation set is built here: rows of 2 to 6 of the 300 MNIST test digits in tests/data
(which the bundled models never saw), gaps from touching to wide, in five styles (scan, phone
photo, lined and squared paper, a dark-theme screenshot), by `tests/digit_images.number_row`
with fixed seeds. A digit is right when it is in the longest common subsequence of the string
read and the truth (a digit missed or a speck read as a digit costs one); a number is right when
the whole string is. Thresholds are the accuracy measured when this was written less a margin,
never below the issue's acceptance figures (95% of digits, 90% of numbers). Print them with
`pytest tests/test_read.py -k accuracy -s`.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from app.encoding import decode_array
from tests.conftest import assert_error, client_for
from tests.tiny_models import save_all
from tests import digit_images as pictures

READ = "/api/models/mnist-convnet/read"
STYLES = ["scan", "photo", "lined", "squared", "screen"]
ROWS_PER_STYLE = 16


def common(read: str, truth: str) -> int:
    """Length of the longest common subsequence: the digits read in their right places."""
    table = np.zeros((len(read) + 1, len(truth) + 1), int)
    for i, a in enumerate(read):
        for j, b in enumerate(truth):
            table[i + 1, j + 1] = table[i, j] + 1 if a == b else max(table[i, j + 1], table[i + 1, j])
    return int(table[-1, -1])


def rows(mnist, style: str, seed: int):
    """(picture bytes, true string) for ROWS_PER_STYLE rows of 2-6 digits."""
    images, labels = mnist
    rng = np.random.default_rng(seed)
    for _ in range(ROWS_PER_STYLE):
        picks = rng.choice(len(images), size=int(rng.integers(2, 7)), replace=False)
        yield pictures.number_row([images[i] for i in picks], rng, style), "".join(str(labels[i]) for i in picks)


def read(client, data: bytes, **params) -> dict:
    response = client.post(READ, files={"image": ("row.jpg", data)}, params=params)
    assert response.status_code == 200, response.text
    return response.json()


@pytest.fixture(scope="module")
def results(client, mnist):
    """style -> [(read, truth)]: every row read once, for the accuracy tests."""
    return {
        style: [(read(client, data)["text"], truth) for data, truth in rows(mnist, style, seed)]
        for seed, style in enumerate(STYLES)
    }


def test_accuracy_on_rows_of_two_to_six_digits(results):
    digits = numbers = total_digits = total_numbers = 0
    for style, pairs in results.items():
        right = sum(common(text, truth) for text, truth in pairs)
        whole = sum(text == truth for text, truth in pairs)
        count = sum(len(truth) for _, truth in pairs)
        print(f"\n{style}: digits {right}/{count} = {right / count:.1%}, numbers {whole}/{len(pairs)}")
        digits, numbers, total_digits, total_numbers = digits + right, numbers + whole, total_digits + count, total_numbers + len(pairs)
        assert right / count >= 0.97, f"{style}: {right}/{count} digits"
    print(f"all: digits {digits / total_digits:.1%} of {total_digits}, numbers {numbers / total_numbers:.1%} of {total_numbers}")
    # Measured when written: 100% of 306 digits and of 80 numbers (and 100% of 300 rows of 60 per
    # style with other seeds); mnist-lenet reads 98.7-99.6% of digits, 95-98% of numbers.
    assert digits / total_digits >= 0.98
    assert numbers / total_numbers >= 0.93


@pytest.fixture(scope="module")
def one_row(client, mnist):
    """A scanned row of four digits, read once, and the model that read it."""
    images, labels = mnist
    rng = np.random.default_rng(7)
    picks = [3, 14, 15, 92]
    data = pictures.number_row([images[i] for i in picks], rng, "scan")
    return data, "".join(str(labels[i]) for i in picks), read(client, data)


def test_each_digit_is_what_the_model_makes_of_its_field(one_row, keras_models):
    """Each digit's probabilities are the Keras model's own on its 28x28 field (in [0, 1], as
    preprocess=digit gives it), and its label is the most probable class."""
    _, truth, body = one_row
    assert body["text"] == truth
    fields = np.stack([decode_array(digit["field"]) for digit in body["digits"]])
    assert fields.shape == (len(truth), 28, 28) and fields.min() >= 0 and fields.max() <= 1
    expected = keras_models["mnist-convnet"].predict(fields[..., None], verbose=0)
    got = np.array([digit["prediction"]["probabilities"] for digit in body["digits"]])
    np.testing.assert_allclose(got, expected, atol=1e-5)
    assert [digit["label"] for digit in body["digits"]] == [str(i) for i in expected.argmax(axis=1)]
    assert [digit["confidence"] for digit in body["digits"]] == pytest.approx(expected.max(axis=1), abs=1e-5)


def test_boxes_are_in_the_pictures_pixels_left_to_right(one_row):
    """Boxes lie inside the picture as sent, in reading order, and each holds ink (dark pixels)."""
    data, _, body = one_row
    picture = np.asarray(Image.open(io.BytesIO(data)).convert("L"), np.float32) / 255
    assert body["size"] == {"width": picture.shape[1], "height": picture.shape[0]}
    lefts = [digit["box"]["left"] for digit in body["digits"]]
    assert lefts == sorted(lefts)
    for digit in body["digits"]:
        box = digit["box"]
        assert box["left"] >= 0 and box["top"] >= 0
        assert box["left"] + box["width"] <= picture.shape[1] and box["top"] + box["height"] <= picture.shape[0]
        inside = picture[box["top"] : box["top"] + box["height"], box["left"] : box["left"] + box["width"]]
        assert inside.min() < 0.3  # the pen's ink (0.08 on 0.95 paper) is in it
        assert box["width"] < picture.shape[1] / 2  # one digit, not the row


def test_a_picture_reduced_on_decoding_has_its_boxes_in_the_files_pixels(client, mnist):
    """A 3000 px wide file is decoded at a smaller scale; its boxes still use the file's pixels."""
    images, labels = mnist
    row = np.full((300, 3000), 245, np.uint8)
    truth = ""
    for k, i in enumerate([0, 1, 2]):
        digit = np.asarray(Image.fromarray(255 - images[i]).resize((224, 224), Image.Resampling.BICUBIC))
        row[40:264, 400 + 900 * k : 624 + 900 * k] = digit
        truth += str(labels[i])
    body = read(client, pictures.encode(row))
    assert body["text"] == truth and body["size"] == {"width": 3000, "height": 300}
    for k, digit in enumerate(body["digits"]):
        box = digit["box"]
        ink = pictures.ink_box(255 - row[:, 400 + 900 * k - 100 : 624 + 900 * k + 100], 128)
        assert abs(box["left"] - (400 + 900 * k - 100 + ink[1])) <= 8
        assert abs(box["top"] - ink[0]) <= 8


def test_pixels_of_any_size_are_read_too(client, mnist, one_row):
    images, labels = mnist
    row = np.concatenate([images[5], images[6]], axis=1).astype(np.float32) / 255
    body = client.post(READ, json={"pixels": row.tolist()}).json()
    assert body["text"] == f"{labels[5]}{labels[6]}"


def test_a_blank_picture_reads_as_nothing(client):
    body = read(client, pictures.encode(np.full((60, 200), 250, np.uint8)))
    assert body["text"] == "" and body["digits"] == []


def test_a_picture_of_many_marks_is_refused_with_what_to_do(client):
    noise = np.random.default_rng(0).random((400, 400)) > 0.97
    response = client.post(READ, files={"image": ("dots.png", pictures.encode(np.where(noise, 0, 255).astype(np.uint8)))})
    assert_error(response, 422)
    assert "cropped to the number" in response.json()["detail"]


@pytest.mark.parametrize("body", [{"files": {"image": ("x.png", b"not a picture")}}, {"json": {"pixels": "no"}}, {"content": b""}])
def test_bad_bodies_are_clear_4xx(client, body):
    response = client.post(READ, **body)
    assert 400 <= response.status_code < 500 and response.json()["detail"]


def test_an_image_model_is_told_to_use_a_digits_model(tmp_path):
    save_all(tmp_path / "models")
    with client_for(tmp_path / "models") as client:
        response = client.post("/api/models/branched/read", files={"image": ("x.png", pictures.encode(np.zeros((20, 20), np.uint8)))})
    assert_error(response, 422)
    assert "digits model" in response.json()["detail"]
