"""tf-keras-vis 0.8.7 (a pinned dev dependency) as an independent oracle, on a functional clone of
the seed model with a linear last layer (tf-keras-vis needs `output_names`, which a Keras 3
Sequential lacks, and explains the logit as we do).

Where the conventions match, the maps agree to float precision. Where they differ, the test aligns
them and says how: Grad-CAM++ with `normalise_alpha=true` (tf-keras-vis normalises alpha per
channel; eq. 19 does not); Score-CAM with tf-keras-vis's activation upsampling replaced by ours
(scipy's `zoom` aligns the corner pixels, the authors' code and ours align pixel centres); SmoothGrad
with tf-keras-vis fed our noise.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tf_keras_vis.scorecam
from tf_keras_vis.gradcam import Gradcam
from tf_keras_vis.gradcam_plus_plus import GradcamPlusPlus
from tf_keras_vis.layercam import Layercam
from tf_keras_vis.saliency import Saliency
from tf_keras_vis.scorecam import Scorecam
from tf_keras_vis.utils.scores import CategoricalScore

from app.viz.resize import upsample
from tests.viz.conftest import digit, explain

DIGITS = range(6)
# tf-keras-vis calls a one-input model with a list of inputs
pytestmark = pytest.mark.filterwarnings("ignore:The structure of `inputs`:UserWarning")


@pytest.fixture(scope="module")
def clone(keras_models) -> keras.Model:
    """Fresh layers with the seed model's weights called on a new keras.Input (a layer reused from
    the Sequential would hand tf-keras-vis an `.output` of the Sequential's own graph)."""
    model = keras_models["mnist-convnet"]
    inputs = keras.Input(model.inputs[0].shape[1:])
    tensor = inputs
    for layer in model.layers:
        config = layer.get_config()
        if layer is model.layers[-1]:
            config = {**config, "activation": "linear"}
        fresh = type(layer).from_config(config)
        tensor = fresh(tensor)
        fresh.set_weights(layer.get_weights())
    return keras.Model(inputs, tensor)


def top_class(convnet, x) -> int:
    return int(np.argmax(convnet.probabilities(x[None])[0]))


def assert_same_map(theirs, ours):
    """Equal up to a positive scale (tf-keras-vis's Grad-CAM++ carries exp(score)); correlation >= 0.99."""
    theirs, ours = np.asarray(theirs, np.float64), np.asarray(ours, np.float64)
    assert theirs.shape == ours.shape
    if ours.max() <= 0:
        assert theirs.max() <= 1e-6 * max(1.0, np.abs(theirs).max())
        return
    np.testing.assert_allclose(theirs / theirs.max(), ours / ours.max(), atol=1e-4)
    assert np.corrcoef(theirs.ravel(), ours.ravel())[0, 1] >= 0.99


@pytest.mark.parametrize(
    "tool,method,options",
    [
        (Gradcam, "gradcam", {}),
        (GradcamPlusPlus, "gradcam++", {"normalise_alpha": True}),
        (Layercam, "layercam", {}),
    ],
)
@pytest.mark.parametrize("layer", ["conv3", "conv2"])
def test_cam_methods_equal_tf_keras_vis(convnet, clone, mnist, tool, method, options, layer):
    for index in DIGITS:
        x = digit(mnist, index)
        class_index = top_class(convnet, x)
        theirs = tool(clone)(CategoricalScore(class_index), x[None], penultimate_layer=layer, expand_cam=False, normalize_cam=False)
        assert_same_map(theirs[0], explain(convnet, method, x, class_index, layer=layer, **options).raw)


def test_gradcam_plus_plus_eq19_is_not_tf_keras_vis_convention(convnet, clone, mnist):
    """Without normalise_alpha the maps can disagree even in sign (digit 43: correlation -0.45)."""
    x = digit(mnist, 43)
    class_index = top_class(convnet, x)
    theirs = GradcamPlusPlus(clone)(CategoricalScore(class_index), x[None], penultimate_layer="conv3", expand_cam=False, normalize_cam=False)
    ours = explain(convnet, "gradcam++", x, class_index).raw
    assert np.corrcoef(np.ravel(theirs[0]), ours.ravel())[0, 1] < 0


def half_pixel_zoom(array, factor, order=1, mode="nearest"):
    """scipy.ndimage.zoom's call in tf_keras_vis.scorecam, with our bilinear (pixel centres aligned)."""
    array = np.asarray(array)
    height, width = (int(round(n * f)) for n, f in zip(array.shape[1:3], factor[1:3]))
    out = np.empty((array.shape[0], height, width, array.shape[3]), np.float32)
    for n in range(array.shape[0]):
        for k in range(array.shape[3]):
            out[n, :, :, k] = upsample(array[n, :, :, k], (height, width))
    return out


@pytest.mark.parametrize("layer,max_channels", [("conv3", None), ("conv2", None), ("conv2", 16)])
def test_scorecam_equals_tf_keras_vis(convnet, clone, mnist, monkeypatch, layer, max_channels):
    monkeypatch.setattr(tf_keras_vis.scorecam, "zoom", half_pixel_zoom)
    for index in range(3):
        x = digit(mnist, index)
        class_index = top_class(convnet, x)
        theirs = Scorecam(clone)(
            CategoricalScore(class_index), x[None], penultimate_layer=layer, max_N=max_channels,
            expand_cam=False, normalize_cam=False,
        )
        ours = explain(convnet, "scorecam", x, class_index, layer=layer, max_channels=max_channels).raw
        assert_same_map(theirs[0], ours)


def test_scorecam_without_aligning_the_upsampling(convnet, clone, mnist):
    """With scipy's corner-aligned zoom left in, the masks differ a little: on conv2 (11 x 11) the
    maps still correlate at 0.98 or more."""
    for index in range(3):
        x = digit(mnist, index)
        class_index = top_class(convnet, x)
        theirs = Scorecam(clone)(CategoricalScore(class_index), x[None], penultimate_layer="conv2", expand_cam=False, normalize_cam=False)
        ours = explain(convnet, "scorecam", x, class_index, layer="conv2").raw
        assert np.corrcoef(np.ravel(theirs[0]), ours.ravel())[0, 1] >= 0.98


def test_saliency_equals_tf_keras_vis(convnet, clone, mnist):
    for index in DIGITS:
        x = digit(mnist, index)
        class_index = top_class(convnet, x)
        theirs = Saliency(clone)(CategoricalScore(class_index), x[None], normalize_map=False)
        assert_same_map(theirs[0], explain(convnet, "gradient", x, class_index).raw)


def test_smoothgrad_with_the_same_noise_equals_tf_keras_vis(convnet, clone, mnist, monkeypatch):
    """tf-keras-vis draws its noise from numpy's global generator: it is handed ours instead."""
    samples, level, seed = 12, 0.2, 5
    x = digit(mnist, 4)
    class_index = top_class(convnet, x)
    ours = explain(convnet, "smoothgrad", x, class_index, samples=samples, noise_level=level, seed=seed).raw
    noise = np.random.default_rng(seed).normal(0.0, level, (samples, *x.shape)).astype(np.float32)
    monkeypatch.setattr(np.random, "normal", lambda loc, scale, size: noise.reshape(size))
    theirs = Saliency(clone)(CategoricalScore(class_index), x[None], smooth_samples=samples, smooth_noise=level, normalize_map=False)
    assert_same_map(theirs[0], ours)
