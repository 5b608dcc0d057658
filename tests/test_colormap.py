"""The overlay's colormap: inferno as a 256-colour table, as matplotlib applies it."""

import numpy as np

from app.colormap import HEAT_OPACITY, inferno, inferno_polynomial, overlay_pixels


def test_the_table_gives_the_polynomial_at_the_nearest_of_256_levels():
    values = np.random.default_rng(0).random((64, 64))
    expected = inferno_polynomial(np.rint(values * 255) / 255)
    np.testing.assert_allclose(inferno(values), expected, atol=1e-6)
    # and so within half a table step times the map's steepest slope (about 5.4) of the polynomial
    assert np.abs(inferno(values) - inferno_polynomial(values)).max() < 3 / 255


def test_values_outside_zero_to_one_take_the_end_colours():
    np.testing.assert_allclose(inferno(np.array([-3.0, 0.0, 1.0, 7.0])), inferno_polynomial(np.array([0.0, 0.0, 1.0, 1.0])), atol=1e-6)
    assert inferno(np.array([0.0])).max() < 0.02 and inferno(np.array([1.0])).min() > 0.6  # dark to pale yellow


def test_nan_and_infinities_take_the_end_colours():
    np.testing.assert_array_equal(inferno(np.array([np.nan, -np.inf, np.inf])), inferno(np.array([0.0, 0.0, 1.0])))


def test_the_overlay_is_the_heat_over_the_input_in_grey():
    """60% of the heat's colour over 40% of the input's grey (a colour input's mean of R, G, B),
    in 0..255, from the definition in float64; at most one level off (float32 rounding)."""
    rng = np.random.default_rng(1)
    heat = rng.random((9, 7))
    for channels, input_range in ((1, (0.0, 1.0)), (3, (-1.0, 1.0)), (3, (0.0, 255.0))):
        low, high = input_range
        image = rng.uniform(low - 0.1 * (high - low), high, (9, 7, channels))  # a little out of range, clipped
        grey = np.clip((image - low) / (high - low), 0, 1).mean(axis=-1, keepdims=True)
        expected = 255 * (HEAT_OPACITY * inferno_polynomial(np.rint(heat * 255) / 255) + (1 - HEAT_OPACITY) * grey)
        pixels = overlay_pixels(image.astype(np.float32), heat.astype(np.float32), input_range)
        assert pixels.dtype == np.uint8 and pixels.shape == (9, 7, 3)
        assert np.abs(pixels.astype(float) - expected).max() <= 1.0
