"""`digit` preprocessing: photos of paper and canvas exports must look like MNIST to the model."""

import io

import numpy as np
import pytest
from PIL import Image, ImageFilter

from app.preprocess import PreprocessMode, digit_field, prepare, resize_to
from tests.conftest import arr

URL = "/api/models/mnist-convnet/predict"


def phone_photo(digit: np.ndarray, rng: np.random.Generator, thin: bool = False) -> bytes:
    """A handwritten digit photographed on paper: big, off-centre, dark ink, uneven warm light, JPEG noise."""
    height, width = 900, 1200
    ink = Image.fromarray(digit).resize((360, 360), Image.Resampling.BICUBIC)
    if thin:  # a fine pen: only the cores of MNIST's strokes, about half as wide
        ink = ink.point(lambda v: 255 if v > 230 else 0)
    ink = ink.filter(ImageFilter.GaussianBlur(2))
    canvas = np.zeros((height, width), np.float32)
    top, left = rng.integers(80, height - 440), rng.integers(80, width - 440)
    canvas[top : top + 360, left : left + 360] = np.asarray(ink, np.float32) / 255.0
    ys, xs = np.mgrid[0:height, 0:width]
    light = 0.55 + 0.35 * (xs / width) + 0.1 * np.sin(ys / height * np.pi)  # shadow on one side
    paper = np.stack([light * 0.97, light * 0.93, light * 0.82], axis=-1)  # warm, off-white
    ink_colour = np.array([0.12, 0.12, 0.25])  # blue-black pen
    photo = paper * (1 - canvas[..., None]) + ink_colour * canvas[..., None]
    photo += rng.normal(0, 0.03, photo.shape)
    image = Image.fromarray((np.clip(photo, 0, 1) * 255).astype(np.uint8), "RGB")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=80)
    return buffer.getvalue()


def canvas_export(digit: np.ndarray) -> bytes:
    """What a browser canvas gives: black ink whose coverage is the alpha, on transparency."""
    big = np.asarray(Image.fromarray(digit).resize((280, 280), Image.Resampling.BICUBIC))
    rgba = np.zeros((280, 280, 4), np.uint8)
    rgba[..., 3] = big
    buffer = io.BytesIO()
    Image.fromarray(rgba, "RGBA").save(buffer, format="PNG")
    return buffer.getvalue()


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
    out = prepare(image, PreprocessMode.none, (3, 4, 3), (-1.0, 1.0), from_file=False, digits_model=False)
    assert out.shape == (3, 4, 3)
    np.testing.assert_allclose(out[..., 2], image[..., 0] * 2 - 1, atol=1e-6)


def test_resize_converts_channels():
    rgb = np.random.default_rng(0).uniform(size=(10, 8, 3)).astype(np.float32)
    gray = resize_to(rgb, 10, 8, 1)  # same size: only the channels change
    np.testing.assert_allclose(gray[..., 0], rgb @ np.array([0.299, 0.587, 0.114]), atol=1e-6)  # ITU-R 601 luma
    np.testing.assert_array_equal(resize_to(gray, 10, 8, 3), np.repeat(gray, 3, axis=-1))
    flat = np.full((10, 8, 1), 0.25, np.float32)
    np.testing.assert_allclose(resize_to(flat, 5, 4, 1), 0.25, atol=1e-6)  # resizing keeps a flat image flat
