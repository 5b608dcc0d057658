"""The page fits a 1440x900 window when a model's layer names are long (nested models name their
layers "base/inner"): the Explain card's layer list ends in an ellipsis with the whole name as its
tooltip, and no element reaches past the window's right edge."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

BASE = "a_feature_extractor_with_a_rather_long_descriptive_name"
INNER = "expanded_convolution_block_number_ten_squeeze_excite_projection"


def long_names():
    import keras

    keras.utils.set_random_seed(0)
    base_in = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name=f"{INNER}_first")(base_in)
    x = keras.layers.Conv2D(4, 3, activation="relu", name=f"{INNER}_second")(x)
    base = keras.Model(base_in, x, name=BASE)
    inputs = keras.Input((32, 32, 3))
    pooled = keras.layers.GlobalAveragePooling2D(name="pool")(base(inputs))
    return keras.Model(inputs, keras.layers.Dense(3, activation="softmax", name="predictions")(pooled))


@pytest.fixture(scope="module")
def long_names_server():
    from tests.e2e.inmemory import serving

    with serving({"long-names": (long_names(), {"name": "Long names", "input_range": (0.0, 255.0)})}) as url:
        yield url


def test_long_nested_layer_names_fit_the_window(browser, long_names_server):
    context = browser.new_context(viewport={"width": 1440, "height": 900})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(long_names_server + "/?model=long-names")
    page.wait_for_function("() => document.querySelectorAll('#explain-layer option').length > 0", timeout=60_000)
    chosen = page.eval_on_selector("#explain-layer", "s => ({value: s.value, title: s.title})")
    assert chosen == {"value": f"{BASE}/{INNER}_second", "title": f"{BASE}/{INNER}_second"}
    beyond = page.evaluate(
        """() => [...document.querySelectorAll('body *')]
            .map((node) => [node.tagName + (node.id ? '#' + node.id : ''), node.getBoundingClientRect()])
            .filter(([, box]) => box.width > 0 && box.right > window.innerWidth + 0.5)
            .map(([name, box]) => name + ' ' + Math.round(box.right))"""
    )
    assert beyond == [], beyond
    assert page.evaluate("document.documentElement.scrollWidth") <= 1440
    context.close()
    assert not errors, errors
