"""The lesson endpoints' work: pick the map, run the lesson's numpy, encode (shared by router and tests)."""

from __future__ import annotations

import numpy as np

from app.encoding import ArrayOptions, enlarged_png_data_url
from app.errors import InvalidOption
from app.lessons import kernels, pooling, source, summary, transforms
from app.lessons.schemas import KernelOptions, SweepTransform
from app.registry import ServedModel

MAX_SWEEP_STEPS = 121
MAX_SWEEP_VALUES = 4_000_000  # floats in one sweep's batch of inputs (16 MB): fewer steps for big inputs


def first_conv(served: ServedModel) -> str | None:
    return next((name for name, node in served.graph.layers.nodes.items() if node.class_name == "Conv2D"), None)


def presets(served: ServedModel) -> dict:
    listed = [{"name": name, "label": label, "kernel": kernel} for name, (label, kernel) in kernels.PRESETS.items()]
    layer = first_conv(served)
    if layer is not None:
        kernel = served.graph.layers.get(layer).layer.kernel.numpy()
        for index in range(kernel.shape[3]):
            listed.append(
                {
                    "name": f"learned:{index}",
                    "label": f"{layer} channel {index} (learned)",
                    "kernel": kernel[:, :, 0, index].astype(float).tolist(),
                    "learned": True,
                }
            )
    return {"presets": listed, "learned_from": layer}


def _kernel_of(served: ServedModel, options: KernelOptions) -> np.ndarray:
    if options.kernel is not None and options.preset is not None:
        raise InvalidOption("Give either kernel or preset, not both.")
    if options.kernel is not None:
        kernel = options.kernel
        if not kernel or any(len(row) != len(kernel[0]) for row in kernel) or not kernel[0]:
            raise InvalidOption("kernel must be a non-empty rectangle of numbers: rows of equal length.")
        if max(len(kernel), len(kernel[0])) > kernels.MAX_KERNEL_SIDE:
            raise InvalidOption(f"kernel is {len(kernel)}x{len(kernel[0])}; at most {kernels.MAX_KERNEL_SIDE} a side.")
        values = np.asarray(kernel, np.float64)
        if not np.isfinite(values).all():
            raise InvalidOption("kernel values must be finite numbers.")
        return values
    name = options.preset or "identity"
    known = {entry["name"]: entry["kernel"] for entry in presets(served)["presets"]}
    if name not in known:
        named = ", ".join(n for n in known if not n.startswith("learned:"))
        raise InvalidOption(f"Unknown preset {name!r}. Presets: {named}, and learned:0 ... for the first Conv2D's kernels.")
    return np.asarray(known[name], np.float64)


def _formula(size: int, kernel: int, stride: int, padding: tuple[int, int]) -> str:
    """'⌊(28 − 3 + 2·1) / 1⌋ + 1 = 28'; Keras's uneven `same` padding is written as its total 2P."""
    total = sum(padding)
    out = kernels.output_size(size, kernel, stride, total)
    if padding[0] == padding[1]:
        return f"⌊({size} − {kernel} + 2·{padding[0]}) / {stride}⌋ + 1 = {out}"
    return f"⌊({size} − {kernel} + {total}) / {stride}⌋ + 1 = {out}   (2P = {padding[0]} + {padding[1]})"


def grey_png(values: np.ndarray) -> str:
    low, high = float(values.min()), float(values.max())
    grey = (values - low) / (high - low) if high > low else np.zeros_like(values)
    pixels = np.repeat((grey * 255).round().astype(np.uint8)[..., None], 3, axis=-1)
    return enlarged_png_data_url(pixels, max(1, -(-224 // max(1, min(values.shape)))))


def kernel_lab(served: ServedModel, model_input: np.ndarray, options: KernelOptions, arrays: ArrayOptions) -> dict:
    kernel = _kernel_of(served, options)
    name, source_map = source.feature_map(served.graph, model_input, options.layer, options.channel)
    padding = kernels.padding_for(source_map.shape, kernel.shape, options.stride, options.padding.value)
    for axis, (size, k, pads) in enumerate(zip(source_map.shape, kernel.shape, (padding.rows, padding.cols))):
        if k > size + sum(pads):
            raise InvalidOption(
                f"The kernel ({kernel.shape[0]}x{kernel.shape[1]}) is larger than the padded map "
                f"({source_map.shape[0]}x{source_map.shape[1]} with {options.padding.value} padding)."
            )
    result = kernels.correlate(source_map, kernel, options.stride, options.padding.value)
    if options.activation.value == "relu":
        result = np.maximum(result, 0)
    return {
        "source": name,
        "channel": options.channel,
        "source_map": arrays.encode(source_map),
        "kernel": kernel.tolist(),
        "preset": options.preset if options.kernel is None else None,
        "stride": options.stride,
        "padding": options.padding,
        "paddings": {"top": padding.rows[0], "bottom": padding.rows[1], "left": padding.cols[0], "right": padding.cols[1]},
        "activation": options.activation,
        "output_size": list(result.shape),
        "formula": [
            _formula(size, k, options.stride, pads)
            for size, k, pads in zip(source_map.shape, kernel.shape, (padding.rows, padding.cols))
        ],
        "feature_map": arrays.encode(result),
        "png": grey_png(result),
    }


def pool_lab(
    served: ServedModel, model_input: np.ndarray, layer: str | None, channel: int, window: int | None, stride: int | None,
    arrays: ArrayOptions,
) -> dict:
    name, source_map = source.feature_map(served.graph, model_input, layer, channel)
    own = pooling.own_pooling(served.graph.layers, name) if name != "input" else None
    window = window or (own[2] if own else 2)
    stride = stride or (own[3] if own else window)
    if window > min(source_map.shape):
        raise InvalidOption(f"window {window} is larger than the map ({source_map.shape[0]}x{source_map.shape[1]}).")
    panels = [
        {
            "kind": kind,
            "pooled": arrays.encode(pooling.pool(source_map, window, stride, kind)),
            "own": bool(own and own[1] == kind and own[2] == window and own[3] == stride),
        }
        for kind in pooling.KINDS
    ]
    size = [(side - window) // stride + 1 for side in source_map.shape]
    return {
        "source": name,
        "channel": channel,
        "source_map": arrays.encode(source_map),
        "window": window,
        "stride": stride,
        "output_size": size,
        "panels": panels,
        "own_pooling": dict(zip(("layer", "kind", "window", "stride"), own)) if own else None,
    }


def sweep(
    served: ServedModel, model_input: np.ndarray, transform: SweepTransform, start: float | None, stop: float | None,
    steps: int, base: transforms.Transform, arrays: ArrayOptions,
) -> dict:
    height, width, channels = model_input.shape
    limit = min(MAX_SWEEP_STEPS, max(1, MAX_SWEEP_VALUES // (height * width * channels)))
    if not 1 <= steps <= limit:
        raise InvalidOption(f"steps must be 1 to {limit} for this model's {height}x{width}x{channels} input; got {steps}.")
    low, high = transforms.limits(transform.value, height, width)
    identity = transforms.LIMITS[transform.value][2]
    start = identity if start is None else start
    stop = start if stop is None else stop
    for label, value in (("start", start), ("stop", stop)):
        if not (np.isfinite(value) and low <= value <= high):
            raise InvalidOption(f"{label}={value} is out of range for {transform.value}: {low:g} to {high:g}.")
    values = transforms.sweep_values(start, stop, steps)
    fill = served.graph.input_range[0]
    batch = np.stack([transforms.apply(model_input, base.with_value(transform.value, v), fill) for v in values])
    probabilities = served.graph.probabilities(batch)
    return {
        "transform": transform,
        "values": values.tolist(),
        "base": {k: v for k, v in vars(base).items() if k != transform.value},
        "classes": served.card.classes,
        "inputs": [arrays.encode(image) for image in batch],
        "probabilities": probabilities.astype(float).tolist(),
    }


def model_summary(served: ServedModel) -> dict:
    return {"model": served.id, **summary.summarize(served.graph.model, served.graph.layers.nodes)}
