"""Every model refuses clips that are not `[batch, frames, height, width, 3]` with a ValueError
that names the expected layout and the shape it was given.

Keras checks frames, height, width and rank against the model's `keras.Input`, but lets a last
axis of 1 through (it squeezes it), so `Normalize` checks the channels (`check_clip_channels`).
"""

import re

import keras
import numpy as np
import pytest

import tfvideo
from tfvideo.models import common

# The *_causal_tiny variants are covered by tests/test_streaming.py.
TINY = [n for n in tfvideo.models.available() if n.endswith("_tiny") and "_causal_" not in n]
EXPECTED = re.escape("[batch, frames, height, width, 3]")


def clip_shape(model, batch=1, channels=3):
    return (batch,) + tuple(model.inputs[0].shape[1:4]) + (channels,)


def test_one_channel_clip_into_tsm_tiny_is_refused():
    # The reported case: it used to broadcast to three channels and return logits.
    model = tfvideo.models.create("tsm_tiny")
    clip = np.zeros((1, 8, 64, 64, 1), "float32")
    given = re.escape("(1, 8, 64, 64, 1)")
    with pytest.raises(ValueError, match=f"{EXPECTED}.*got shape {given}"):
        model(clip)
    with pytest.raises(ValueError, match=f"{EXPECTED}.*got shape {given}"):
        model.predict(clip, verbose=0)  # the compiled (tf.function) path
    with pytest.raises(ValueError, match=EXPECTED):
        model(keras.Input((8, 64, 64, 1)))  # symbolic use inside another graph


@pytest.mark.parametrize("name", TINY)
def test_every_tiny_model_refuses_wrong_channel_counts(name):
    model = tfvideo.models.create(name, num_classes=3)
    shape = clip_shape(model, channels=1)
    with pytest.raises(ValueError, match=f"{EXPECTED}.*got shape {re.escape(str(shape))}"):
        model(np.zeros(shape, "uint8"))
    # Keras' own input check names the expected and the given shape for other counts.
    four = clip_shape(model, channels=4)
    with pytest.raises(ValueError, match=re.escape(f"found shape={four}")):
        model(np.zeros(four, "float32"))
    assert model(np.zeros(clip_shape(model), "uint8")).shape == (1, 3)


def test_built_and_reloaded_models_still_refuse(tmp_path):
    # Built once with its fixed input shape; every later call is checked again.
    model = tfvideo.models.create("tsn_tiny", num_classes=3, num_frames=4, input_size=32)
    path = tmp_path / "tsn.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    for m in (model, loaded):
        with pytest.raises(ValueError, match=EXPECTED):
            m(np.zeros((2, 4, 32, 32, 1), "float32"))
    layer = common.Normalize()
    layer.build((None, 4, 32, 32, 3))
    with pytest.raises(ValueError, match=EXPECTED):
        layer(np.zeros((1, 4, 32, 32, 1), "float32"))
    with pytest.raises(ValueError, match=EXPECTED):
        common.Normalize()(np.zeros((1, 4, 32, 32, 2), "float32"))
