"""Tracing: a served model re-expressed as one functional graph that exposes every layer.

Keras 3 gives no usable `.output` for Sequential models (also once loaded from disk), and the
layers of a nested model are not connected to the outer model's input. So, once per model, we call
every leaf layer ourselves on a fresh `keras.Input`, descending into nested models, and keep each
intermediate tensor; one `keras.Model` over all of them then serves every layer's output.

The head is decided here, once, and with it the class scores every method differentiates: the
pre-activation z of the last layer (from a linear clone: the served model is never mutated), since
a saturated softmax or sigmoid has ~0 gradient. One sigmoid unit is two classes with scores
(-z, z) (tf-keras-vis `BinaryScore`), several sigmoid units are independent labels.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum

import keras

from app.graph.operation import as_layer

INPUT_NAME = "input"


class Head(str, Enum):
    """How the output becomes class probabilities, and which score explains each class."""

    softmax = "softmax"  # probabilities = the output; scores = the pre-softmax logits
    sigmoid = "sigmoid"  # one unit p: classes (0, 1) with probabilities (1 - p, p), scores (-z, z)
    multilabel = "multilabel"  # several sigmoid units: independent labels, scores z
    logits = "logits"  # no final activation: probabilities = softmax(output), scores = the output


class UnsupportedModel(ValueError):
    """The file loaded, but it is not a single-input image classifier we can serve."""


@dataclass
class LayerNode:
    """One traced layer (or a nested model, listed after its own layers). A Keras operation called
    on symbolic tensors (`x + 3`) is a node like any other: its `layer` is an `OperationLayer`
    (no weights), its `class_name` the operation's (`Add`)."""

    name: str
    layer: keras.layers.Layer  # or operation.OperationLayer
    class_name: str
    inbound: list[str]
    output_index: int
    output_shape: tuple[int | None, ...]
    parent: str | None = None
    is_container: bool = False
    input_tensors: list = field(default_factory=list, repr=False)


@dataclass
class TracedGraph:
    """The model's layers as nodes, and Keras models over the traced tensors."""

    model: keras.Model
    input_shape: tuple[int, int, int]
    nodes: dict[str, LayerNode]
    input_tensor: object
    all_outputs: keras.Model  # every distinct layer output, then the class scores
    scores_model: keras.Model  # [N, classes]: the score each method differentiates per class
    output_model: keras.Model
    output_index: int  # where the model's own output is among `all_outputs`' features
    head: Head
    num_classes: int
    input_size_from: str = "model"  # or "given": the model takes any size, traced at the one given

    def output_tensor(self, name: str):
        return self.all_outputs.outputs[self.nodes[name].output_index]


def _final_activation(layer: keras.layers.Layer) -> str:
    if isinstance(layer, keras.layers.Softmax):
        return "softmax"
    return getattr(getattr(layer, "activation", None), "__name__", "linear")


def _is_graph_model(model) -> bool:
    return isinstance(model, keras.Sequential) or hasattr(model, "_run_through_graph")


# How a leaf layer is called while tracing: `call_layer(layer, args, kwargs)`. The default calls it;
# another rule rebuilds the same graph with some layers replaced (guided backprop's ReLUs),
# without touching the served model.
LayerCall = Callable[[keras.layers.Layer, list, dict], object]


def call_as_is(layer: keras.layers.Layer, args: list, kwargs: dict):
    return layer(*args, **kwargs)


def trace(model: keras.Model, input_size: tuple[int, int] | None = None, call_layer: LayerCall = call_as_is) -> TracedGraph:
    if not _is_graph_model(model):
        raise UnsupportedModel(f"{type(model).__name__} is a subclassed model; save it as Sequential or functional")
    if len(getattr(model, "inputs", None) or []) != 1 or len(getattr(model, "outputs", None) or []) != 1:
        raise UnsupportedModel("only models with one input and one output are served")
    input_shape = tuple(model.inputs[0].shape[1:])
    if len(input_shape) != 3 or input_shape[-1] is None:
        raise UnsupportedModel(f"input shape {input_shape} is not an image (height, width, channels)")
    given = "model"
    if input_shape[0] is None or input_shape[1] is None:
        if input_size is None:
            raise UnsupportedModel(f"input shape {input_shape} has no fixed height and width, and no size was given")
        input_shape = (input_shape[0] or input_size[0], input_shape[1] or input_size[1], input_shape[2])
        given = "given"
    traced = _Tracer(model, tuple(int(d) for d in input_shape), call_layer).result()
    traced.input_size_from = given
    return traced


class _Tracer:
    def __init__(self, model: keras.Model, input_shape: tuple[int, int, int], call_layer: LayerCall) -> None:
        # a model built for any size is traced at the size it is served at
        self.model = model
        self.input_shape = input_shape
        self.call_layer = call_layer
        self.nodes: dict[str, LayerNode] = {}
        self.tensor_names: dict[int, str] = {}
        self.tensors: list = []
        self.last_leaf: LayerNode | None = None
        self.last_name = INPUT_NAME
        self.input_tensor = keras.Input(shape=input_shape, dtype="float32", name=INPUT_NAME)
        self.tensor_names[id(self.input_tensor)] = INPUT_NAME

    def result(self) -> TracedGraph:
        (output,) = self._trace(self.model, [self.input_tensor], prefix="", parent=None)
        if len(tuple(output.shape)) != 2:
            raise UnsupportedModel(f"output shape {tuple(output.shape)} is not a vector of class scores")
        head, scores = self._head(output)
        name = self.model.name
        return TracedGraph(
            model=self.model,
            input_shape=self.input_shape,
            nodes=self.nodes,
            input_tensor=self.input_tensor,
            all_outputs=keras.Model(self.input_tensor, [*self.tensors, scores], name=f"{name}_graph"),
            scores_model=keras.Model(self.input_tensor, scores),
            output_model=keras.Model(self.input_tensor, output),
            output_index=self.nodes[self.last_name].output_index,
            head=head,
            num_classes=int(scores.shape[-1]),
        )

    def _trace(self, model: keras.Model, inputs: list, prefix: str, parent: str | None) -> list:
        if isinstance(model, keras.Sequential):
            tensor = inputs[0]
            for layer in model.layers:
                (tensor,) = self._call(layer, [tensor], {}, prefix, parent)
            return [tensor]
        if hasattr(model, "_run_through_graph"):
            # Functional: Keras replays its own node graph in topological order and lets us
            # wrap each operation, which keeps shared layers and multi-input merges right.
            def operation_fn(operation):
                def call(*args, **kwargs):
                    return self._call(operation, list(args), kwargs, prefix, parent, unpack=False)

                return call

            result = model._run_through_graph(inputs, operation_fn=operation_fn)
            return keras.tree.flatten(result)
        raise UnsupportedModel(f"{type(model).__name__} is a subclassed model; save it as Sequential or functional")

    def _call(self, layer, args: list, kwargs: dict, prefix: str, parent: str | None, unpack: bool = True):
        name = prefix + layer.name
        inbound_tensors = [t for t in keras.tree.flatten((args, kwargs)) if id(t) in self.tensor_names]
        inbound = list(dict.fromkeys(self.tensor_names[id(t)] for t in inbound_tensors))
        if isinstance(layer, keras.Model):
            outputs = self._trace(layer, inbound_tensors, prefix=name + "/", parent=name)
            self._record(name, layer, inbound, outputs[0], parent, is_container=True, inputs=inbound_tensors)
            return outputs if unpack else (outputs[0] if len(outputs) == 1 else outputs)
        kwargs = {k: v for k, v in kwargs.items() if k != "training"}
        result = self.call_layer(layer, args, kwargs)
        tensors = keras.tree.flatten(result)
        self._record(name, layer, inbound, tensors[0], parent, is_container=False, inputs=inbound_tensors)
        return tensors if unpack else result

    def _record(self, name, layer, inbound, tensor, parent, is_container, inputs) -> None:
        if name in self.nodes:  # a shared layer called twice: keep the first call's name
            name = f"{name}#{sum(1 for n in self.nodes if n.split('#')[0] == name)}"
        if id(tensor) in self.tensor_names:
            index = self.nodes[self.tensor_names[id(tensor)]].output_index
        else:
            index = len(self.tensors)
            self.tensors.append(tensor)
            self.tensor_names[id(tensor)] = name
        node = LayerNode(
            name=name,
            layer=as_layer(layer),
            class_name=type(layer).__name__,
            inbound=inbound,
            output_index=index,
            output_shape=tuple(tensor.shape[1:]),
            parent=parent,
            is_container=is_container,
            input_tensors=inputs,
        )
        self.nodes[name] = node
        if not is_container:
            self.last_leaf = node
        self.last_name = name

    def _head(self, output) -> tuple[Head, object]:
        leaf = self.last_leaf
        activation = _final_activation(leaf.layer) if leaf is not None else "linear"
        if activation not in ("softmax", "sigmoid"):
            return Head.logits, output
        z = self._preactivation(leaf)
        if activation == "softmax":
            return Head.softmax, z
        if int(output.shape[-1]) == 1:
            return Head.sigmoid, keras.ops.concatenate([-z, z], axis=-1)
        return Head.multilabel, z

    @staticmethod
    def _preactivation(leaf: LayerNode):
        layer = leaf.layer
        (layer_input,) = leaf.input_tensors
        if isinstance(layer, (keras.layers.Softmax, keras.layers.Activation)):
            return layer_input
        config = {**layer.get_config(), "activation": "linear", "name": f"{layer.name}_preactivation"}
        linear = type(layer).from_config(config)
        z = linear(layer_input)
        linear.set_weights(layer.get_weights())
        return z
