"""The Lessons panel in real Chromium: each view's numbers against Keras and the API, keyboard
access, and a phone-sized screen. One page load for the desktop views, one for the phone."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from scipy.signal import correlate2d

from tests.e2e.conftest import DIGITS, blank_pad, draw, unit_point

pytestmark = pytest.mark.browser


def open_page(browser, live_server, viewport):
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    page.errors = []
    page.on("console", lambda message: page.errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: page.errors.append(str(error)))
    page.goto(live_server + "/")
    page.wait_for_selector("[data-testid=layer]")
    blank_pad(page)
    return context, page


@pytest.fixture(scope="module")
def lessons_page(browser, live_server):
    context, page = open_page(browser, live_server, {"width": 1280, "height": 900})
    draw(page, DIGITS["7"])
    page.wait_for_function("() => document.querySelector('[data-testid=prediction]').textContent.trim() === '7'")
    yield page
    errors = page.errors
    context.close()
    assert not errors, errors


@pytest.fixture(scope="module")
def convnet(keras_models):
    return keras_models["mnist-convnet"]


def layer_output(model, name, image):
    return keras.Model(model.inputs, model.get_layer(name).output)(image[None]).numpy()[0]


def page_input(page) -> np.ndarray:
    """The exact model input on the page (float32), as the step view fetched it."""
    data = page.evaluate("() => { const i = window.convnetVisLessons.convStep.data.input; return {shape: i.shape, data: Array.from(i.data)}; }")
    return np.asarray(data["data"], np.float32).reshape(data["shape"])


def test_convolution_step_from_the_info_box_and_through_a_whole_map(lessons_page, convnet):
    page = lessons_page
    page.mouse.click(*unit_point(page, "conv1", (4, 12, 14)))  # pins the unit in the info box
    page.locator("#info [data-testid=how]").click()
    page.wait_for_function("() => document.querySelector('[data-testid=step-sum]').dataset.value !== undefined")
    target = page.locator("#info [data-testid=how]").evaluate("b => ({y: +b.dataset.y, x: +b.dataset.x, channel: +b.dataset.channel})")
    assert target["channel"] == 4
    image = page_input(page)
    conv1 = layer_output(convnet, "conv1", image)
    shown = float(page.locator("[data-testid=step-sum]").get_attribute("data-value"))
    assert shown == pytest.approx(conv1[target["y"], target["x"], 4], abs=1e-5)

    # restart and step through every position: the filled map is conv1's channel 4
    page.click("[data-testid=step-reset]")
    for _ in range(3):
        page.click("[data-testid=step-next]")
    assert page.evaluate("window.convnetVisLessons.convStep.position") == 3
    page.click("[data-testid=step-end]")
    filled = np.array(page.evaluate("window.convnetVisLessons.convStep.computedMap()"), np.float32).reshape(26, 26)
    np.testing.assert_allclose(filled, conv1[:, :, 4], atol=1e-5)

    # a conv2 cell (32 input channels) and a pool1 cell, chosen with the view's own controls
    for layer, channel, row, col in (("conv2", 17, 5, 6), ("pool1", 3, 7, 2)):
        page.select_option("[data-cs=layer]", layer)
        page.fill("[data-cs=channel]", str(channel))
        page.fill("[data-cs=row]", str(row))
        page.fill("[data-cs=col]", str(col))
        page.click("[data-testid=step-go]")
        page.wait_for_function(f"() => window.convnetVisLessons.convStep.layer?.name === '{layer}'")
        shown = float(page.locator("[data-testid=step-sum]").get_attribute("data-value"))
        assert shown == pytest.approx(layer_output(convnet, layer, image)[row, col, channel], abs=1e-4)
    page.click("[data-testid=step-play]")
    page.wait_for_function("() => window.convnetVisLessons.convStep.position > 1")
    page.click("[data-testid=step-play]")  # pause
    assert page.locator("[data-testid=step-play]").get_attribute("aria-pressed") == "false"


def test_kernel_lab_equals_correlate2d(lessons_page):
    page = lessons_page
    page.click("[data-testid=lesson-kernel] summary")
    page.select_option("[data-testid=kernel-preset]", "sobel_x")
    page.fill("[data-testid=kernel-stride]", "2")
    page.dispatch_event("[data-testid=kernel-stride]", "change")
    page.wait_for_function("() => document.querySelector('[data-testid=kernel-result]').dataset.shape === '13x13'")
    kernel, formula = page.evaluate("() => { const a = window.convnetVisLessons.views.kernel.answer; return [a.kernel, a.formula]; }")
    assert kernel == [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    assert formula[0] == "⌊(28 − 3 + 2·0) / 2⌋ + 1 = 13"
    # the lab's numbers as the page decodes them, against scipy on the map the lab shows (the input)
    decoded = """async () => { const {decodeArray} = await import('/static/js/api.js');
                   const a = window.convnetVisLessons.views.kernel.answer;
                   return [a.source_map, a.feature_map].map(o => Array.from(decodeArray(o).data)); }"""
    source, values = page.evaluate(decoded)
    image = np.array(source, np.float32).reshape(28, 28)
    assert image.max() > 0.5  # the drawn 7
    expected = correlate2d(image, np.array(kernel, float), mode="valid")[::2, ::2]
    np.testing.assert_allclose(np.array(values).reshape(13, 13), expected, atol=1e-4)
    # editing one number in place recomputes
    page.locator("[data-testid=kernel-grid] input").nth(4).fill("1")
    page.locator("[data-testid=kernel-grid] input").nth(4).dispatch_event("change")
    page.wait_for_function("() => window.convnetVisLessons.views.kernel.answer.kernel[1][1] === 1")


def test_pooling_lab_marks_the_models_own_pooling(lessons_page):
    page = lessons_page
    page.click("[data-testid=lesson-pool] summary")
    page.wait_for_selector("[data-testid=own-pooling]")
    assert page.locator("[data-testid=pool-panels] canvas").count() == 3
    assert "pool1" in page.inner_text("[data-testid=own-pooling]")
    assert page.locator("[data-testid=pool-panels] figure.own canvas").get_attribute("data-kind") == "max"
    page.fill("[data-testid=pool-window]", "3")
    page.dispatch_event("[data-testid=pool-window]", "change")
    page.wait_for_function("() => window.convnetVisLessons.views.pool.answer.window === 3")
    assert page.locator("[data-testid=own-pooling]").count() == 0  # window 3 is not the model's pooling


def test_invariance_explorer_and_sweep(lessons_page):
    page = lessons_page
    page.click("[data-testid=lesson-invariance] summary")
    page.wait_for_function("() => document.querySelector('[data-testid=invariance-bars]').dataset.top === '7'")
    page.locator("[data-iv=rotate]").fill("180")
    page.wait_for_function("() => document.querySelector('[data-iv=rotate] + output').textContent === '180'")
    page.wait_for_function("() => !window.convnetVisLessons.views.invariance.busy")
    page.click("[data-testid=sweep-run]")
    page.wait_for_function("() => window.convnetVisLessons.views.invariance.sweepAnswer")
    answer = page.evaluate("() => { const a = window.convnetVisLessons.views.invariance.sweepAnswer; return {values: a.values, p: a.probabilities, base: a.base}; }")
    assert len(answer["values"]) == 37 and answer["values"][0] == -180 and answer["values"][-1] == 180
    assert "rotate" not in answer["base"] and answer["base"]["zoom"] == 1  # the swept value replaces the slider's
    assert len(answer["p"][18]) == 10 and np.argmax(answer["p"][18]) == 7  # rotation 0, in the middle


def test_summary_table(lessons_page, client):
    page = lessons_page
    page.click("[data-testid=lesson-summary] summary")
    page.wait_for_selector("[data-testid=total-params]")
    expected = client.get("/api/models/mnist-convnet/summary").json()
    assert page.inner_text("[data-testid=total-params]") == f"{expected['total']:,}" == "93,322"
    assert page.locator("[data-testid=summary-table] tbody tr").count() == len(expected["layers"])
    assert "18,496" in page.inner_text("[data-testid=summary-table] tr[data-layer=conv2]")


def test_lessons_are_keyboard_reachable(lessons_page):
    page = lessons_page
    summary = page.locator("[data-testid=lesson-step] summary")
    summary.focus()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.cs") == "layer"
    controls = page.eval_on_selector_all(
        "#lessons summary, #lessons button, #lessons input, #lessons select",
        "nodes => nodes.filter(n => n.offsetParent !== null).map(n => n.tabIndex)",
    )
    assert controls and all(index >= 0 for index in controls)


def test_lessons_on_a_phone(browser, live_server):
    context, page = open_page(browser, live_server, {"width": 390, "height": 844})
    try:
        for name in ("step", "kernel", "pool", "invariance", "summary"):
            page.click(f"[data-testid=lesson-{name}] summary")
        page.wait_for_selector("[data-testid=total-params]")
        page.click("[data-testid=step-go]")
        page.wait_for_function("() => window.convnetVisLessons.convStep.data")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, width
        assert not page.errors, page.errors
    finally:
        context.close()
