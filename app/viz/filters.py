"""Filter patterns: the input that maximally excites one channel of a layer (activation
maximisation; Erhan et al. 2009, "Visualizing Higher-Layer Features of a Deep Network"), done as
Olah et al. 2017 ("Feature Visualization", Distill) recommend:

- every channel of a layer is optimised at once, one image per channel, as one batch;
- the image is `low + (high - low) * sigmoid(...)`, so it stays in the model's own input range;
  `...` is one value per pixel (`pixel`, the default for grayscale models), or a 1/f-scaled Fourier
  spectrum with decorrelated colour (`fourier`, the default for RGB models; `image_params.py`);
- transformation robustness: a random shift every step (`pixel`), or a random affine warp with
  scale and rotation (`fourier`);
- regularisation: a total-variation penalty keeps high-frequency noise out;
- Adam on `v`, starting near mid-grey with a little noise (keras.io's start);
- dead units: a channel that is zero after its ReLU on the start image has no gradient, so for
  the first third of the steps the objective is the pre-activation of the nearest layer with a
  non-linear activation (its linear clone), then the channel's real mean activation.

The jitter sequence is shared by all channels and each channel's start is seeded by (seed,
channel), so a channel's pattern does not depend on which other channels share its batch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import keras
import numpy as np
import tensorflow as tf
from pydantic import BaseModel, ConfigDict, Field

from app.graph import FunctionKey, ModelGraph, thin_conv
from app.graph.trace import TracedGraph
from app.viz.base import GRADIENT, Cost, Progress, batch_size, passes
from app.viz.image_params import FourierImage, PixelImage, random_warps, warp

BATCH = 64  # channels optimised together (fewer for big models: `batch_size`)
ELEMENT_WISE = ("MaxPooling", "AveragePooling", "Dropout", "BatchNormalization", "Activation", "ReLU", "ZeroPadding", "Cropping")


MAX_STEPS = 1024


class Options(BaseModel):
    """The optimisation's parameters; the bounds are the API's limits. Read from a query string
    with other parameters beside them, so extra names are ignored."""

    model_config = ConfigDict(frozen=True)

    steps: int = Field(128, ge=1, le=MAX_STEPS, description=f"gradient-ascent steps (1 to {MAX_STEPS})")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="seed of the start images and the jitter")
    step_size: float = Field(0.05, ge=1e-4, le=1.0, description="Adam learning rate on the image's sigmoid logits (1e-4 to 1)")
    jitter: int = Field(2, ge=0, le=8, description="random shift in pixels at every step (0 to 8)")
    total_variation: float = Field(0.05, ge=0, le=10, description="weight of the total-variation penalty (0 to 10)")
    parameterization: Literal["auto", "pixel", "fourier"] = Field(
        "auto", description="pixel, or fourier (1/f spectrum, decorrelated colour); auto: fourier for RGB models, pixel otherwise"
    )

    def resolved(self, graph: ModelGraph) -> "Options":
        if self.parameterization != "auto":
            return self
        return self.model_copy(update={"parameterization": "fourier" if graph.input_shape[-1] == 3 else "pixel"})


@dataclass(frozen=True)
class PatternStep(FunctionKey):
    layer: str
    parameterization: str


def cost(graph: ModelGraph, options: Options) -> Cost:
    """One channel's pattern: a gradient of the input-sized image per step. (An atlas runs every
    channel of its layer: that count comes with the model, not with the request.)"""
    height, width, _ = graph.input_shape
    return Cost(passes(graph, options.steps, GRADIENT), f"A filter pattern of steps={options.steps} on {height}x{width} inputs", "steps")


def image_parameters(graph: ModelGraph, parameterization: str):
    height, width, channels = graph.input_shape
    return (FourierImage if parameterization == "fourier" else PixelImage)(height, width, channels)


def channel_count(graph: ModelGraph, layer: str) -> int:
    return graph.layers.units(layer)


def _warm_up_tensor(traced: TracedGraph, layer: str, depthwise: bool):
    """The linear (pre-activation) twin of the nearest activation at or below `layer` in `traced`
    (a grouped depthwise twin computed as depthwise when `depthwise`, as `traced`'s own are)."""
    nodes = traced.nodes
    node = nodes[layer]
    while node is not None:
        activation = getattr(node.layer, "activation", None)
        name = getattr(activation, "__name__", "linear")
        if name != "linear" and len(node.input_tensors) == 1 and hasattr(node.layer, "get_config"):
            config = {**node.layer.get_config(), "activation": "linear", "name": f"{node.layer.name}_preactivation"}
            linear = type(node.layer).from_config(config)
            tensor = linear(node.input_tensors[0])
            linear.set_weights(node.layer.get_weights())
            if depthwise and thin_conv.is_grouped_depthwise(linear):
                tensor = thin_conv.DepthwiseConv2D(linear)(node.input_tensors[0])
            return tensor
        if not node.class_name.startswith(ELEMENT_WISE) or len(node.inbound) != 1:
            break
        node = nodes.get(node.inbound[0])
    return None


def _step_function(graph: ModelGraph, layer: str, parameterization: str, traced: TracedGraph | None = None):
    """One Adam step's gradient, compiled, through `traced` (default `graph.gradient_traced`: the
    model with its grouped depthwise convolutions as depthwise ones, ConvNeXt's 7x7 convolutions,
    whose gradients through Keras's grouped convolution made a ConvNeXtTiny pattern take minutes)."""
    node = graph.layers.get(layer)
    traced = traced if traced is not None else graph.gradient_traced
    target = traced.output_tensor(layer)
    warm = _warm_up_tensor(traced, layer, depthwise=traced is not graph.traced)
    outputs = [target, warm if warm is not None else target]
    model = keras.Model(traced.input_tensor, outputs)
    spatial = len(node.output_shape) == 3
    height, width, _ = graph.input_shape
    parameters = image_parameters(graph, parameterization)
    fourier = parameterization == "fourier"

    @tf.function(
        input_signature=[
            tf.TensorSpec((None, *parameters.shape), tf.float32),  # the image's parameters
            tf.TensorSpec((None,), tf.int32),  # the channel each image maximises
            tf.TensorSpec((), tf.float32),  # 1 while warming up, 0 after
            tf.TensorSpec((2,), tf.int32),  # pixel: this step's jitter shift
            tf.TensorSpec((8,), tf.float32),  # fourier: this step's affine warp
            tf.TensorSpec((), tf.float32),  # total-variation weight
            tf.TensorSpec((2,), tf.float32),  # input range
        ]
    )
    def step(params, channels, warming, shift, transform, tv_weight, value_range):
        with tf.GradientTape() as tape:
            tape.watch(params)
            unit = parameters.unit_image(params)
            image = value_range[0] + (value_range[1] - value_range[0]) * unit
            if fourier:
                moved = value_range[0] + (value_range[1] - value_range[0]) * warp(unit, transform, height, width)
            else:
                moved = tf.roll(image, shift=shift, axis=[1, 2])
            activation, preactivation = model(moved, training=False)

            def channel_mean(values):
                values = tf.reduce_mean(values, axis=[1, 2]) if spatial else values
                return tf.gather(values, channels, axis=1, batch_dims=1)

            mean = channel_mean(activation)
            objective = warming * channel_mean(preactivation) + (1.0 - warming) * mean
            smoothness = tf.reduce_mean(tf.abs(image[:, 1:] - image[:, :-1]), axis=[1, 2, 3]) + tf.reduce_mean(
                tf.abs(image[:, :, 1:] - image[:, :, :-1]), axis=[1, 2, 3]
            )
            loss = -tf.reduce_sum(objective - tv_weight * smoothness * (value_range[1] - value_range[0]))
        return tape.gradient(loss, params), mean

    return step


def _mean_activation(graph: ModelGraph, layer: str, images: np.ndarray, channels: np.ndarray) -> np.ndarray:
    result = graph.run(images)
    values = graph.feature(result, layer)
    means = values.mean(axis=(1, 2)) if values.ndim == 4 else values
    return means[np.arange(len(channels)), channels]


PREVIEWS = 4  # images as they form, per batch of channels, sent with the progress (the last: the result)


def preview_steps(steps: int) -> set[int]:
    """The steps (0-based) after which `patterns` shows its images as they are: evenly spaced, the last one included."""
    return {max(0, round(steps * (k + 1) / PREVIEWS) - 1) for k in range(PREVIEWS)}


def patterns(
    graph: ModelGraph, layer: str, channels: list[int], options: Options, progress: Progress | None = None,
    preview: Callable[[int, np.ndarray], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(images [N, H, W, C] in the model's input range, mean activation of each channel [N]).

    `preview(first, images)`, when given, is called after each of `preview_steps` with the images
    of channels[first:first + len(images)] as the optimisation has them then (after the last step:
    the images returned), before that step's progress."""
    options = options.resolved(graph)
    kind = options.parameterization
    step = graph.functions.get(PatternStep(layer, kind), lambda: _step_function(graph, layer, kind))
    parameters = image_parameters(graph, kind)
    height, width, _ = graph.input_shape
    low, high = graph.input_range
    # the moves are shared by all channels: a channel's pattern does not depend on its batch
    jitter = np.random.default_rng(options.seed).integers(-options.jitter, options.jitter + 1, (options.steps, 2))
    warps = random_warps(options.steps, height, width, np.random.default_rng([options.seed, 1]))
    warm_steps = options.steps // 3
    images, activations = [], []
    total = len(channels) * options.steps
    shown = preview_steps(options.steps)
    size = batch_size(graph, BATCH, backward=True)
    for start in range(0, len(channels), size):
        chunk = np.asarray(channels[start : start + size], np.int32)
        v = np.stack([parameters.start(np.random.default_rng([options.seed, int(c)])) for c in chunk])
        m, s = np.zeros_like(v), np.zeros_like(v)
        beta1, beta2, epsilon = 0.9, 0.999, 1e-8
        for t in range(options.steps):
            gradient, _ = step(
                v,
                chunk,
                np.float32(1.0 if t < warm_steps else 0.0),
                jitter[t].astype(np.int32),
                warps[t],
                np.float32(options.total_variation),
                np.array([low, high], np.float32),
            )
            gradient = gradient.numpy()
            m = beta1 * m + (1 - beta1) * gradient
            s = beta2 * s + (1 - beta2) * gradient**2
            v -= options.step_size * (m / (1 - beta1 ** (t + 1))) / (np.sqrt(s / (1 - beta2 ** (t + 1))) + epsilon)
            if preview is not None and t in shown:
                preview(start, _image_of(parameters, kind, v, low, high))
            if progress and (t % 8 == 7 or t == options.steps - 1 or (preview is not None and t in shown)):
                progress(start * options.steps + len(chunk) * (t + 1), total)
        image = _image_of(parameters, kind, v, low, high)
        images.append(image)
        activations.append(_mean_activation(graph, layer, image, chunk))
    return np.concatenate(images), np.concatenate(activations).astype(np.float32)


def _image_of(parameters, kind: str, v: np.ndarray, low: float, high: float) -> np.ndarray:
    """The images the parameters `v` stand for, in the model's input range."""
    if kind == "pixel":
        unit = 1.0 / (1.0 + np.exp(-v))
    else:
        unit = parameters.unit_image(tf.convert_to_tensor(v)).numpy()
    return (low + (high - low) * unit).astype(np.float32)


def atlas_image(images: np.ndarray, input_range: tuple[float, float], scale: int = 3, gap: int = 2):
    """All patterns of a layer as one grid picture, each scaled to its own range for contrast."""
    from PIL import Image

    count, height, width, channels = images.shape
    columns = int(np.ceil(np.sqrt(count)))
    rows = int(np.ceil(count / columns))
    cell_h, cell_w = height * scale, width * scale
    sheet = np.full((rows * (cell_h + gap) + gap, columns * (cell_w + gap) + gap, 3), 24, np.uint8)
    for index, image in enumerate(images):
        lo, hi = float(image.min()), float(image.max())
        normalised = (image - lo) / (hi - lo) if hi > lo else np.zeros_like(image)
        rgb = np.repeat(normalised, 3, axis=-1) if channels == 1 else normalised[..., :3]
        block = np.kron(rgb, np.ones((scale, scale, 1)))
        top = gap + (index // columns) * (cell_h + gap)
        left = gap + (index % columns) * (cell_w + gap)
        sheet[top : top + cell_h, left : left + cell_w] = (block * 255).round().astype(np.uint8)
    return Image.fromarray(sheet, "RGB")
