"""Reading PyTorch checkpoints into flat `{name: numpy array}` state dicts.

PyTorch is needed only here, and only for `.pth` / `.pt` / `.pyth` / `.tar` files (the optional
`tfvideo[torch]` extra); `.npz` state dicts need numpy only. Checkpoints come wrapped in different
ways by the official releases, so `unwrap_state_dict` accepts:

- a plain state dict (torchvision, the bLVNet-TAM model-zoo files);
- `{"model_state": ...}` (TAdaConv / Masked-Action-Recognition; `{"model_ema_state": ...}` with
  `ema=True`), `{"state_dict": ...}` (bLVNet-TAM and TSM training checkpoints), `{"model": ...}`
  (ConvNeXt-style);
- keys prefixed by `module.` (DataParallel / DistributedDataParallel), any number of times.

`num_batches_tracked` buffers are dropped: they carry no weights.

Example:
    >>> import numpy as np
    >>> from tfvideo.convert import torch_io
    >>> sd = torch_io.unwrap_state_dict({"state_dict": {"module.fc.weight": np.ones((2, 3))}})
    >>> sorted(sd), sd["fc.weight"].shape
    (['fc.weight'], (2, 3))
"""

import collections.abc
import os

import numpy as np

from tfvideo._optional import require

# Wrapper keys, most specific first.
WRAPPER_KEYS = ("model_state", "state_dict", "model")
EMA_KEY = "model_ema_state"
TORCH_SUFFIXES = (".pth", ".pt", ".pyth", ".tar", ".ckpt", ".bin")


def to_numpy(value):
    """A float32 numpy array from a numpy array, a torch tensor or a nested list."""
    if hasattr(value, "detach"):  # torch tensor, without importing torch
        value = value.detach().cpu()
        if str(value.dtype) in ("torch.bfloat16", "torch.float16"):
            value = value.float()
        value = value.numpy()
    array = np.asarray(value)
    if array.dtype.kind == "f" and array.dtype != np.float32:
        array = array.astype(np.float32)
    return array


def _is_tensor_like(value):
    return hasattr(value, "shape") and hasattr(value, "dtype")


def unwrap_state_dict(checkpoint, ema=False):
    """The flat `{name: array}` state dict inside a loaded checkpoint object.

    Args:
        checkpoint: the object `torch.load` returned (or a mapping of arrays).
        ema: take the exponential-moving-average weights (`model_ema_state`) of a TAdaConv-style
            checkpoint instead of `model_state`.

    Raises:
        ValueError: no state dict found, or `ema=True` without EMA weights.
    """
    if not isinstance(checkpoint, collections.abc.Mapping):
        raise ValueError(
            f"a checkpoint must be a mapping of parameter names, got {type(checkpoint).__name__}"
        )
    state = checkpoint
    if ema:
        if EMA_KEY not in state:
            raise ValueError(
                f"ema=True but the checkpoint has no {EMA_KEY!r} "
                f"(top-level keys: {sorted(state)[:10]})"
            )
        state = state[EMA_KEY]
    else:
        for _ in range(3):  # wrappers may nest, e.g. {"state_dict": {"model": ...}}
            if any(_is_tensor_like(v) for v in state.values()):
                break
            inner = next(
                (
                    state[k]
                    for k in WRAPPER_KEYS
                    if isinstance(state.get(k), collections.abc.Mapping)
                ),
                None,
            )
            if inner is None:
                break
            state = inner
    arrays = {}
    for key, value in state.items():
        if not _is_tensor_like(value):
            continue  # e.g. "epoch", "cfg" beside the weights
        while key.startswith("module."):
            key = key[len("module.") :]
        if key.endswith("num_batches_tracked"):
            continue
        arrays[key] = to_numpy(value)
    if not arrays:
        raise ValueError(
            f"no tensors found in the checkpoint (top-level keys: "
            f"{sorted(checkpoint)[:10]}); expected a state dict, optionally under "
            f"one of {WRAPPER_KEYS}"
        )
    return arrays


def read_checkpoint(path, ema=False, allow_pickle=False):
    """Reads a checkpoint file into a flat `{name: float32 array}` state dict.

    Args:
        path: `.pth` / `.pt` / `.pyth` / `.pth.tar` (PyTorch, needs `torch`) or `.npz`.
        ema: take `model_ema_state` (TAdaConv-style checkpoints).
        allow_pickle: let `torch.load` unpickle arbitrary objects (`weights_only=False`). Only for
            checkpoints you trust; needed when a training checkpoint stores e.g. an argparse
            namespace beside the weights.

    Raises:
        FileNotFoundError, ImportError (torch missing for a PyTorch file), ValueError.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"checkpoint not found: {path}")
    if path.endswith(".npz"):
        with np.load(path, allow_pickle=False) as data:
            return unwrap_state_dict({k: data[k] for k in data.files}, ema=ema)
    torch = require("torch", f"reading the PyTorch checkpoint {path}")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=not allow_pickle)
    except Exception as error:  # noqa: BLE001 - report torch's reason with the remedy
        if allow_pickle:
            raise ValueError(f"cannot read {path} with torch.load: {error}") from error
        raise ValueError(
            f"torch.load(weights_only=True) cannot read {path}: {error}. If you trust this "
            "file, pass allow_pickle=True (--allow_pickle) to unpickle its other objects"
        ) from error
    return unwrap_state_dict(checkpoint, ema=ema)


def save_npz(state_dict, path):
    """Writes a state dict as `.npz` (e.g. to convert later on a machine without torch)."""
    np.savez(os.fspath(path), **{k: to_numpy(v) for k, v in state_dict.items()})
