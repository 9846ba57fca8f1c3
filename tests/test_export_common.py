"""Helpers shared by the export and predict tests (no tests here): a small clip classifier that
builds in a fraction of a second and converts to TFLite with builtin int8 kernels."""

import json
import os

import keras
import numpy as np

CLASS_NAMES = ["moving left", "moving right", "turning"]
NUM_FRAMES = 4
SIZE = 32


def toy_model(num_frames=NUM_FRAMES, size=SIZE, num_classes=None, seed=0, name="toy_net"):
    """`[B, T, size, size, 3]` in [0, 255] -> logits; frames stacked vertically for a 2D conv
    (order-aware at frame borders), so every op has a builtin int8 TFLite kernel."""
    num_classes = len(CLASS_NAMES) if num_classes is None else num_classes
    keras.utils.set_random_seed(seed)
    inputs = keras.Input((num_frames, size, size, 3), name="frames")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0)(inputs)
    x = keras.layers.Reshape((num_frames * size, size, 3))(x)
    x = keras.layers.Conv2D(8, 3, strides=2, activation="relu")(x)
    x = keras.layers.Conv2D(16, 3, strides=2, activation="relu")(x)
    x = keras.layers.GlobalAveragePooling2D()(x)
    outputs = keras.layers.Dense(num_classes)(x)
    return keras.Model(inputs, outputs, name=name)


def save_with_classes(model, directory, class_names=CLASS_NAMES):
    """Writes `model.keras` and `classes.json` like a training output directory."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, "model.keras")
    model.save(path)
    with open(os.path.join(directory, "classes.json"), "w") as f:
        json.dump(list(class_names), f)
    return path


def random_frames(shape, seed=0):
    return np.random.default_rng(seed).integers(0, 256, shape, dtype=np.uint8)
