"""The two bundled architectures.

Both are Sequential on purpose: it is what the course material uses, and it exercises the
Keras 3 trap that a Sequential model loaded from disk has no usable `.output`.
"""

from __future__ import annotations

import keras
from keras import layers


def mnist_convnet() -> keras.Model:
    """The convnet of "Deep Learning with Python", ch. 5: 93,322 parameters."""
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1), name="image"),
            layers.Conv2D(32, 3, activation="relu", name="conv1"),
            layers.MaxPooling2D(2, name="pool1"),
            layers.Conv2D(64, 3, activation="relu", name="conv2"),
            layers.MaxPooling2D(2, name="pool2"),
            layers.Conv2D(64, 3, activation="relu", name="conv3"),
            layers.Flatten(name="flatten"),
            layers.Dense(64, activation="relu", name="dense1"),
            layers.Dense(10, activation="softmax", name="output"),
        ],
        name="mnist_convnet",
    )


def mnist_lenet() -> keras.Model:
    """A LeNet-style net small enough to read unit by unit, like Harley's visualizer's."""
    return keras.Sequential(
        [
            keras.Input(shape=(28, 28, 1), name="image"),
            layers.Conv2D(6, 5, padding="same", activation="relu", name="conv1"),
            layers.MaxPooling2D(2, name="pool1"),
            layers.Conv2D(16, 5, activation="relu", name="conv2"),
            layers.MaxPooling2D(2, name="pool2"),
            layers.Flatten(name="flatten"),
            layers.Dense(120, activation="relu", name="dense1"),
            layers.Dense(100, activation="relu", name="dense2"),
            layers.Dense(10, activation="softmax", name="output"),
        ],
        name="mnist_lenet",
    )


ARCHITECTURES = {
    "mnist-convnet": (
        mnist_convnet,
        "MNIST convnet",
        "The course convnet: three 3x3 convolutions with max-pooling, then two dense layers.",
    ),
    "mnist-lenet": (
        mnist_lenet,
        "MNIST LeNet",
        "A small LeNet-style network (6 and 16 5x5 filters, dense 120-100-10), "
        "readable unit by unit like Adam Harley's visualizer.",
    ),
}
