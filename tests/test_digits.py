"""`app.digits`: every kind of digit picture reaches the model the way MNIST would have it.

The evaluation sets are built here from the 300 MNIST test digits in tests/data (LeCun, Cortes &
Burges; the bundled models never saw them) by the generators in tests/digit_images.py, each with a
fixed seed, and go through exactly what the server does with an uploaded file
(`model_input_for`: decode, reduce, preprocess=auto) into the served `mnist-convnet`. Every
threshold is the accuracy measured on that set when this was written, less a margin of a
point or two so that a different Pillow or SciPy rounding cannot flip the test, and never
below the issue's acceptance figures. Print them with
`pytest tests/test_digits.py -k accuracy -s`.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from app.api.deps import model_input_for
from app.digits import FLAT, MNIST_LIKE, UNEVEN_PATH, digit_field, normalise
from app.inputs import ImageInput, decode_image
from app.preprocess import PreprocessMode
from tests import digit_images as pictures


@pytest.fixture(scope="module")
def served(client):
    return client.app.state.registry.get("mnist-convnet")


def accuracy(client, served, files: list[bytes], labels: np.ndarray) -> float:
    """Share recognised, each file taken as an upload is: decoded, reduced, preprocess=auto."""
    settings = client.app.state.settings
    inputs = np.stack([model_input_for(served, ImageInput(file=data), PreprocessMode.auto, settings) for data in files])
    predicted = served.graph.probabilities(inputs).argmax(axis=1)
    return float((predicted == labels).mean())


def png(array: np.ndarray) -> bytes:
    return pictures.encode(array)


def enlarged(array: np.ndarray, factor: int) -> np.ndarray:
    image = Image.fromarray(array)
    return np.asarray(image.resize((image.width * factor, image.height * factor), Image.Resampling.BICUBIC))


# name -> (picture of one digit, which digits (every one, or every other), threshold).
# Measured on these sets with mnist-convnet when written: 100% everywhere except 8x8 (97.0%)
# and 16x16 two-level (99.7%). The old pipeline reached 90% on tight crops, 74.5% at 8x8.
VARIANTS = {
    "clean 28x28 MNIST": (lambda d, rng: png(d), 1, 0.99),
    "inverted 28x28 (black on white)": (lambda d, rng: png(255 - d), 1, 0.99),
    "tight crop, no margin": (lambda d, rng: png(pictures.tight_crop(d)), 1, 0.98),
    "tight crop, inverted": (lambda d, rng: png(255 - pictures.tight_crop(d)), 1, 0.98),
    "tight crop, enlarged 4x, dark on white": (lambda d, rng: png(enlarged(255 - pictures.tight_crop(d), 4)), 1, 0.98),
    "tight crop, enlarged 4x, white on black": (lambda d, rng: png(enlarged(pictures.tight_crop(d), 4)), 1, 0.98),
    "8x8, 17 grey levels": (lambda d, rng: png(pictures.rescaled(d, 8, 17)), 1, 0.95),
    "12x12, 4 grey levels": (lambda d, rng: png(pictures.rescaled(d, 12, 4)), 1, 0.97),
    "16x16, 4 grey levels": (lambda d, rng: png(pictures.rescaled(d, 16, 4)), 1, 0.98),
    "16x16, 4 grey levels, inverted": (lambda d, rng: png(255 - pictures.rescaled(d, 16, 4)), 1, 0.98),
    "16x16, black and white": (lambda d, rng: png(pictures.rescaled(d, 16, 2)), 1, 0.98),
    "24x24, 4 grey levels": (lambda d, rng: png(pictures.rescaled(d, 24, 4)), 1, 0.98),
    "32x32, 4 grey levels": (lambda d, rng: png(pictures.rescaled(d, 32, 4)), 1, 0.98),
    "scan (pen or pencil, grain)": (pictures.scan, 2, 0.98),
    "screenshot (light or dark theme)": (pictures.screenshot, 2, 0.98),
    "coloured ink on coloured paper": (pictures.coloured, 2, 0.98),
    "lined paper": (lambda d, rng: pictures.ruled(d, rng, squared=False), 2, 0.98),
    "squared paper": (lambda d, rng: pictures.ruled(d, rng, squared=True), 2, 0.98),
    "touching the border": (pictures.touching_border, 2, 0.98),
    "canvas export": (lambda d, rng: pictures.canvas_export(d), 2, 0.98),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_accuracy_per_variant(client, served, mnist, variant):
    make, step, threshold = VARIANTS[variant]
    images, labels = mnist[0][::step], mnist[1][::step]
    rng = np.random.default_rng(14)
    measured = accuracy(client, served, [make(digit, rng) for digit in images], labels)
    print(f"\n{variant}: {measured:.2%} of {len(labels)}")
    assert measured >= threshold, f"{variant}: {measured:.2%} < {threshold:.0%}"


def test_accuracy_on_real_small_scans_from_other_writers(client, served):
    """UCI optdigits, as bundled with scikit-learn: 1,797 digits by 43 writers other than MNIST's,
    scanned, reduced to 8x8 with 17 grey levels. Measured 94.6% (the textbook MNIST recipe alone
    reaches about 94% on them; the old pipeline 57.6%)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    files = [png((image * 255 / 16).round().astype(np.uint8)) for image in digits.images]
    measured = accuracy(client, served, files, digits.target)
    print(f"\noptdigits 8x8: {measured:.2%} of {len(files)}")
    assert measured >= 0.93


# ------------------------------------------------------------------------------- paths
def decoded(data: bytes, client) -> np.ndarray:
    return decode_image(data, client.app.state.settings)


def test_mnist_fields_are_left_exactly_as_they_are(client, mnist):
    """An MNIST digit uploaded as itself is what the model sees, to the last bit."""
    images, _ = mnist
    for digit in images:
        result = normalise(digit[..., None] / np.float32(255.0))
        assert result.path == MNIST_LIKE
        np.testing.assert_array_equal(result.field, digit / np.float32(255.0))


@pytest.mark.parametrize(
    "name, make, path, polarity",
    [
        ("tight crop", lambda d, rng: png(pictures.tight_crop(d)), FLAT, "light ink on a dark ground"),
        ("8x8", lambda d, rng: png(pictures.rescaled(d, 8, 17)), FLAT, "light ink on a dark ground"),
        ("inverted 28x28", lambda d, rng: png(255 - d), FLAT, "dark ink on a light ground"),
        ("scan", pictures.scan, FLAT, "dark ink on a light ground"),
        ("canvas export", lambda d, rng: pictures.canvas_export(d), FLAT, "dark ink on a light ground"),
        ("phone photo", pictures.phone_photo, UNEVEN_PATH, "dark ink on a light ground"),
    ],
)
def test_each_kind_of_picture_takes_its_path(client, mnist, name, make, path, polarity):
    rng = np.random.default_rng(3)
    for digit in mnist[0][:5]:
        summary = normalise(decoded(make(digit, rng), client)).summary()
        assert (summary["path"], summary["polarity"]) == (path, polarity), summary
        assert summary["reason"] and summary["crop_box"]["width"] > 0


def test_a_dark_theme_screenshot_is_light_ink_on_a_flat_ground(mnist):
    coverage = pictures.with_margin(pictures.coverage_at(mnist[0][0], 80), np.random.default_rng(0))
    picture = pictures.page(coverage, np.random.default_rng(0), ink=(0.9, 0.9, 0.9), paper=(0.12, 0.12, 0.14))
    summary = normalise(picture / np.float32(255.0)).summary()
    assert summary["path"] == FLAT and summary["polarity"] == "light ink on a dark ground"
    assert summary["background"] == pytest.approx([0.12, 0.12, 0.14], abs=0.01)


def test_ink_of_the_same_brightness_as_its_paper_is_still_seen(client, served, mnist):
    """Red ink on green paper of equal luma: invisible in grey, plain as a colour distance."""
    images, labels = mnist
    ink, paper = (0.8, 0.3, 0.3), (0.3, 0.55, 0.45)  # luma 0.449 and 0.464
    rng = np.random.default_rng(5)
    files = [
        pictures.encode(pictures.page(pictures.with_margin(pictures.coverage_at(d, 90), rng), rng, ink=ink, paper=paper))
        for d in images[:60]
    ]
    assert accuracy(client, served, files, labels[:60]) >= 0.95


def test_rulings_are_painted_out_and_a_sevens_bar_is_not(mnist):
    images, labels = mnist
    rng = np.random.default_rng(1)
    digit = images[0]  # a 7
    assert labels[0] == 7
    coverage = pictures.with_margin(pictures.coverage_at(digit, 100), rng)
    lines = np.maximum(
        pictures.rulings(coverage.shape, 45, 7, 2), pictures.rulings(coverage.shape, 45, 30, 2, vertical=True)
    )
    plain = pictures.page(coverage, rng) / np.float32(255.0)
    squared = pictures.page(coverage, rng, lines=lines, line_colour=(0.45, 0.45, 0.45)) / np.float32(255.0)
    result = normalise(squared)
    assert result.inks.rulings >= 4
    assert np.corrcoef(result.field.ravel(), digit_field(plain).ravel())[0, 1] > 0.95
    # The same 7 cropped tightly: its bar crosses the whole picture, and stays.
    tight = 1 - pictures.coverage_at(digit, 100)[..., None]
    kept = normalise(tight)
    assert kept.inks.rulings == 0
    assert np.corrcoef(kept.field.ravel(), digit_field(plain).ravel())[0, 1] > 0.9


def test_the_crop_box_is_in_the_uploaded_pictures_pixels():
    page = np.ones((900, 1200, 1), np.float32)
    page[300:600, 500:560] = 0.0
    result = normalise(page)
    assert result.inks.scale == pytest.approx(1 / 3)
    box = result.summary()["crop_box"]
    assert abs(box["left"] - 500) <= 3 and abs(box["top"] - 300) <= 3
    assert abs(box["width"] - 60) <= 6 and abs(box["height"] - 300) <= 6
    # decoded at half size (as a big upload is): the box is still in the upload's pixels
    half = normalise(page[::2, ::2]).summary(original_size=(900, 1200))["crop_box"]
    assert abs(half["left"] - 500) <= 4 and abs(half["height"] - 300) <= 8
