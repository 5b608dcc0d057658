"""A served model re-expressed as one functional graph that exposes every layer.

Keras 3 gives no usable `.output` for Sequential models (also once loaded from disk), and the
layers of a nested model are not connected to the outer model's input (methods.md, traps 1-2).
So, once per model, we call every leaf layer ourselves on a fresh `keras.Input`, descending into
nested models, and keep each intermediate tensor. One `keras.Model` over all of them, wrapped in
a `tf.function` with a fixed input signature, then serves activations, predictions and gradients
without per-request tracing. The rebuilt graph is checked against the original model at load.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

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


def _is_softmax(layer: keras.layers.Layer) -> bool:
    if isinstance(layer, keras.layers.Softmax):
        return True
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "") == "softmax"


class ModelGraph:
    """Every layer's output of `model` reachable from one input, plus the class logits.

    Layer names are the Keras names; layers inside a nested model are `outer/inner`.
    """

    def __init__(self, model: keras.Model) -> None:
        if not isinstance(model, keras.Sequential) and not hasattr(model, "_run_through_graph"):
            raise UnsupportedModel(f"{type(model).__name__} is a subclassed model; save it as Sequential or functional")
        if len(getattr(model, "inputs", None) or []) != 1 or len(getattr(model, "outputs", None) or []) != 1:
            raise UnsupportedModel("only models with one input and one output are served")
        input_shape = tuple(model.inputs[0].shape[1:])
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise UnsupportedModel(f"input shape {input_shape} is not an image (height, width, channels)")
        if input_shape[0] is None or input_shape[1] is None:
            raise UnsupportedModel(f"input shape {input_shape} needs a fixed height and width")
        self.model = model
        self.input_shape: tuple[int, int, int] = tuple(int(d) for d in input_shape)  # type: ignore[assignment]

        self.nodes: dict[str, LayerNode] = {}
        self._tensor_names: dict[int, str] = {}
        self._tensors: list = []
        self._last_leaf: LayerNode | None = None

        self.input_tensor = keras.Input(shape=self.input_shape, dtype="float32", name=INPUT_NAME)
        self._tensor_names[id(self.input_tensor)] = INPUT_NAME
        (output,) = self._trace(model, [self.input_tensor], prefix="", parent=None)
        if len(tuple(output.shape)) != 2:
            raise UnsupportedModel(f"output shape {tuple(output.shape)} is not a vector of class scores")

        logits, self.ends_in_softmax = self._logits(output)
        self.num_classes = int(output.shape[-1])
        self.all_outputs = keras.Model(self.input_tensor, [*self._tensors, logits], name=f"{model.name}_graph")
        self.logits_model = keras.Model(self.input_tensor, logits)
        self.output_model = keras.Model(self.input_tensor, output)
        self._output_index = self.nodes[self._last_name].output_index
        self._lock = threading.Lock()
        self._compiled: dict = {}
        self._forward = tf.function(
            self._forward_impl,
            input_signature=[tf.TensorSpec((None, *self.input_shape), tf.float32)],
        )
        self._check_against(model)

    # ----------------------------------------------------------------- tracing
    def _trace(self, model: keras.Model, inputs: list, prefix: str, parent: str | None) -> list:
        if isinstance(model, keras.Sequential):
            tensor = inputs[0]
            for layer in model.layers:
                (tensor,) = self._call(layer, [tensor], {}, prefix, parent)
            outputs = [tensor]
        elif hasattr(model, "_run_through_graph"):
            # Functional: Keras replays its own node graph in topological order and lets us
            # wrap each operation, which keeps shared layers and multi-input merges right.
            def operation_fn(operation):
                def call(*args, **kwargs):
                    return self._call(operation, list(args), kwargs, prefix, parent, unpack=False)

                return call

            result = model._run_through_graph(inputs, operation_fn=operation_fn)
            outputs = keras.tree.flatten(result)
        else:
            raise UnsupportedModel(f"{type(model).__name__} is a subclassed model; save it as Sequential or functional")
        return outputs

    def _call(self, layer, args: list, kwargs: dict, prefix: str, parent: str | None, unpack: bool = True):
        name = prefix + layer.name
        inbound_tensors = [t for t in keras.tree.flatten((args, kwargs)) if id(t) in self._tensor_names]
        inbound = list(dict.fromkeys(self._tensor_names[id(t)] for t in inbound_tensors))
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
        if id(tensor) in self._tensor_names:
            index = self.nodes[self._tensor_names[id(tensor)]].output_index
        else:
            index = len(self._tensors)
            self._tensors.append(tensor)
            self._tensor_names[id(tensor)] = name
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
            self._last_leaf = node
        self._last_name = name

    def _logits(self, output):
        """Pre-softmax class scores (trap 3): never mutate the served model, clone its last layer."""
        leaf = self._last_leaf
        if leaf is None or not _is_softmax(leaf.layer):
            return output, False
        layer = leaf.layer
        (layer_input,) = leaf.input_tensors
        if isinstance(layer, keras.layers.Softmax) or isinstance(layer, keras.layers.Activation):
            return layer_input, True
        config = {**layer.get_config(), "activation": "linear", "name": f"{layer.name}_logits"}
        linear = type(layer).from_config(config)
        logits = linear(layer_input)
        linear.set_weights(layer.get_weights())
        return logits, True

    def _check_against(self, model: keras.Model) -> None:
        probe = np.random.default_rng(0).uniform(0, 1, (2, *self.input_shape)).astype("float32")
        expected = keras.ops.convert_to_numpy(model(probe, training=False))
        got = self.run(probe)["output"]
        if not np.allclose(got, expected, rtol=1e-4, atol=1e-5):
            raise UnsupportedModel("the rebuilt layer graph does not reproduce the model's output")

    # --------------------------------------------------------------- inference
    def _forward_impl(self, images):
        *features, logits = self.all_outputs(images, training=False)
        output = features[self._output_index]
        probabilities = output if self.ends_in_softmax else tf.nn.softmax(logits, axis=-1)
        return {"features": features, "logits": logits, "probabilities": probabilities, "output": output}

    def run(self, images: np.ndarray) -> dict:
        """All layer outputs for a batch, as numpy; compiled once, safe to call from many threads."""
        result = self._forward(tf.convert_to_tensor(images, tf.float32))
        return keras.tree.map_structure(lambda t: t.numpy(), result)

    def compiled(self, key, build):
        """A `tf.function` made once per model and key (a method and its layer), shared by all threads."""
        function = self._compiled.get(key)
        if function is None:
            with self._lock:
                function = self._compiled.get(key)
                if function is None:
                    function = self._compiled[key] = build()
        return function

    def probabilities(self, images: np.ndarray) -> np.ndarray:
        """Class probabilities only, for batched methods that need no layer outputs."""

        def build():
            model, ends_in_softmax = self.output_model, self.ends_in_softmax

            @tf.function(input_signature=[tf.TensorSpec((None, *self.input_shape), tf.float32)])
            def run(batch):
                output = model(batch, training=False)
                return output if ends_in_softmax else tf.nn.softmax(output, axis=-1)

            return run

        return self.compiled("probabilities", build)(tf.convert_to_tensor(images, tf.float32)).numpy()

    def warm_up(self) -> None:
        with self._lock:
            self.run(np.zeros((1, *self.input_shape), np.float32))

    # ------------------------------------------------------------------ lookup
    @property
    def layer_names(self) -> list[str]:
        return list(self.nodes)

    def spatial_layers(self) -> list[str]:
        return [n for n, node in self.nodes.items() if len(node.output_shape) == 3]

    def feature(self, result: dict, name: str) -> np.ndarray:
        return result["features"][self.nodes[name].output_index]

    @property
    def default_gradcam_layer(self) -> str | None:
        """The last leaf layer with a spatial `[h, w, c]` output, as the contract defines it."""
        spatial = [n for n, node in self.nodes.items() if len(node.output_shape) == 3 and not node.is_container]
        return spatial[-1] if spatial else None
