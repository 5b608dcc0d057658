"""Score-CAM and one filter pattern on wide layers, before and after, in one run:
`python -m bench.wide_layers [--side 64] [--models resnet50,xception,convnexttiny]`.

keras.applications ResNet50, Xception and ConvNeXtTiny, random weights (`weights=None`, no
downloads here), 4 classes, at 64x64 (Xception at 71x71, its smallest input), Score-CAM of the
default Grad-CAM layer (2,048, 2,048 and 768 channels), in process. "Before" is the method as it
was: every channel scored (`max_channels` = the layer's channels) through the batched graph of
Keras's own layers (ConvNeXt's grouped 7x7 convolutions compiled by XLA: Keras's CPU route for
`groups > 1`); "after" is the defaults: at most `DEFAULT_MAX_CHANNELS` (256) channels of largest
variance, ConvNeXt's grouped convolutions run as depthwise ones (app/graph/thin_conv.py). The
first call of each includes building its functions (the cold request); the second is warm.
The filter pattern (channel 0 of the same layer, 128 steps, the default options), each on a fresh
graph, so both include building their step function: "before" differentiates through Keras's own
layers (ConvNeXt's grouped convolutions through XLA), "after" through `ModelGraph.gradient_traced`
(grouped depthwise convolutions as `tf.nn.depthwise_conv2d`); the largest difference between the
two patterns is printed. `--pattern-only` skips Score-CAM.
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np


def timed(run) -> tuple[float, object]:
    started = time.perf_counter()
    result = run()
    return time.perf_counter() - started, result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.wide_layers", description=__doc__)
    parser.add_argument("--side", type=int, default=64)
    parser.add_argument("--models", default="resnet50,xception,convnexttiny")
    parser.add_argument("--no-pattern", action="store_true")
    parser.add_argument("--pattern-only", action="store_true")
    args = parser.parse_args(argv)

    import keras

    from app.graph import ModelGraph, thin_conv
    from app.viz import filters, scorecam

    builds = {
        "resnet50": (keras.applications.ResNet50, args.side),
        "xception": (keras.applications.Xception, max(args.side, 71)),
        "convnexttiny": (keras.applications.ConvNeXtTiny, args.side),
    }
    print(f"load average {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}, {os.cpu_count()} cpus")
    for name in args.models.split(","):
        build, side = builds[name]
        keras.utils.set_random_seed(0)
        model = build(weights=None, input_shape=(side, side, 3), classes=4, classifier_activation=None)
        x = np.random.default_rng(1).uniform(0, 255, (side, side, 3)).astype("float32")

        if not args.pattern_only:
            # before: a graph whose batched pass keeps Keras's grouped convolutions, every channel scored
            original = thin_conv.is_grouped_depthwise
            thin_conv.is_grouped_depthwise = lambda layer: False
            try:
                before_graph = ModelGraph(model, input_range=(0.0, 255.0))
                before_graph._batched()  # built here, with the rule off
            finally:
                thin_conv.is_grouped_depthwise = original
            after_graph = ModelGraph(model, input_range=(0.0, 255.0))
            layer = after_graph.layers.default_gradcam_layer
            channels = after_graph.layers.units(layer)
            every = scorecam.Options(layer=layer, max_channels=channels).resolved(before_graph)
            default = scorecam.Options(layer=layer).resolved(after_graph)
            cold_before, _ = timed(lambda: scorecam.attribute(before_graph, x, None, every))
            warm_before, old = timed(lambda: scorecam.attribute(before_graph, x, None, every))
            cold_after, _ = timed(lambda: scorecam.attribute(after_graph, x, None, default))
            warm_after, new = timed(lambda: scorecam.attribute(after_graph, x, None, default))
            every_after = scorecam.Options(layer=layer, max_channels=channels).resolved(after_graph)
            warm_every, exact = timed(lambda: scorecam.attribute(after_graph, x, None, every_after))
            same = float(np.abs(exact.raw - old.raw).max() / max(1e-12, float(np.abs(old.raw).max())))
            corr = float(np.corrcoef(new.raw.ravel(), old.raw.ravel())[0, 1]) if old.raw.std() > 0 and new.raw.std() > 0 else float("nan")
            print(f"{name} {side}x{side} Score-CAM of {layer} ({channels} channels):")
            print(f"  before (all {channels}, Keras's graph): cold {cold_before:6.2f} s, warm {warm_before:6.2f} s")
            print(f"  after  (default, {new.extras['channels']} channels): cold {cold_after:6.2f} s, warm {warm_after:6.2f} s"
                  f"  -> {warm_before / warm_after:5.1f}x; map vs all channels: correlation {corr:.3f}")
            print(f"  after, all {channels} channels: warm {warm_every:6.2f} s ({warm_before / warm_every:4.1f}x), "
                  f"same map as before to {same:.1e} (relative)")
        if not args.no_pattern:
            options = filters.Options()
            keras_graph = ModelGraph(model, input_range=(0.0, 255.0))
            layer = keras_graph.layers.default_gradcam_layer
            keras_graph._gradient_traced = keras_graph.traced  # Keras's own layers all the way
            before, (old_image, _) = timed(lambda: filters.patterns(keras_graph, layer, [0], options))
            fast_graph = ModelGraph(model, input_range=(0.0, 255.0))
            after, (new_image, _) = timed(lambda: filters.patterns(fast_graph, layer, [0], options))
            warm, _ = timed(lambda: filters.patterns(fast_graph, layer, [0], options))
            rewritten = fast_graph.gradient_traced is not fast_graph.traced
            print(f"{name} {side}x{side} filter pattern of {layer} channel 0, {options.steps} steps (cold):"
                  f" before {before:6.2f} s, after {after:6.2f} s ({before / after:4.1f}x; warm {warm:6.2f} s;"
                  f" {'depthwise' if rewritten else 'no grouped convolution: same graph'});"
                  f" largest pixel difference {float(np.abs(new_image - old_image).max()):.1e} (of 0-255)", flush=True)


if __name__ == "__main__":
    main()
