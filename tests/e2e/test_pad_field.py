"""The pad's digit normalisation computed in the page (static/js/engine/pad_field.js) is the server's.

For each drawing, the bytes the pad's binary frame carries go two ways: into `padField` in headless
Chromium, and through the live channel's own decoding (`binary_message`) into `app.digits.normalise`
in this process. The page must give the server's 28x28 field (within 1/255 per pixel; the measured
maximum is printed) for every drawing the server's clean-canvas shortcut takes, and null exactly
where it does not (ink on the border, a filled pad, a ruling-like line, a non-zero background...),
so that the page sends those to the server.

The drawings: the pad tests' own (tests/test_digits_pad.py, as the bytes the pad sends instead of
the 3-decimal JSON rows; tests/test_live_binary.py's MNIST digit on the pad), a few hundred seeded
random pen drawings made here like the pad makes them (white strokes on 0 at 280 px, a round pen,
area-averaged to 56x56), the same kind of drawings made by the browser's own canvas as
static/js/draw.js makes them, and drawings that must take the general path.
"""

from __future__ import annotations

import base64
import json
from urllib.parse import urlsplit

import numpy as np
import pytest
from PIL import Image, ImageDraw

from app import digits
from app.api.live_binary import binary_message
from app.security import page_policy
from tests import test_digits_pad as pad_tests
from tests.e2e.conftest import DIGITS

pytestmark = pytest.mark.browser

PAD, SIDE = 280, 56
MODULE = "/static/js/engine/pad_field.js"
TOLERANCE = 1 / 255


# ---------------------------------------------------------------------------------- drawings
def pad_bytes(canvas: Image.Image) -> np.ndarray:
    """A 280x280 "L" canvas -> the bytes the pad sends: 56x56 area averages, [H, W] uint8."""
    return np.array(canvas.resize((SIDE, SIDE), Image.Resampling.BOX), np.uint8)


def pen(lines: list[list[tuple[float, float]]], width: int, ink: int = 255) -> np.ndarray:
    """Pen strokes with round ends and joints, drawn at 280 px, as bytes at 56x56."""
    canvas = Image.new("L", (PAD, PAD), 0)
    draw = ImageDraw.Draw(canvas)
    for points in lines:
        if len(points) > 1:
            draw.line(points, fill=ink, width=width, joint="curve")
        for x, y in points:
            draw.ellipse((x - width / 2, y - width / 2, x + width / 2, y + width / 2), fill=ink)
    return pad_bytes(canvas)


def random_pen_drawing(rng: np.random.Generator) -> np.ndarray:
    """One to four strokes (dots, lines, wiggles), thin to thick pens, mostly inside the pad
    (sometimes reaching its edge), now and then grey ink and a speck or two."""
    width = int(rng.choice([4, 6, 8, 12, 16, 22, 22, 22, 30, 40]))
    margin = float(rng.choice([0, 20, 40, 40, 40, 70]))
    lines = []
    for _ in range(int(rng.integers(1, 5))):
        count = int(rng.choice([1, 2, 3, 5, 8, 14]))
        start = rng.uniform(margin, PAD - margin, 2)
        steps = rng.normal(0, rng.uniform(10, 60), (count - 1, 2))
        points = np.clip(np.vstack([start, start + np.cumsum(steps, axis=0)]), margin, PAD - margin)
        lines.append([tuple(map(float, p)) for p in points])
    ink = 255 if rng.random() < 0.8 else int(rng.integers(40, 255))
    drawing = pen(lines, width, ink)
    if rng.random() < 0.2:  # specks: small components near or far from the digit
        for _ in range(int(rng.integers(1, 4))):
            y, x = rng.integers(2, SIDE - 3, 2)
            drawing[y : y + int(rng.integers(1, 3)), x : x + int(rng.integers(1, 3))] = int(rng.integers(20, 256))
    return drawing


def pad_test_drawings(monkeypatch, mnist) -> dict[str, np.ndarray]:
    """The drawings of tests/test_digits_pad.py (same seeds and generators), as the pad's bytes."""
    monkeypatch.setattr(pad_tests, "pad_pixels", pad_bytes)
    rng = np.random.default_rng(13)
    drawings = {f"pad test random {i}": pad_tests.random_drawing(rng) for i in range(60)}
    drawings |= {f"pad test mnist {i}": pad_tests.mnist_on_pad(d, rng) for i, d in enumerate(mnist[0][:60])}
    drawings["pad test blank"] = np.zeros((SIDE, SIDE), np.uint8)
    drawings["pad test dot"] = pad_tests.strokes([[(140, 140), (140, 140)]])
    digit = pad_tests.strokes([[(140, 60), (140, 230)]])
    drawings |= {
        "pad test line across the pad": pad_tests.strokes([[(10, 140), (270, 140)], [(140, 60), (140, 230)]], width=6),
        "pad test line down the pad": pad_tests.strokes([[(140, 10), (140, 270)], [(60, 140), (200, 140)]], width=6),
        "pad test filled blob": pad_tests.strokes([[(140, 140), (141, 140)]], width=130),
        "pad test ink on the border": pad_tests.strokes([[(0, 60), (140, 230)]]),
        "pad test light background": 255 - digit,
        "pad test three channels": np.repeat(digit[..., None], 3, axis=-1),
        "pad test small picture": digit[::2, ::2],
    }
    live = np.zeros((SIDE, SIDE), np.uint8)
    live[10:38, 14:42] = mnist[0][11]  # tests/test_live_binary.py's pad
    drawings["live binary test pad"] = live
    for name, strokes in DIGITS.items():  # the digits the page tests draw, with the pad's pen
        drawings[f"e2e digit {name}"] = pen(strokes, 22)
    return drawings


def general_path_drawings(mnist) -> dict[str, np.ndarray]:
    """Drawings the shortcut must refuse (or that test its edges), and the blank-pad limits."""
    digit = pen([[(140, 60), (140, 230)], [(100, 100), (140, 60)]], 22)
    ruled = digit.copy()
    ruled[30, 1:-1] = 255  # one full row of ink, the border still 0
    half_ruled = digit.copy()
    half_ruled[30, 5:40] = 255  # a short bar: no ruling, still clean
    filled = np.zeros((SIDE, SIDE), np.uint8)
    filled[1:-1, 1:-1] = 255
    checker = np.zeros((SIDE, SIDE), np.uint8)
    checker[2:-2, 2:-2] = (np.add.outer(np.arange(SIDE - 4), np.arange(SIDE - 4)) % 2 * 200 + 30).astype(np.uint8)
    striped = np.zeros((SIDE, SIDE), np.uint8)
    striped[2:-2:2, 2:-2] = 255  # just under half the pixels inked, every other row 0: no full window
    dense = np.zeros((SIDE, SIDE), np.uint8)
    dense[1:-1, 1:-1] = 255
    dense[1:-1:3, 1:-1] = 0  # more than half inked but no 19x19 window: refused by the zero count
    rng = np.random.default_rng(7)
    noisy = np.clip(digit.astype(int) + rng.integers(0, 6, digit.shape), 0, 255).astype(np.uint8)
    mnist_edge = np.roll(mnist[0][3], 6, axis=1)  # 28x28 MNIST digit pushed against an edge
    one_pixel = np.zeros((SIDE, SIDE), np.uint8)
    one_pixel[20, 31] = 255
    two_blobs = pen([[(60, 60)], [(220, 220)]], 30)
    mnist_fields = {f"28x28 MNIST digit {i} (used as it is)": mnist[0][i] for i in range(100, 110)}
    return mnist_fields | {
        "filled pad": np.full((SIDE, SIDE), 255, np.uint8),
        "filled pad inside a 0 border": filled,
        "ruling-like full row": ruled,
        "short bar": half_ruled,
        "non-zero background": np.maximum(digit, 3),
        "noisy background": noisy,
        "light background": 255 - digit,
        "checkerboard": checker,
        "stripes": striped,
        "more than half inked": dense,
        "ink on the left edge": pen([[(0, 140), (140, 140)]], 22),
        "ink on the bottom edge": pen([[(140, 140), (140, 280)]], 22),
        "faint (blank: peak 12/255)": (digit.astype(int) * 12 // 255).astype(np.uint8),
        "faint (not blank: peak 13/255)": (digit.astype(int) * 13 // 255).astype(np.uint8),
        "one pixel": one_pixel,
        "two blobs": two_blobs,
        "28x28 MNIST digit (used as it is)": mnist[0][5],
        "28x28 MNIST digit against the edge": mnist_edge,
        "28x28 clean drawing": digit[::2, ::2],
        "30x40 clean drawing": np.pad(digit[::2, ::2], ((1, 1), (6, 6))),
        "too large for the shortcut (401 px)": np.pad(np.asarray(Image.fromarray(digit).resize((380, 380))), ((10, 11), (10, 11))),
        "one row": np.zeros((1, SIDE), np.uint8),
    }


def browser_drawings(page, count: int, seed: int) -> dict[str, np.ndarray]:
    """Drawings made by Chromium's own canvas as static/js/draw.js makes them: quadratic curves
    through the midpoints with a round 22 px pen on a black 280 px canvas, then reduced to 56x56
    by drawImage with high-quality smoothing, the red channel read as bytes."""
    rng = np.random.default_rng(seed)
    strokes = {f"browser digit {name}": lines for name, lines in DIGITS.items()}
    for i in range(count):
        strokes[f"browser random {i}"] = [
            [tuple(map(float, p)) for p in rng.uniform(40, 240, (int(rng.integers(2, 9)), 2))] for _ in range(int(rng.integers(1, 4)))
        ]
    made = page.evaluate(
        """(drawings) => {
            const result = {};
            for (const [name, lines] of Object.entries(drawings)) {
                const canvas = document.createElement("canvas");
                canvas.width = canvas.height = 280;
                const context = canvas.getContext("2d", { willReadFrequently: true });
                context.fillStyle = "#000";
                context.fillRect(0, 0, 280, 280);
                const stroke = (from, control, to) => {
                    context.strokeStyle = "#fff";
                    context.lineWidth = 22;
                    context.lineCap = "round";
                    context.lineJoin = "round";
                    context.beginPath();
                    context.moveTo(from.x, from.y);
                    context.quadraticCurveTo(control.x, control.y, to.x, to.y);
                    context.stroke();
                };
                const mid = (a, b) => ({ x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 });
                for (const line of lines) {
                    const points = line.map(([x, y]) => ({ x, y }));
                    stroke(points[0], points[0], points[0]);
                    for (let i = 1; i < points.length; i++) {
                        const last = points[i - 1], before = i > 1 ? points[i - 2] : last;
                        stroke(mid(before, last), last, mid(last, points[i]));
                    }
                    const end = points[points.length - 1];
                    stroke(end, end, end);
                }
                const small = document.createElement("canvas");
                small.width = small.height = 56;
                const reduced = small.getContext("2d", { willReadFrequently: true });
                reduced.imageSmoothingEnabled = true;
                reduced.imageSmoothingQuality = "high";
                reduced.drawImage(canvas, 0, 0, 56, 56);
                const data = reduced.getImageData(0, 0, 56, 56).data;
                const bytes = new Uint8Array(56 * 56);
                for (let i = 0; i < bytes.length; i++) bytes[i] = data[i * 4];
                result[name] = btoa(String.fromCharCode(...bytes));
            }
            return result;
        }""",
        strokes,
    )
    return {name: np.frombuffer(base64.b64decode(data), np.uint8).reshape(SIDE, SIDE) for name, data in made.items()}


# ----------------------------------------------------------------------------- both sides
def server_side(drawing: np.ndarray) -> tuple[np.ndarray, bool]:
    """The live channel's binary frame for these bytes -> (the server's field, whether the page
    may compute it: a clean canvas, or a 28x28 field `normalise` uses as it is)."""
    header = json.dumps({"seq": 1, "preprocess": "digit", "shape": list(drawing.shape)}).encode()
    image = binary_message(len(header).to_bytes(4, "little") + header + drawing.tobytes())["pixels"]
    page_can = digits.is_mnist_like(image) or digits._clean_canvas(image, digits.WORK_SIDE) is not None
    return digits.normalise(image).field, page_can


def page_side(page, drawings: dict[str, np.ndarray]) -> dict[str, np.ndarray | None]:
    sent = {name: {"shape": list(d.shape), "bytes": base64.b64encode(d.tobytes()).decode()} for name, d in drawings.items()}
    fields = page.evaluate(
        """async ([module, drawings]) => {
            const { padField } = await import(module);
            const decode = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
            const result = {};
            for (const [name, { shape, bytes }] of Object.entries(drawings)) {
                const answer = padField({ shape, bytes: decode(bytes) });
                if (answer === null) { result[name] = null; continue; }
                if (!(answer.field instanceof Float32Array) || answer.field.length !== 784) throw new Error(name + ": not a Float32Array(784)");
                result[name] = btoa(String.fromCharCode(...new Uint8Array(answer.field.buffer)));
            }
            return result;
        }""",
        [MODULE, sent],
    )
    return {name: None if data is None else np.frombuffer(base64.b64decode(data), np.float32).reshape(28, 28) for name, data in fields.items()}


@pytest.fixture
def bare_page(browser, live_server):
    """An empty page on the app's origin under the app page's own Content-Security-Policy (the
    module is all these tests need; the app itself would draw and talk to the server meanwhile)."""
    context = browser.new_context()
    opened = context.new_page()
    errors: list[str] = []
    opened.on("pageerror", lambda error: errors.append(str(error)))
    opened.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    url = live_server + "/pad-field-test"
    policy = page_policy(urlsplit(live_server).netloc)
    opened.route(url, lambda route: route.fulfill(body="<!doctype html><title>pad field</title>", content_type="text/html", headers={"content-security-policy": policy}))
    opened.goto(url)
    yield opened
    context.close()
    assert not errors, errors


def test_the_pages_field_is_the_servers_for_every_drawing_the_shortcut_takes(bare_page, mnist, monkeypatch):
    drawings = pad_test_drawings(monkeypatch, mnist)
    rng = np.random.default_rng(2026)
    drawings |= {f"random pen {i}": random_pen_drawing(rng) for i in range(320)}
    drawings |= general_path_drawings(mnist)
    drawings |= browser_drawings(bare_page, 40, seed=5)

    fields = page_side(bare_page, drawings)
    worst, worst_name, identical, computed, thickened = 0.0, None, 0, 0, 0
    wrong_nulls = []
    for name, drawing in drawings.items():
        expected, page_can = server_side(drawing)
        field = fields[name]
        if (field is not None) != page_can:
            wrong_nulls.append((name, "page computed it" if field is not None else "page returned null"))
            continue
        if field is None:
            continue
        computed += 1
        difference = float(np.abs(field - expected).max())
        identical += bool(np.array_equal(field, expected))
        if difference >= worst:
            worst, worst_name = difference, name
    for name, drawing in drawings.items():  # how many took the thickening step (thin pen lines)
        image = drawing.astype(np.float32)[..., None] / np.float32(255)
        if drawing.ndim == 2 and fields[name] is not None and not digits.is_mnist_like(image):
            step = digits.normalise(image).digit
            thickened += bool(step is not None and step.thickened)
    print(
        f"\n{len(drawings)} drawings: the page computed {computed} (bit-identical: {identical}, "
        f"{thickened} thickened), returned null for {len(drawings) - computed}; "
        f"max |page - server| = {worst:.3g} ({worst_name})"
    )
    assert not wrong_nulls, wrong_nulls
    assert worst <= TOLERANCE, (worst, worst_name)
    assert computed >= 400 and len(drawings) - computed >= 20 and thickened >= 10  # every kind was tested

    # The comparison can fail: a server that resampled the 20 px box with another filter than
    # Lanczos would be told apart on some drawing.
    lanczos = digits.resize_plane
    monkeypatch.setattr(
        digits, "resize_plane", lambda plane, size, resample=Image.Resampling.BOX: lanczos(plane, size, Image.Resampling.BICUBIC)
    )
    names = [n for n in fields if fields[n] is not None and drawings[n].ndim == 2 and drawings[n].shape != (28, 28)]
    perturbed = max(float(np.abs(fields[n] - server_side(drawings[n])[0]).max()) for n in names)
    assert perturbed > TOLERANCE, perturbed


def test_the_blank_pad_gives_the_servers_blank_field(bare_page):
    blank = np.zeros((SIDE, SIDE), np.uint8)
    field = page_side(bare_page, {"blank": blank})["blank"]
    expected, page_can = server_side(blank)
    assert page_can and np.array_equal(field, expected) and not field.any()


def test_bad_input_is_left_to_the_server(bare_page):
    answers = bare_page.evaluate(
        """async (module) => {
            const { padField } = await import(module);
            return [
                padField(null),
                padField({ shape: [56, 56], bytes: new Uint8Array(10) }),
                padField({ shape: [56, 56, 3], bytes: new Uint8Array(56 * 56 * 3) }),
                padField({ shape: [0, 56], bytes: new Uint8Array(0) }),
            ];
        }""",
        MODULE,
    )
    assert answers == [None, None, None, None]
