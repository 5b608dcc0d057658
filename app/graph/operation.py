"""A Keras operation as a layer node: what every fact about layers may read of it.

A functional model can call operations on symbolic tensors (`x + 3`, `keras.ops.mean(x)`), and
keras.applications do (ConvNeXt's residual `+`, MobileNetV3's `hard_sigmoid`). Keras records them
as `Operation`s, which have no weights, no parameter count and no `count_params`. Wrapping each one
in the face of a layer without weights when it is traced keeps one rule for every node: code that
reads `node.layer.weights` or `node.layer.get_config()` needs no special case for operations.
"""

from __future__ import annotations

import keras


class OperationLayer:
    """An operation seen as a layer with no weights; `operation` is the Keras op itself."""

    def __init__(self, operation) -> None:
        self.operation = operation
        self.name = operation.name

    @property
    def weights(self) -> list:
        return []

    trainable_weights = non_trainable_weights = weights

    def get_weights(self) -> list:
        return []

    def count_params(self) -> int:
        return 0

    def get_config(self) -> dict:
        """The operation's own arguments (e.g. `axis`) where Keras can say them."""
        try:
            return {"name": self.name, **self.operation.get_config()}
        except (NotImplementedError, TypeError, AttributeError):
            return {"name": self.name}


def as_layer(operation):
    """A layer as is; any other Keras operation wrapped as `OperationLayer`."""
    return operation if isinstance(operation, keras.layers.Layer) else OperationLayer(operation)


def is_operation(layer) -> bool:
    return isinstance(layer, OperationLayer)
