"""A Keras convnet as an ONNX graph, written with the `onnx` package's helper (no converter).

Run by bench/engines.py in its own venv (which has `onnx`; the project's venv does not):
`python -m bench.onnx_graph DESCRIPTION.json WEIGHTS.bin OUT.onnx [--all-layers]`. It reads the
layer description engines.py writes (each layer's class, settings and its weights' offsets and
shapes in one little-endian float32 file) and imports nothing from the project but numpy and onnx.

Keras is channels-last (NHWC) and ONNX's Conv and MaxPool channels-first (NCHW): the graph takes
the Keras input as it is, transposes it once, runs the convolutions in NCHW with the kernels turned
from HWIO to OIHW, and transposes back before Flatten, so the flattened vector is in Keras's HWC
order and the Dense kernels are used as they are (Gemm, no transpose). With --all-layers every
layer's output is a graph output, named as the layer and in Keras's NHWC layout.

Why not tf2onnx: tf2onnx 1.17.0 installs beside tensorflow 2.21.0, numpy 2.4.6 and protobuf 7.36.2
without changing any of them, but its `convert.from_keras` fails on these Keras 3 models
(KeyError 'keras_tensor_35'); `convert.from_function` on a tf.function around the model does
work (Reshape, Conv, Relu, MaxPool, ..., Transpose, Reshape, Gemm, Softmax: the same graph). This
file needs only `onnx`, not TensorFlow, in its venv.
"""

from __future__ import annotations

import json
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = 17
IR_VERSION = 8  # opset 17's IR; any onnxruntime from 1.13 on reads it


def same_pads(size: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's 'same' padding for one axis: (before, after), the odd pixel after."""
    effective = (kernel - 1) * dilation + 1
    out = -(-size // stride)
    total = max((out - 1) * stride + effective - size, 0)
    return total // 2, total - total // 2


def build(description: dict, blob: bytes, all_layers: bool) -> onnx.ModelProto:
    weights = np.frombuffer(blob, "<f4")

    def tensor(spec: dict) -> np.ndarray:
        size = int(np.prod(spec["shape"]))
        start = spec["offset"] // 4
        return weights[start : start + size].reshape(spec["shape"])

    nodes, initializers, outputs = [], [], []
    height, width, channels = description["input_shape"]
    current, layout = "input", "NHWC"
    graph_input = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, height, width, channels])

    def add(op: str, inputs: list[str], name: str, **attributes) -> str:
        nodes.append(helper.make_node(op, inputs, [name], name=name, **attributes))
        return name

    def constant(name: str, value: np.ndarray) -> str:
        initializers.append(numpy_helper.from_array(np.ascontiguousarray(value), name))
        return name

    def activation(kind: str, value: str, name: str) -> str:
        if kind == "linear":
            return add("Identity", [value], name)
        if kind == "relu":
            return add("Relu", [value], name)
        if kind == "softmax":
            return add("Softmax", [value], name, axis=-1)
        raise ValueError(f"activation {kind!r} is not written here")

    def to_nchw(value: str) -> str:
        return value if layout == "NCHW" else add("Transpose", [value], value + "__nchw", perm=[0, 3, 1, 2])

    for layer in description["layers"]:
        name, kind, config = layer["name"], layer["class_name"], layer["config"]
        if kind in ("Conv2D", "MaxPooling2D"):
            current, layout = to_nchw(current), "NCHW"
            size = config["kernel_size"] if kind == "Conv2D" else config["pool_size"]
            strides = config["strides"]
            dilation = config.get("dilation_rate", [1, 1])
            pads = [0, 0, 0, 0]
            if config["padding"] == "same":
                (top, bottom), (left, right) = (same_pads(s, k, st, d) for s, k, st, d in zip((height, width), size, strides, dilation))
                pads = [top, left, bottom, right]
            if kind == "Conv2D":
                kernel = constant(name + "/kernel", tensor(layer["weights"]["kernel"]).transpose(3, 2, 0, 1))
                inputs = [current, kernel] + ([constant(name + "/bias", tensor(layer["weights"]["bias"]))] if config["use_bias"] else [])
                convolved = add("Conv", inputs, name + "__conv", kernel_shape=size, strides=strides, dilations=dilation, pads=pads)
                current = activation(config["activation"], convolved, name + "__nchw_out")
                channels = config["filters"]
            else:
                current = add("MaxPool", [current], name + "__nchw_out", kernel_shape=size, strides=strides, pads=pads)
            height, width = layer["output_shape"][0], layer["output_shape"][1]
        elif kind == "Flatten":
            if layout == "NCHW":
                current, layout = add("Transpose", [current], name + "__nhwc", perm=[0, 2, 3, 1]), "NHWC"
            current = add("Reshape", [current, constant(name + "/shape", np.array([1, -1], np.int64))], name + "__out")
            layout = "flat"
        elif kind == "Dense":
            if layout != "flat":
                raise ValueError("Dense on a feature map is not written here")
            inputs = [current, constant(name + "/kernel", tensor(layer["weights"]["kernel"]))]
            if config["use_bias"]:
                inputs.append(constant(name + "/bias", tensor(layer["weights"]["bias"])))
            current = activation(config["activation"], add("Gemm", inputs, name + "__gemm"), name + "__out")
        else:
            raise ValueError(f"layer class {kind} is not written here")
        last = layer is description["layers"][-1]
        if all_layers or last:
            # the graph output named as the layer, in Keras's layout
            if layout == "NCHW":
                add("Transpose", [current], name, perm=[0, 2, 3, 1])
            else:
                add("Identity", [current], name)
            outputs.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, *layer["output_shape"]]))

    graph = helper.make_graph(nodes, description["name"], [graph_input], outputs, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)], producer_name="convnet-vis bench")
    model.ir_version = IR_VERSION
    onnx.checker.check_model(model, full_check=True)
    return model


def main(argv: list[str]) -> None:
    description_path, weights_path, out_path, *flags = argv
    with open(description_path) as handle:
        description = json.load(handle)
    with open(weights_path, "rb") as handle:
        blob = handle.read()
    model = build(description, blob, all_layers="--all-layers" in flags)
    onnx.save(model, out_path)


if __name__ == "__main__":
    main(sys.argv[1:])
