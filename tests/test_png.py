"""The directly written PNG (`encoding.enlarged_png_data_url`) against Pillow's decoder and zlib's
checksum, on both of its paths: distinct rows stored (small inputs) and deflated whole."""

import base64
import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from app.encoding import STORED_ROWS_LIMIT, enlarged_png_data_url


def png_bytes(url: str) -> bytes:
    assert url.startswith("data:image/png;base64,")
    return base64.b64decode(url.split(",", 1)[1])


def idat(png: bytes) -> bytes:
    """The IDAT chunk's data, its CRC checked."""
    at, data = 8, b""
    while at < len(png):
        (length,) = struct.unpack(">I", png[at : at + 4])
        tag, body = png[at + 4 : at + 8], png[at + 8 : at + 8 + length]
        assert struct.unpack(">I", png[at + 8 + length : at + 12 + length])[0] == zlib.crc32(tag + body)
        if tag == b"IDAT":
            data += body
        at += 12 + length
    return data


@pytest.mark.parametrize(
    "height, width, factor",
    [(28, 28, 8), (1, 1, 224), (3, 5, 7), (28, 28, 1), (64, 64, 4), (112, 112, 2), (7, 3, 32), (150, 150, 2)],
)
def test_the_png_is_the_picture_enlarged_pixel_for_pixel(height, width, factor):
    pixels = np.random.default_rng(height * width + factor).integers(0, 256, (height, width, 3), dtype=np.uint8)
    png = png_bytes(enlarged_png_data_url(pixels, factor))
    image = Image.open(io.BytesIO(png))
    assert image.format == "PNG" and image.mode == "RGB" and image.size == (width * factor, height * factor)
    np.testing.assert_array_equal(np.asarray(image), pixels.repeat(factor, axis=0).repeat(factor, axis=1))
    # zlib checks the stream's Adler-32 (computed, not read, on the stored path) and its end
    rows = zlib.decompress(idat(png))
    assert len(rows) == height * factor * (1 + width * factor * 3)


def test_small_pictures_take_the_stored_path_and_big_ones_are_deflated():
    small = np.full((28, 28, 3), 7, np.uint8)
    big = np.full((150, 150, 3), 7, np.uint8)
    assert 28 * (1 + 224 * 3) <= STORED_ROWS_LIMIT < 150 * (1 + 300 * 3)
    # a stored block starts right after the zlib header: BFINAL 0, BTYPE 00, then LEN and NLEN
    stream = idat(png_bytes(enlarged_png_data_url(small, 8)))
    assert stream[2] == 0 and struct.unpack("<HH", stream[3:7]) == (673, 673 ^ 0xFFFF)
    # a flat 300 px picture deflates to almost nothing
    assert len(idat(png_bytes(enlarged_png_data_url(big, 2)))) < 2000
