"""Predictions through the real app equal Keras's own, whatever form and format the digit comes in."""

import io

import numpy as np
import pytest
from PIL import Image

from tests.conftest import arr, b64, png_bytes

URL = "/api/models/{}/predict"


@pytest.mark.parametrize("model_id", ["mnist-convnet", "mnist-lenet"])
def test_predictions_equal_keras(client, keras_models, mnist, model_id):
    images, labels = mnist
    x = images[:40].astype("float32") / 255.0
    expected = keras_models[model_id].predict(x[..., None], verbose=0)
    correct = 0
    for i in range(40):
        body = client.post(URL.format(model_id), json={"pixels": x[i].tolist()}).json()
        probabilities = np.array(body["prediction"]["probabilities"])
        np.testing.assert_allclose(probabilities, expected[i], rtol=1e-5, atol=1e-6)
        top = body["prediction"]["top"]
        assert top[0]["index"] == int(np.argmax(expected[i])) and top[0]["label"] == str(top[0]["index"])
        assert len(top) == 5 and all(a["probability"] >= b["probability"] for a, b in zip(top, top[1:]))
        np.testing.assert_array_equal(arr(body["input"])[..., 0], x[i])
        correct += top[0]["index"] == labels[i]
    assert correct >= 39


def test_every_body_form_gives_the_same_answer(client, mnist):
    digit = mnist[0][3]
    png = png_bytes(digit)
    forms = {
        "pixels": dict(json={"pixels": (digit / 255.0).tolist()}),
        "pixels-3d": dict(json={"pixels": (digit / 255.0)[..., None].tolist()}),
        "multipart": dict(files={"image": ("d.png", png, "image/png")}),
        "base64": dict(json={"image": b64(png)}),
        "data-url": dict(json={"image": "data:image/png;base64," + b64(png)}),
        "raw": dict(content=png, headers={"content-type": "image/png"}),
    }
    answers = {}
    for name, kwargs in forms.items():
        response = client.post(URL.format("mnist-convnet") + "?preprocess=none", **kwargs)
        assert response.status_code == 200, (name, response.text)
        answers[name] = response.json()
    reference = answers.pop("pixels")
    for name, body in answers.items():
        np.testing.assert_array_equal(arr(body["input"]), arr(reference["input"]), err_msg=name)
        assert body["prediction"] == reference["prediction"], name


def _variants(digit: np.ndarray) -> dict[str, bytes]:
    """The same digit as dark ink on white paper, in every supported format and many modes."""
    paper = Image.fromarray(255 - digit).resize((112, 112), Image.Resampling.BICUBIC)
    rgb = paper.convert("RGB")
    out = {}
    for fmt, mode in [
        ("PNG", "L"), ("PNG", "LA"), ("PNG", "RGB"), ("PNG", "RGBA"), ("PNG", "P"), ("PNG", "I;16"),
        ("JPEG", "L"), ("JPEG", "RGB"), ("JPEG", "CMYK"), ("WEBP", "RGB"), ("WEBP", "RGBA"),
        ("GIF", "P"), ("BMP", "RGB"), ("BMP", "L"),
    ]:
        if mode == "I;16":
            image = Image.fromarray((np.asarray(paper, dtype=np.uint16) * 257).astype(np.uint16))
        elif mode == "P":
            image = rgb.convert("P", palette=Image.Palette.ADAPTIVE)
        else:
            image = rgb.convert(mode)
        buffer = io.BytesIO()
        image.save(buffer, format=fmt)
        out[f"{fmt}-{image.mode}"] = buffer.getvalue()
    return out


def test_every_format_and_mode_is_recognised(client, mnist):
    images, labels = mnist
    for index in (0, 1, 2, 4):
        variants = _variants(images[index])
        inputs = {}
        for name, data in variants.items():
            response = client.post(URL.format("mnist-convnet"), files={"image": ("f", data, "application/octet-stream")})
            assert response.status_code == 200, (name, response.text)
            body = response.json()
            assert body["prediction"]["top"][0]["index"] == labels[index], name
            inputs[name] = arr(body["input"])
        lossless = inputs["PNG-L"]
        for name in ("PNG-RGB", "PNG-RGBA", "PNG-LA", "BMP-RGB", "BMP-L", "PNG-I;16"):
            np.testing.assert_allclose(inputs[name], lossless, atol=0.02, err_msg=name)


def test_exif_orientation_is_respected(client, mnist):
    images, labels = mnist
    upright = Image.fromarray(255 - images[7]).resize((90, 90)).convert("RGB")
    # Stored rotated, with the EXIF tag saying how to turn it back (as phones do).
    stored = upright.transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW to display
    buffer = io.BytesIO()
    stored.save(buffer, format="JPEG", exif=exif, quality=95)
    tagged = client.post(URL.format("mnist-convnet"), files={"image": ("p.jpg", buffer.getvalue(), "image/jpeg")}).json()
    plain = client.post(URL.format("mnist-convnet"), files={"image": ("p.png", png_bytes(np.asarray(upright)), "image/png")}).json()
    assert tagged["prediction"]["top"][0]["index"] == labels[7]
    np.testing.assert_allclose(arr(tagged["input"]), arr(plain["input"]), atol=0.1)


def test_unset_optional_fields_are_left_out(client, mnist):
    """As the contract shows them: `scale`/`offset` only on uint8 arrays, `positive` only for
    multilabel heads, `full_shape`/`channels` only when a layer was reduced or selected."""
    pixels = (mnist[0][0] / 255.0).tolist()
    body = client.post("/api/models/mnist-convnet/activations?layers=conv1", json={"pixels": pixels}).json()
    assert set(body["input"]) == {"shape", "dtype", "data"}
    assert set(body["prediction"]) == {"probabilities", "top"}
    assert set(body["layers"][0]) == {"name", "class_name", "shape", "min", "max", "activations"}
    assert body["preprocessing"] == {"mode": "none"}
    reduced = client.post(
        "/api/models/mnist-convnet/activations?layers=conv1&max_side=8&dtype=uint8", json={"pixels": pixels}
    ).json()["layers"][0]
    assert {"full_shape"} <= set(reduced) and {"scale", "offset"} <= set(reduced["activations"])
