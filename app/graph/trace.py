"""Tracing: a served model re-expressed as one functional graph that exposes every layer.

Keras 3 gives no usable `.output` for Sequential models (also once loaded from disk), and the
layers of a nested model are not connected to the outer model's input. So, once per model, we call
every leaf layer ourselves on a fresh `keras.Input`, descending into nested models, and keep each
intermediate tensor; one `keras.Model` over all of them then serves every layer's output, and the
class logits come from a linear clone of a softmax head (the served model is never mutated).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import keras

INPUT_NAME = "input"


class UnsupportedModel(ValueError):
    """The file loaded, but it is not a single-input image classifier we can serve."""


@dataclass
class LayerNode:
    """One traced layer (or a nested model, listed after its own layers)."""

    name: str
    layer: keras.layers.Layer
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
    all_outputs: keras.Model  # every distinct layer output, then the logits
    logits_model: keras.Model
    output_model: keras.Model
    output_index: int  # where the model's own output is among `all_outputs`' features
    ends_in_softmax: bool
    num_classes: int

    def output_tensor(self, name: str):
        return self.all_outputs.outputs[self.nodes[name].output_index]


def _is_softmax(layer: keras.layers.Layer) -> bool:
    if isinstance(layer, keras.layers.Softmax):
        return True
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "") == "softmax"


def _is_graph_model(model) -> bool:
    return isinstance(model, keras.Sequential) or hasattr(model, "_run_through_graph")


def trace(model: keras.Model) -> TracedGraph:
    if not _is_graph_model(model):
        raise UnsupportedModel(f"{type(model).__name__} is a subclassed model; save it as Sequential or functional")
    if len(getattr(model, "inputs", None) or []) != 1 or len(getattr(model, "outputs", None) or []) != 1:
        raise UnsupportedModel("only models with one input and one output are served")
    input_shape = tuple(model.inputs[0].shape[1:])
    if len(input_shape) != 3 or input_shape[-1] is None:
        raise UnsupportedModel(f"input shape {input_shape} is not an image (height, width, channels)")
    if input_shape[0] is None or input_shape[1] is None:
        raise UnsupportedModel(f"input shape {input_shape} needs a fixed height and width")
    return _Tracer(model, tuple(int(d) for d in input_shape)).result()


class _Tracer:
    def __init__(self, model: keras.Model, input_shape: tuple[int, int, int]) -> None:
        self.model = model
        self.input_shape = input_shape
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
        logits, ends_in_softmax = self._logits(output)
        name = self.model.name
        return TracedGraph(
            model=self.model,
            input_shape=self.input_shape,
            nodes=self.nodes,
            input_tensor=self.input_tensor,
            all_outputs=keras.Model(self.input_tensor, [*self.tensors, logits], name=f"{name}_graph"),
            logits_model=keras.Model(self.input_tensor, logits),
            output_model=keras.Model(self.input_tensor, output),
            output_index=self.nodes[self.last_name].output_index,
            ends_in_softmax=ends_in_softmax,
            num_classes=int(output.shape[-1]),
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
        result = layer(*args, **kwargs)
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
            layer=layer,
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

    def _logits(self, output):
        """Pre-softmax class scores: differentiating a saturated softmax gives ~0 gradients."""
        leaf = self.last_leaf
        if leaf is None or not _is_softmax(leaf.layer):
            return output, False
        layer = leaf.layer
        (layer_input,) = leaf.input_tensors
        if isinstance(layer, (keras.layers.Softmax, keras.layers.Activation)):
            return layer_input, True
        config = {**layer.get_config(), "activation": "linear", "name": f"{layer.name}_logits"}
        linear = type(layer).from_config(config)
        logits = linear(layer_input)
        linear.set_weights(layer.get_weights())
        return logits, True
