"""Small models of every shape the registry must serve, built in memory with fixed seeds."""

from __future__ import annotations

import json
from pathlib import Path

import keras
from keras import layers


def branched(seed: int = 1) -> keras.Model:
    """Functional, grayscale 28x28, with a branch merged by Add and a softmax head."""
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((28, 28, 1), name="pixels")
    trunk = layers.Conv2D(4, 3, activation="relu", name="stem")(inputs)
    left = layers.Conv2D(4, 3, padding="same", activation="relu", name="left")(trunk)
    right = layers.Conv2D(4, 1, name="right")(trunk)
    merged = layers.Add(name="merge")([left, right])
    pooled = layers.MaxPooling2D(2, name="pool")(merged)
    concat = layers.Concatenate(name="concat")([pooled, layers.AveragePooling2D(2, name="avg")(trunk)])
    flat = layers.Flatten(name="flat")(concat)
    outputs = layers.Dense(3, activation="softmax", name="probs")(flat)
    return keras.Model(inputs, outputs, name="branched")


def nested_rgb(seed: int = 2) -> keras.Model:
    """A base model used as a layer (like VGG16 under a head), RGB 64x48 (H x W), no softmax."""
    keras.utils.set_random_seed(seed)
    base_in = keras.Input((64, 48, 3))
    x = layers.Conv2D(6, 3, activation="relu", name="conv_a")(base_in)
    x = layers.BatchNormalization(name="bn")(x)
    x = layers.MaxPooling2D(2, name="pool_a")(x)
    x = layers.Conv2D(8, 3, activation="relu", name="conv_b")(x)
    base = keras.Model(base_in, x, name="base")
    inputs = keras.Input((64, 48, 3), name="image")
    features = base(inputs)
    x = layers.GlobalAveragePooling2D(name="gap")(features)
    x = layers.Dropout(0.5, name="drop")(x)
    outputs = layers.Dense(5, name="logits")(x)
    return keras.Model(inputs, outputs, name="nested_rgb")


def sequential_nested(seed: int = 3) -> keras.Model:
    """Sequential with a Sequential inside and a separate Softmax layer at the end."""
    keras.utils.set_random_seed(seed)
    inner = keras.Sequential(
        [keras.Input((16, 16, 1)), layers.Conv2D(3, 3, activation="relu", name="c1"), layers.MaxPooling2D(2, name="p1")],
        name="features",
    )
    return keras.Sequential(
        [
            keras.Input((16, 16, 1)),
            inner,
            layers.Flatten(name="flat"),
            layers.Dense(4, name="scores"),
            layers.Softmax(name="softmax"),
        ],
        name="sequential_nested",
    )


BUILDERS = {"branched": branched, "nested-rgb": nested_rgb, "sequential-nested": sequential_nested}


def save_all(folder: Path, card: bool = True) -> dict[str, keras.Model]:
    folder.mkdir(parents=True, exist_ok=True)
    built = {}
    for model_id, build in BUILDERS.items():
        model = build()
        model.save(folder / f"{model_id}.keras")
        if card and model_id == "branched":
            (folder / f"{model_id}.json").write_text(
                json.dumps({"id": model_id, "name": "Branched", "classes": ["a", "b", "c"], "kind": "image"})
            )
        built[model_id] = keras.saving.load_model(folder / f"{model_id}.keras", compile=False)
    return built
