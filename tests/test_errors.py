"""Every bad request gets its documented 4xx with a detail, and the server keeps answering."""

import numpy as np
import pytest

from tests.bad_inputs import bad_bodies, encoded, file_part
from tests.conftest import MODELS_DIR, assert_error, client_for

PREDICT = "/api/models/mnist-convnet/predict"
GOOD = {"json": {"pixels": np.zeros((28, 28)).tolist()}}


@pytest.mark.parametrize("case,kwargs,status", bad_bodies(), ids=[c[0] for c in bad_bodies()])
def test_bad_bodies(client, case, kwargs, status):
    assert_error(client.post(PREDICT, **kwargs), status)
    assert client.post(PREDICT, **GOOD).status_code == 200


@pytest.mark.parametrize(
    "method,url,status",
    [
        ("post", "/api/models/nope/predict", 404),
        ("post", "/api/models/..%2F..%2Fetc%2Fpasswd/predict", 404),
        ("get", "/api/models/nope", 404),
        ("get", "/api/models/mnist-convnet/layers/../../etc/passwd/weights", 404),
        ("get", "/api/models/mnist-convnet/layers/flatten/weights", 422),
        ("post", PREDICT + "?preprocess=sharpen", 422),
        ("post", PREDICT + "?encoding=xml", 422),
        ("post", PREDICT + "?dtype=int64", 422),
        ("get", "/api/nothing-here", 404),
    ],
)
def test_bad_urls_and_options(client, method, url, status):
    kwargs = GOOD if method == "post" else {}
    assert_error(getattr(client, method)(url, **kwargs), status)


def test_pixels_at_another_size_need_preprocessing(client):
    body = {"json": {"pixels": np.zeros((56, 56)).tolist()}}
    response = client.post(PREDICT, **body)
    assert_error(response, 422)
    assert "preprocess=resize" in response.json()["detail"]
    assert client.post(PREDICT + "?preprocess=resize", **body).status_code == 200


def test_upload_limit(tmp_path):
    import shutil

    for name in ("mnist-convnet.keras", "mnist-convnet.json"):
        shutil.copy(MODELS_DIR / name, tmp_path / name)
    with client_for(tmp_path, max_upload_bytes=50_000, max_image_pixels=100_000) as small:
        image = encoded("BMP")  # 64x64x3 BMP: about 12 KB
        assert small.post(PREDICT, **file_part(image)).status_code == 200
        just_over = np.random.default_rng(2).bytes(50_001)  # one byte over the limit
        assert_error(small.post(PREDICT, **file_part(just_over)), 413)
        assert_error(small.post(PREDICT, json={"image": __import__("base64").b64encode(just_over).decode()}), 413)
        over = np.random.default_rng(2).bytes(50_001 + 70_000)
        assert_error(small.post(PREDICT, **file_part(over)), 413)
        assert_error(small.post(PREDICT, content=over, headers={"content-type": "image/png"}), 413)
        from PIL import Image
        import io

        big = io.BytesIO()
        Image.new("L", (400, 400)).save(big, format="PNG")  # small file, 160,000 pixels
        response = small.post(PREDICT, **file_part(big.getvalue()))
        assert_error(response, 413)
        assert "100,000" in response.json()["detail"]
        assert small.post(PREDICT, **file_part(image)).status_code == 200
