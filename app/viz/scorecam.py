"""Score-CAM: Wang et al. 2020, "Score-CAM: Score-Weighted Visual Explanations for Convolutional
Neural Networks" (CVPR workshops), section 3, with the channel cap of Faster Score-CAM
(tabayashi0117/Score-CAM; tf-keras-vis's `max_N`).

No gradients: each channel k of layer L's output A is upsampled (bilinear) to the input size and
min-max normalised to a mask H_k in [0, 1] (an all-constant channel gives an empty mask); the
input seen through it, x_k = low + (x - low) * H_k (x * H_k for inputs starting at 0, as in the
paper), is scored by the class probability, w_k = p_c(x_k); raw = ReLU(sum_k w_k A_k) at L's
resolution.

The weights are the class probabilities themselves, as in the authors' released code and in
tf-keras-vis. `channel_softmax=true` follows the paper's Algorithm 1 instead: the increases of
confidence p_c(x_k) - p_c(baseline) are normalised by a softmax over the channels (the baseline's
score cancels in the softmax). `max_channels=N` scores only the N channels whose activation has
the largest spatial variance (Faster Score-CAM), the others weigh 0. Unset, it is
`DEFAULT_MAX_CHANNELS` (256): a layer of at most 256 channels is scored whole (the method exactly as
defined), a wider one (ResNet50's and Xception's 2,048, ConvNeXtTiny's 768) by its 256 channels of
largest variance, which keeps one Score-CAM on these models at 64x64 to a few seconds on 2 cores
(`python -m bench.wide_layers`); `max_channels` = the layer's channels scores them all. Every
masked input runs in batches.
"""

from __future__ import annotations

import numpy as np
from pydantic import Field

from app.errors import InvalidOption
from app.graph import ModelGraph
from app.viz import gradcam
from app.viz.base import Attribution, Cost, Method, Progress, Target, batch_size, check_class, passes
from app.viz.resize import upsample_stack

BATCH = 64
DEFAULT_MAX_CHANNELS = 256


class Options(gradcam.Options):
    max_channels: int | None = Field(
        None, ge=1, description=(
            f"Faster Score-CAM: score only this many channels, those of largest variance; default: {DEFAULT_MAX_CHANNELS} "
            "(all of a layer with at most that many); the layer's channel count scores them all"
        ),
    )
    channel_softmax: bool = Field(
        False, description="weights = softmax over channels of the scores (the paper's Algorithm 1); default: the scores"
    )

    def resolved(self, graph: ModelGraph) -> "Options":
        options = super().resolved(graph)
        channels = graph.layers.units(options.layer)
        if options.max_channels is not None and options.max_channels > channels:
            raise InvalidOption(
                f"max_channels must be between 1 and {channels} (the channels of layer {options.layer!r}); "
                f"got {options.max_channels}."
            )
        return options


def cost(graph: ModelGraph, options: Options) -> Cost:
    """One forward pass per channel scored, plus the layer's pass."""
    height, width, _ = graph.input_shape
    channels = graph.layers.units(options.layer)
    scored = min(scored_channels(options), channels)
    return Cost(
        passes(graph, scored + 1),
        f"Score-CAM of {scored} channels of layer {options.layer!r} on {height}x{width} inputs",
        "max_channels (or choose a layer with fewer channels)",
    )


def channel_masks(feature_map: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """[h, w, k] -> [k, H, W]: each channel upsampled, then min-max normalised to [0, 1]."""
    masks = upsample_stack(np.moveaxis(feature_map, -1, 0), size)
    low = masks.min(axis=(1, 2), keepdims=True)
    spread = masks.max(axis=(1, 2), keepdims=True) - low
    return np.where(spread > 1e-12, (masks - low) / np.where(spread > 1e-12, spread, 1.0), 0.0).astype(np.float32)


def scored_channels(options: Options) -> int:
    """How many channels are scored at most: `max_channels`, or `DEFAULT_MAX_CHANNELS` when unset."""
    return DEFAULT_MAX_CHANNELS if options.max_channels is None else options.max_channels


def strongest_channels(feature_map: np.ndarray, count: int | None) -> np.ndarray:
    """Indices of the `count` channels of largest spatial variance (all when None), in channel order."""
    channels = feature_map.shape[-1]
    if count is None or count >= channels:
        return np.arange(channels)
    variance = feature_map.reshape(-1, channels).var(axis=0)
    return np.sort(np.argsort(-variance, kind="stable")[:count])


def attribute(
    graph: ModelGraph, model_input: np.ndarray, class_index: int | None, options: Options, progress: Progress | None = None
) -> Attribution:
    check_class(graph, class_index)
    feature_map, probabilities = (values[0] for values in graph.layer_output(options.layer, model_input[None]))
    target = Target(int(np.argmax(probabilities)) if class_index is None else class_index, probabilities)
    kept = strongest_channels(feature_map, scored_channels(options))
    masks = channel_masks(feature_map[..., kept], model_input.shape[:2])
    low = graph.input_range[0]
    # Every empty mask (an all-constant channel: a dead ReLU, 4 to 16 of conv3's 64 on test digits)
    # gives the same input, the fill everywhere: scored once.
    empty = ~masks.reshape(len(kept), -1).any(axis=1)
    scored = np.flatnonzero(~empty)
    representative = np.flatnonzero(empty)[:1]  # the one empty mask scored, if any
    scored = np.concatenate([scored, representative])
    scores = np.empty(len(kept), np.float64)
    size = batch_size(graph, BATCH, backward=False)
    for start in range(0, len(scored), size):
        chunk = scored[start : start + size]
        masked = low + (model_input[None] - low) * masks[chunk, :, :, None]
        scores[chunk] = graph.probabilities(masked)[:, target.class_index]
        if progress:
            progress(start + len(chunk), len(scored))
    if representative.size:
        scores[empty] = scores[representative[0]]
    if options.channel_softmax:
        scores = np.exp(scores - scores.max())
        scores /= scores.sum()
    weights = np.zeros(feature_map.shape[-1], np.float32)
    weights[kept] = scores
    attribution = gradcam.class_map(graph, gradcam.weighted_map(feature_map, weights), options.layer, target)
    attribution.extras["channels"] = len(kept)
    return attribution


METHOD = Method(
    name="scorecam",
    title="Score-CAM",
    endpoint="gradcam",
    options=Options,
    attribute=attribute,
    reference="Wang et al. 2020, Score-CAM: Score-Weighted Visual Explanations for Convolutional Neural Networks",
    long_job=True,
    cost=cost,
)
