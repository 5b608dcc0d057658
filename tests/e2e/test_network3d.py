"""The 3D view as Harley's (issue 27, item 6), in real headless Chromium with WebGL: every plane
labelled with its layer's name and shape beside it, every plane and label inside the canvas when
the view opens (both bundled models, at a laptop's, a projector's and a phone's size), a conv
unit's edges ending on its receptive field in the layer below, a pinned unit kept while others are
hovered, and the keyboard moving, pinning and releasing a unit. Where three.js draws a thing is read
from the view's own projection (`window.__network3d`); what a unit is, from the server's layer
facts and the Unit box a person reads."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

VIEWPORTS = [(1440, 900), (1920, 1080), (390, 844)]
CANVAS = "#network-3d canvas"


@pytest.fixture
def open_3d(open_app):
    """open_3d(query, width, height) -> a page on /?view=3d&query, its 3D canvas drawn; console
    errors fail the test."""

    def opener(query: str = "", width: int = 1440, height: int = 900):
        page = open_app(f"?view=3d&{query}", width, height)
        page.wait_for_function(f"() => document.querySelector('{CANVAS}').width > 0 && !!window.__network3d")
        return page

    return opener


def layer_names(client, model: str) -> list[str]:
    detail = client.get(f"/api/models/{model}").json()
    return ["input"] + [layer["name"] for layer in detail["layers"] if not layer["is_container"]]


def info_text(page) -> str:
    return page.inner_text("[data-testid=info]")


def inside(box, frame, slack=0.5) -> bool:
    return box["left"] >= frame["left"] - slack and box["right"] <= frame["right"] + slack and box["top"] >= frame["top"] - slack and box["bottom"] <= frame["bottom"] + slack


@pytest.mark.parametrize("model", ["mnist-convnet", "mnist-lenet"])
@pytest.mark.parametrize(("width", "height"), VIEWPORTS)
def test_every_plane_and_its_label_is_in_the_canvas_when_the_view_opens(open_3d, client, model, width, height):
    page = open_3d(f"model={model}", width, height)
    detail = client.get(f"/api/models/{model}").json()
    shapes = {"input": detail["input_shape"]} | {layer["name"]: layer["output_shape"] for layer in detail["layers"]}
    canvas = page.evaluate("window.__network3d.canvas()")
    assert canvas["width"] > 200 and canvas["height"] > 200, canvas
    planes = {plane["name"]: plane for plane in page.evaluate("window.__network3d.planes()")}
    assert list(planes) == layer_names(client, model)
    labels = page.eval_on_selector_all(
        "#network-3d .label-3d",
        """nodes => nodes.map(n => { const r = n.getBoundingClientRect();
            return {name: n.dataset.layer, text: n.innerText, left: r.left, right: r.right, top: r.top, bottom: r.bottom,
                    size: parseFloat(getComputedStyle(n.querySelector('span')).fontSize), shown: n.checkVisibility()}; })""",
    )
    assert [label["name"] for label in labels] == list(planes)
    for label in labels:
        name, plane = label["name"], planes[label["name"]]
        assert inside(plane, canvas), (name, plane, canvas)  # the plane: nothing cut off
        # its label: present, saying the layer's name and shape, readable, inside the canvas, beside its plane
        assert label["shown"] and label["size"] >= 11, label
        assert label["text"].split("\n") == [name, "×".join(map(str, shapes[name]))], label
        assert inside(label, canvas), (label, canvas)
        assert label["right"] <= plane["left"] + 1 and plane["top"] - 1 <= (label["top"] + label["bottom"]) / 2 <= plane["bottom"] + 1, (label, plane)
    # no label covers another
    ordered = sorted(labels, key=lambda label: label["top"])
    for upper, lower in zip(ordered, ordered[1:]):
        apart = upper["bottom"] <= lower["top"] + 0.5 or upper["right"] <= lower["left"] or lower["right"] <= upper["left"]
        assert apart, (upper, lower)


def receptive_field(layer: dict, inbound_shape: list[int], channel: int, y: int, x: int) -> set[tuple[int, int, int]]:
    """The units of the layer below that a conv unit reads, from the server's layer facts."""
    config = layer["config"]
    (ky, kx), (sy, sx) = config["kernel_size"], config["strides"]
    assert config["padding"] == "valid"
    return {(c, y * sy + i, x * sx + j) for i in range(ky) for j in range(kx) for c in range(inbound_shape[2])}


@pytest.mark.parametrize(("model", "unit"), [("mnist-convnet", (5, 4, 6)), ("mnist-lenet", (3, 4, 5))])
def test_a_conv_units_edges_end_on_its_receptive_field_in_the_layer_below(open_3d, client, model, unit):
    channel, y, x = unit
    page = open_3d(f"model={model}&unit=conv2:{channel},{y},{x}")
    detail = client.get(f"/api/models/{model}").json()
    by_name = {layer["name"]: layer for layer in detail["layers"]}
    conv, below = by_name["conv2"], by_name[by_name["conv2"]["inbound"][0]]
    expected = receptive_field(conv, below["output_shape"], channel, y, x)
    page.wait_for_function(f"() => document.querySelector('{CANVAS}').dataset.drawn === '{len(expected)}'", timeout=30_000)
    edges = page.evaluate("window.__network3d.edges()")
    assert edges["unit"] == f"conv2:{channel},{y},{x}" and edges["from"] == below["name"]
    ends = {(end["unit"]["channel"], end["unit"]["y"], end["unit"]["x"]): (end["x"], end["y"]) for end in edges["ends"]}
    assert set(ends) == expected
    # where the edges end on screen is that unit: with only the layer below shown, the pointer there
    # shows it in the Unit box, as a person would find it
    for name in layer_names(client, model):
        if name != below["name"]:
            page.uncheck(f"#network-3d input[data-layer={name}]")
    kernel = conv["config"]["kernel_size"]
    for c, row, column in [(0, y, x), (1, y + kernel[0] - 1, x + kernel[1] - 1), (below["output_shape"][2] - 1, y + 1, x + kernel[1] - 1)]:
        page.mouse.move(*ends[(c, row, column)])
        page.wait_for_function(f"() => document.querySelector('[data-testid=info]').innerText.includes('{below['name']} (')")
        assert f"{below['name']} ({below['class_name']}), row {row}, column {column}, channel {c}" in info_text(page)


def test_a_pinned_unit_stays_while_others_are_hovered(open_3d):
    page = open_3d("model=mnist-convnet")
    hook = "window.__network3d"
    pinned_point = page.evaluate(f"{hook}.unitPoint('output', {{index: 7}})")
    page.mouse.click(pinned_point["x"], pinned_point["y"])
    page.wait_for_function("() => location.search.includes('unit=output%3A7') || location.search.includes('unit=output:7')")
    assert "output (Dense), unit 7" in info_text(page) and page.get_attribute(CANVAS, "data-pinned") == "output:7"
    # hovering another unit shows it for now; the pin stays marked where it is
    other = page.evaluate(f"{hook}.unitPoint('output', {{index: 2}})")
    page.mouse.move(other["x"], other["y"])
    page.wait_for_function("() => document.querySelector('[data-testid=info]').innerText.includes('output (Dense), unit 2')")
    marks = page.evaluate(f"{hook}.marks()")
    assert [mark["unit"] for mark in marks] == ["output:7"]
    assert abs(marks[0]["x"] - pinned_point["x"]) < 1 and abs(marks[0]["y"] - pinned_point["y"]) < 1
    assert page.get_attribute(CANVAS, "data-pinned") == "output:7"
    assert page.evaluate(f"{hook}.edges().unit") == "output:2"
    # the pointer leaves: the pinned unit is back in the Unit box, with its edges
    page.mouse.move(5, 5)
    page.wait_for_function("() => document.querySelector('[data-testid=info]').innerText.includes('output (Dense), unit 7')")
    assert "pinned" in info_text(page)
    assert page.evaluate(f"{hook}.edges().unit") == "output:7"
    assert [mark["unit"] for mark in page.evaluate(f"{hook}.marks()")] == ["output:7"]


def test_the_keyboard_moves_through_a_layer_and_the_stack_pins_and_releases(open_3d, client):
    page = open_3d("model=mnist-convnet")
    # Tab from the last layer switch reaches the canvas, which says what the keys do
    last = layer_names(client, "mnist-convnet")[-1]
    page.focus(f"#network-3d input[data-layer={last}]")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement === document.querySelector('#network-3d canvas')")
    assert "arrow keys" in page.get_attribute(CANVAS, "aria-label")

    def shows(text):
        page.wait_for_function(f"() => document.querySelector('[data-testid=info]').innerText.includes({text!r})")
        assert page.get_attribute(CANVAS, "data-cursor") == page.evaluate("window.__network3d.marks().at(-1).unit")

    shows("input, row 14, column 14")
    page.keyboard.press("ArrowRight")
    shows("input, row 14, column 15")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    shows("input, row 16, column 15")
    # up the stack: conv1 (26x26) at the same place of the image, its edges to the input drawn
    page.keyboard.press("PageUp")
    shows("conv1 (Conv2D), row 15, column 14, channel 0")
    assert page.get_attribute(CANVAS, "data-unit") == "conv1" and page.get_attribute(CANVAS, "data-count") == "9"
    page.keyboard.press("ArrowRight")
    shows("conv1 (Conv2D), row 15, column 15, channel 0")
    # along a row past a map's edge: the next map
    for _ in range(11):
        page.keyboard.press("ArrowRight")
    shows("conv1 (Conv2D), row 15, column 0, channel 1")
    page.keyboard.press("]")
    shows("pool1 (MaxPooling2D), row 7, column 0, channel 1")
    page.keyboard.press("Enter")
    page.wait_for_function("() => decodeURIComponent(location.search).includes('unit=pool1:1,7,0')")
    assert "pinned" in info_text(page)
    page.keyboard.press("PageDown")
    shows("conv1 (Conv2D), row 15, column 1, channel 1")
    assert page.get_attribute(CANVAS, "data-pinned") == "pool1:1,7,0"
    page.keyboard.press("Escape")
    page.wait_for_function("() => !location.search.includes('unit=')")
    assert page.get_attribute(CANVAS, "data-pinned") == ""
    # leaving the canvas takes the keyboard's unit away
    page.keyboard.press("Shift+Tab")
    page.wait_for_function(f"() => document.querySelector('{CANVAS}').dataset.cursor === ''")
    assert info_text(page).startswith("Hover a cell"), info_text(page)
