"""Streaming inference of causal tfvideo models: one frame (bLVNet-TAM: one frame pair) per step.

A causal model (`causal=True`, e.g. `tsm_causal_tiny`) trains with ordinary `fit` over whole
clips; its streaming form runs the same layers, with the same weights, one step at a time and
carries each temporal layer's state. The API, on every `VideoClassifier`:

- `model.stream_frames` -> int: frames per step, 1 (bLVNet-TAM: 2, a frame pair; its big branch
  reads the pair's second frame and writes into the first).
- `model.state_shapes(batch_size=1)` -> `{name: shape}` and `model.init_states(batch_size=1)`
  -> `{name: float32 zeros}`: one entry per carried tensor, batch first, every one at most 4-D,
  named `{layer}_{state}` (e.g. `layer1_0_shift_prev`, `layer2_0_conv2_route_sum`). A new
  stream starts from zeros.
- `model.stream_step(frames, states)` -> `(logits, new_states)`: `frames` `[B, H, W, 3]`
  (bLVNet-TAM `[B, 2, H, W, 3]`), uint8 or float in [0, 255] like the clip model's input;
  `logits` `[B, num_classes]` are the per-frame logits of this step; `new_states` has the same
  names and shapes as `states`.
- `model.streaming_model(batch_size=1)` -> a functional `keras.Model` (keras.ops only) over the
  model's own layers (weights shared, not copied) with inputs `{"frames": ..., **states}` and
  outputs `{"logits": ..., **states}` under the same state names: what `tf.function`, SavedModel
  and TFLite export wrap. All shapes are static given `batch_size` (None: a dynamic batch).
- `model.per_frame_logits(clips)` -> `[B, T / stream_frames, num_classes]`: the causal clip
  model's per-frame outputs, computed over the whole clip in parallel. Per-frame logits are the
  classifier applied to the pooled features of frame t (TSN/TSM/TEINet and bLVNet-TAM: their
  per-frame FC before the consensus; TAda2D: its FC before the temporal mean). The heads are
  linear, so the clip logits are the mean of the per-frame logits (in inference).

Stepping through a clip gives `per_frame_logits(clip)[:, i]` at step i (tests/test_streaming.py,
1e-5). Streams: the TSN/TSM/TEINet (`resnet`), `tada2d` and `blvnet` families; S3D and
TAdaConvNeXt do not (see `NOT_STREAMING`).

Example:
    >>> import numpy as np, tfvideo
    >>> model = tfvideo.models.create("tsm_causal_tiny", num_classes=4, num_frames=4, input_size=32)
    >>> states = model.init_states(batch_size=1)
    >>> logits, states = model.stream_step(np.zeros((1, 32, 32, 3), "float32"), states)
    >>> tuple(logits.shape), model.per_frame_logits(np.zeros((1, 4, 32, 32, 3))).shape[1]
    ((1, 4), 4)
"""

import keras
from keras import layers

from tfvideo.layers import TemporalMean, UnfoldFrames
from tfvideo.layers._common import TemporalLayer, split_states

# family -> frames per streaming step.
STREAM_FRAMES = {"resnet": 1, "tada2d": 1, "blvnet": 2, "temporalized": 1}
NOT_STREAMING = {
    "s3d": "its 3D convs and temporal poolings read later frames and its head pools a "
    "5-D map over time (no causal variant is built)",
    "tadaconvnext": "its TAdaConv routes and temporal windows read later frames (no causal "
    "variant is built)",
}


class StreamStep(layers.Layer):
    """`layer.stream_step` as a node of a functional graph; `layer`'s weights are shared."""

    def __init__(self, layer, step_frames, **kwargs):
        super().__init__(name=f"{layer.name}_step", dtype=layer.dtype_policy, **kwargs)
        self.layer = layer
        self.step_frames = step_frames

    def call(self, inputs, states):
        # States are float32 at the interface; the layer computes in its own dtype (mixed
        # precision included).
        states = {k: keras.ops.cast(v, self.compute_dtype) for k, v in states.items()}
        outputs, new = self.layer.stream_step(inputs, states, self.step_frames)
        return outputs, {k: keras.ops.cast(v, "float32") for k, v in new.items()}

    def compute_output_spec(self, inputs, states):
        shape = self.layer.compute_output_shape(inputs.shape)
        return keras.KerasTensor(shape, dtype=self.compute_dtype), {
            k: keras.KerasTensor(v.shape, dtype="float32") for k, v in states.items()
        }


def stream_frames(model) -> int:
    """Frames per streaming step of `model`; a ValueError names why a model cannot stream."""
    spec = model.spec
    if spec.family in NOT_STREAMING:
        raise ValueError(
            f"{spec.name}: the {spec.family} family does not stream: {NOT_STREAMING[spec.family]}"
        )
    if spec.family not in STREAM_FRAMES:
        raise ValueError(f"{spec.name}: the {spec.family} family does not stream")
    loose = [layer.name for layer in _temporal_layers(model) if not layer.causal]
    if loose:
        raise ValueError(
            f"{spec.name} is not causal (its temporal layer {loose[0]!r} reads later frames): "
            f"create it with causal=True (e.g. tfvideo.models.create({spec.name!r}, "
            "causal=True) or a *_causal_tiny configuration) to stream it"
        )
    return STREAM_FRAMES[spec.family]


def _ratio(model):
    """Clip frames per step frame: a layer over `n` clip frames sees `n / ratio` per step."""
    return model.spec.num_frames // stream_frames(model)


def _temporal_layers(model):
    return [layer for layer in model.layers if isinstance(layer, TemporalLayer)]


def state_shapes(model, batch_size=1) -> dict:
    """`{state name: shape}` (batch first) of `model`'s streaming step."""
    ratio = _ratio(model)
    shapes = {}
    for layer in _temporal_layers(model):
        n = layer.num_frames // ratio
        input_shape = (None if batch_size is None else batch_size * n,) + tuple(
            layer.input.shape[1:]
        )
        for key, shape in layer.stream_state_shapes(input_shape, n).items():
            shapes[f"{layer.name}_{key}"] = (batch_size,) + tuple(shape)
    return shapes


def init_states(model, batch_size=1) -> dict:
    """Zeros for every state: the start of a stream."""
    return {k: keras.ops.zeros(s, "float32") for k, s in state_shapes(model, batch_size).items()}


def _replay(model, inputs, ratio=None, states=None, new_states=None):
    """Runs `model`'s graph on the symbolic `inputs` with its own layers, except that every
    `TemporalMean` keeps the time axis (per-frame outputs) and, when streaming (`ratio`), each
    temporal layer runs its `stream_step` on `states` (new states into `new_states`) and
    `UnfoldFrames` unfolds the frames of one step."""

    def operation_fn(op):
        if isinstance(op, TemporalMean):
            return lambda x, **kwargs: x
        if ratio is None:
            return op
        if isinstance(op, UnfoldFrames):
            return UnfoldFrames(op.num_frames // ratio, name=f"{op.name}_step")
        if isinstance(op, TemporalLayer):
            step = StreamStep(op, op.num_frames // ratio)

            def call(x, **kwargs):
                y, new = step(x, split_states(states, op.name))
                new_states.update({f"{op.name}_{k}": v for k, v in new.items()})
                return y

            return call
        return op

    return model._run_through_graph(inputs, operation_fn)


def per_frame_model(model) -> keras.Model:
    """`[B, T, H, W, 3]` clips -> per-frame logits `[B, T / stream_frames, num_classes]`."""
    stream_frames(model)
    clips = model.inputs[0]
    return keras.Model(clips, _replay(model, clips), name=f"{model.name}_per_frame")


def streaming_model(model, batch_size=1) -> keras.Model:
    """The one-step model: `{"frames", **states}` -> `{"logits", **states}` (module docstring)."""
    ratio = _ratio(model)
    frames_shape = tuple(model.inputs[0].shape[2:])
    n = stream_frames(model)
    step_shape = frames_shape if n == 1 else (n,) + frames_shape
    frames = keras.Input(step_shape, batch_size=batch_size, name="frames")
    states = {
        name: keras.Input(shape[1:], batch_size=batch_size, name=name)
        for name, shape in state_shapes(model, batch_size).items()
    }
    clip = layers.Reshape((n,) + frames_shape, name="frames_to_clip")(frames)
    new_states = {}
    logits = _replay(model, clip, ratio, states, new_states)
    logits = layers.Reshape(tuple(logits.shape[2:]), name="logits")(logits)
    if set(new_states) != set(states):
        raise RuntimeError(
            f"streaming {model.name}: states {sorted(states)} != {sorted(new_states)}"
        )
    return keras.Model(
        {"frames": frames, **states},
        {"logits": logits, **{k: new_states[k] for k in states}},
        name=f"{model.name}_stream_step",
    )
