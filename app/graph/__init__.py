"""A served model as one prepared graph: traced once, run compiled, described layer by layer.

    trace.py      the model re-expressed as one functional graph of every layer (Keras 3 traps 1-2)
    runner.py     the compiled forward pass: every layer's output, class scores and probabilities
    operation.py  a Keras operation (`x + 3`, keras.ops on symbolic tensors) as a layer without weights
    layers.py     facts about layers: one lookup, kinds, spatial outputs, receptive fields, roles
    dominators.py the layers every path from the input to the output goes through (Grad-CAM's default)
    functions.py  compiled functions that methods build once per model, under typed keys
    xla.py        those functions through XLA where it compiles them (small models: half the time)
    thin_conv.py  one-channel convolutions fused by XLA, for the batched passes (3x faster layer);
                  grouped depthwise convolutions as depthwise ones, there and in gradient ascent
    browser.py    what the page's engine may run: the model as the page's layers, or why not

`ModelGraph` bundles the four for one model; methods in `app.viz` take it and arrays, nothing else.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import tensorflow as tf

from app.graph import browser, thin_conv
from app.graph.functions import CompiledFunctions, FunctionKey
from app.graph.layers import LayerFacts, LayerNeed
from app.graph.runner import GraphRunner
from app.graph.trace import INPUT_NAME, Head, LayerNode, TracedGraph, UnsupportedModel, trace

__all__ = [
    "ModelGraph",
    "Head",
    "UnsupportedModel",
    "LayerNode",
    "LayerNeed",
    "FunctionKey",
    "LayerOutputFunction",
    "BatchedProbabilities",
    "INPUT_NAME",
]


@dataclass(frozen=True)
class LayerOutputFunction(FunctionKey):
    layer: str


@dataclass(frozen=True)
class BatchedProbabilities(FunctionKey):
    pass


class ModelGraph:
    """One served model, ready for every method: `traced`, `runner`, `layers`, `functions`.

    `input_range` is the value range the model takes (its card's, set by the registry); methods
    that make or fill inputs work in it. `input_size` is the size to serve a model built for any
    size at; a model with a fixed size ignores it.
    """

    def __init__(
        self, model, input_range: tuple[float, float] = (0.0, 1.0), input_size: tuple[int, int] | None = None
    ) -> None:
        self.traced: TracedGraph = trace(model, input_size)
        self.runner = GraphRunner(self.traced)
        self.layers = LayerFacts(self.traced)
        self.functions = CompiledFunctions()
        self.input_range = (float(input_range[0]), float(input_range[1]))
        self.runner.check_against(model)
        self._gradient_traced: TracedGraph | None = None
        self._gradient_lock = threading.Lock()

    @property
    def gradient_traced(self) -> TracedGraph:
        """The trace that gradient-ascent functions differentiate through: grouped depthwise
        convolutions as depthwise ones (`GraphRunner.depthwise_trace`), else `traced`. Made on
        first use, once (a trace, not a compiled function: the functions built over it are the
        store's)."""
        with self._gradient_lock:
            if self._gradient_traced is None:
                self._gradient_traced = self.runner.depthwise_trace()
            return self._gradient_traced

    @cached_property
    def page(self) -> browser.PagePlan:
        """What the page's engine may run (graph/browser.py); its weights are read on first download."""
        return browser.plan(self.traced, self.layers)

    @property
    def input_size_from(self) -> str:
        """"model" when the model fixes its input size, else "given" (the size it was traced at)."""
        return self.traced.input_size_from

    @property
    def model(self):
        return self.traced.model

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return self.traced.input_shape

    @property
    def head(self) -> Head:
        return self.traced.head

    @property
    def num_classes(self) -> int:
        return self.traced.num_classes

    def run(self, images: np.ndarray) -> dict:
        return self.runner.run(images)

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities only; batches of `thin_conv.MIN_BATCH` or more through the batched graph."""
        function = self._batched() if len(images) >= thin_conv.MIN_BATCH else self.runner.plain_probabilities
        return function(tf.convert_to_tensor(images, tf.float32)).numpy()

    @property
    def fuses_thin_convs(self) -> bool:
        """Whether batches of `thin_conv.MIN_BATCH` or more run the thin-convolution graph."""
        return self._batched() is not self.runner.plain_probabilities

    def _batched(self):
        """The batches' probabilities function, made on first use (`GraphRunner.batched_probabilities`)."""
        return self.functions.get(BatchedProbabilities(), self.runner.batched_probabilities)

    def layer_output(self, name: str, images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Layer `name`'s output and the class probabilities for a batch: `run`'s, for one layer,
        in one compiled call (the function is made on the layer's first use, about a second)."""
        index = self.layers.get(name).output_index
        function = self.functions.get(LayerOutputFunction(name), lambda: self.runner.layer_output_function(index, len(self.layers.names)))
        feature, probabilities = function(tf.convert_to_tensor(images, tf.float32))
        return feature.numpy(), probabilities.numpy()

    def feature(self, result: dict, name: str) -> np.ndarray:
        """One layer's output from a `run` result."""
        return result["features"][self.layers.get(name).output_index]
