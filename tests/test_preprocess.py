"""`digit` preprocessing: photos of paper and canvas exports must look like MNIST to the model."""

import numpy as np
import pytest

from app.preprocess import PreprocessMode, digit_field, prepare, resize_to
from tests.conftest import arr
from tests.digit_images import canvas_export, phone_photo

URL = "/api/models/mnist-convnet/predict"


@pytest.mark.parametrize("thin", [False, True], ids=["marker", "fine-pen"])
def test_phone_photos_are_recognised(client, mnist, thin):
    images, labels = mnist
    rng = np.random.default_rng(7)
    hits = 0
    for index in range(30):
        data = phone_photo(images[index], rng, thin)
        body = client.post(URL, files={"image": ("photo.jpg", data, "image/jpeg")}).json()
        hits += body["prediction"]["top"][0]["index"] == labels[index]
        field = arr(body["input"])[..., 0]
        assert field.shape == (28, 28) and field.max() > 0.8
        assert 0.03 < (field > 0.2).mean() < 0.35  # the page is gone, the strokes are MNIST-thick
    assert hits >= 27, f"{hits}/30 photos recognised"


def test_canvas_exports_are_recognised(client, mnist):
    images, labels = mnist
    hits = sum(
        client.post(URL, files={"image": ("c.png", canvas_export(images[i]), "image/png")}).json()["prediction"]["top"][0][
            "index"
        ]
        == labels[i]
        for i in range(30)
    )
    assert hits >= 29


def test_digit_field_keeps_mnist_digits_as_they_are(mnist):
    """MNIST digits are already normalised: the pipeline must nearly reproduce them."""
    images, _ = mnist
    correlations = [
        np.corrcoef(digit_field(images[i][..., None] / 255.0).ravel(), images[i].ravel())[0, 1] for i in range(50)
    ]
    assert np.median(correlations) > 0.9


def test_digit_field_geometry():
    """A bar of ink anywhere ends up 20 px tall, centred by mass in a 28x28 field."""
    page = np.ones((300, 200, 1), np.float32)
    page[40:240, 150:170] = 0.0  # tall dark bar near the right edge
    field = digit_field(page)
    rows = np.flatnonzero(field.max(axis=1) > 0.3)
    assert 19 <= rows[-1] - rows[0] + 1 <= 21
    ys, xs = np.indices(field.shape)
    assert abs((ys * field).sum() / field.sum() - 14.0) < 0.3
    assert abs((xs * field).sum() / field.sum() - 14.0) < 0.3


def test_blank_input_gives_blank_field():
    assert digit_field(np.ones((50, 50, 1), np.float32)).max() == 0.0
    assert digit_field(np.zeros((50, 50, 1), np.float32)).max() == 0.0


def test_prepare_maps_to_the_model_input_range():
    image = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4, 1)
    out = prepare(image, PreprocessMode.none, (3, 4, 3), (-1.0, 1.0), from_file=False, digits_model=False).array
    assert out.shape == (3, 4, 3)
    np.testing.assert_allclose(out[..., 2], image[..., 0] * 2 - 1, atol=1e-6)


def test_resize_converts_channels():
    rgb = np.random.default_rng(0).uniform(size=(10, 8, 3)).astype(np.float32)
    gray = resize_to(rgb, 10, 8, 1)  # same size: only the channels change
    np.testing.assert_allclose(gray[..., 0], rgb @ np.array([0.299, 0.587, 0.114]), atol=1e-6)  # ITU-R 601 luma
    np.testing.assert_array_equal(resize_to(gray, 10, 8, 3), np.repeat(gray, 3, axis=-1))
    flat = np.full((10, 8, 1), 0.25, np.float32)
    np.testing.assert_allclose(resize_to(flat, 5, 4, 1), 0.25, atol=1e-6)  # resizing keeps a flat image flat
