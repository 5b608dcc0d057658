"""The overlay's colormap: inferno as a 256-colour table, as matplotlib applies it."""

import numpy as np

from app.colormap import inferno, inferno_polynomial


def test_the_table_gives_the_polynomial_at_the_nearest_of_256_levels():
    values = np.random.default_rng(0).random((64, 64))
    expected = inferno_polynomial(np.rint(values * 255) / 255)
    np.testing.assert_allclose(inferno(values), expected, atol=1e-6)
    # and so within half a table step times the map's steepest slope (about 5.4) of the polynomial
    assert np.abs(inferno(values) - inferno_polynomial(values)).max() < 3 / 255


def test_values_outside_zero_to_one_take_the_end_colours():
    np.testing.assert_allclose(inferno(np.array([-3.0, 0.0, 1.0, 7.0])), inferno_polynomial(np.array([0.0, 0.0, 1.0, 1.0])), atol=1e-6)
    assert inferno(np.array([0.0])).max() < 0.02 and inferno(np.array([1.0])).min() > 0.6  # dark to pale yellow
