"""Model cost: multiply-adds (MACs, the papers' "FLOPs") and parameter counts.

`count_macs` traces one forward pass of one clip without running it and adds up the
multiply-adds of every convolution, depthwise convolution, matrix product and einsum, which
is what fvcore and the four papers count (batch norm and element-wise ops are ignored).
It works for any layer built on `keras.ops`, including custom layers that call
`ops.conv` directly, because it intercepts the ops rather than the layer classes.

Example:
    >>> import keras, tfvideo
    >>> model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3)])
    >>> tfvideo.profile.count_macs(model)  # 6*6 outputs x 4 channels x 3*3*3 taps
    3888
"""

import contextlib
import math

import keras
import numpy as np

_PATCHED_OPS = ("conv", "depthwise_conv", "matmul", "einsum")


def _numel(shape):
    return int(np.prod([int(d) for d in shape]))


def _static_shape(tensor):
    shape = tuple(tensor.shape)
    if any(d is None for d in shape):
        raise ValueError(f"count_macs needs static shapes; got an op output of shape {shape}")
    return shape


def _einsum_macs(equation, operands, output):
    inputs, _ = equation.replace(" ", "").split("->")
    sizes = {}
    for spec, operand in zip(inputs.split(","), operands):
        for letter, size in zip(spec, _static_shape(operand)):
            sizes[letter] = int(size)
    return math.prod(sizes.values())


def _macs_of(op_name, args, kwargs, output):
    out_shape = _static_shape(output)
    if op_name == "conv":
        kernel = kwargs.get("kernel", args[1] if len(args) > 1 else None)
        return _numel(out_shape) * _numel(_static_shape(kernel)[:-1])
    if op_name == "depthwise_conv":
        kernel = kwargs.get("kernel", args[1] if len(args) > 1 else None)
        return _numel(out_shape) * _numel(_static_shape(kernel)[:-2])
    if op_name == "matmul":
        first = kwargs.get("x1", args[0] if args else None)
        return _numel(out_shape) * int(_static_shape(first)[-1])
    if op_name == "einsum":
        return _einsum_macs(args[0], args[1:], output)
    raise ValueError(op_name)


@contextlib.contextmanager
def _counting_ops(counter):
    """Wraps the counted ops in every namespace layers import them from.

    Each wrapper calls the original function captured before patching, so an op reached
    through two aliases is still counted once.
    """
    import keras.src.ops as src_ops
    import keras.src.ops.nn as src_nn
    import keras.src.ops.numpy as src_numpy

    modules = (keras.ops, src_ops, src_nn, src_numpy)
    saved = []
    for module in modules:
        for op_name in _PATCHED_OPS:
            original = getattr(module, op_name, None)
            if original is None:
                continue
            saved.append((module, op_name, original))

            def counted(*args, _original=original, _op=op_name, **kwargs):
                output = _original(*args, **kwargs)
                counter["macs"] += _macs_of(_op, args, kwargs, output)
                return output

            setattr(module, op_name, counted)
    try:
        yield
    finally:
        for module, op_name, original in saved:
            setattr(module, op_name, original)


def _trace(model, spec_shape, dtype):
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.function(lambda x: model(x, training=False)).get_concrete_function(
            tf.TensorSpec(spec_shape, dtype)
        )
    elif backend == "jax":
        import jax

        jax.eval_shape(lambda x: model(x, training=False), jax.ShapeDtypeStruct(spec_shape, dtype))
    else:
        model(np.zeros(spec_shape, dtype), training=False)


def count_macs(model, input_shape=None) -> int:
    """Multiply-adds of one forward pass of one clip (batch 1).

    Args:
        model: a built Keras model (or layer) with a single input.
        input_shape: shape of one example without the batch axis; defaults to the
            model's input shape.
    """
    if input_shape is None:
        input_shape = tuple(model.inputs[0].shape[1:])
        dtype = model.inputs[0].dtype
    else:
        dtype = "float32"
    if any(d is None for d in input_shape):
        raise ValueError(
            f"count_macs needs a fixed input shape, got {input_shape}; pass input_shape="
        )
    counter = {"macs": 0}
    with _counting_ops(counter):
        _trace(model, (1,) + tuple(input_shape), str(dtype))
    return counter["macs"]


_RUNNING_STATISTICS = ("moving_mean", "moving_variance")


def count_params(model) -> int:
    """Parameters as the papers and PyTorch count them.

    `model.count_params()` also counts batch-norm moving statistics, which PyTorch keeps as
    buffers, not parameters; they are left out here, whether or not layers are frozen.
    """
    return sum(_numel(w.shape) for w in model.weights if not w.path.endswith(_RUNNING_STATISTICS))
