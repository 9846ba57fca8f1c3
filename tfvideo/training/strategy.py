"""Choosing and configuring the `tf.distribute` strategy for training and evaluation.

Rules (`select_strategy`):

- `TF_CONFIG` set in the environment: `tf.distribute.MultiWorkerMirroredStrategy` (one process per
  worker, each with its local GPUs or its CPU). The strategy must be created before any other op.
- otherwise, one or more visible GPUs: `tf.distribute.MirroredStrategy` over all of them.
- otherwise, `num_cpu_devices > 1`: the CPU is split into that many logical devices
  (`tf.config.set_logical_device_configuration`, which must happen before TensorFlow initialises
  its devices) and `MirroredStrategy` runs one replica on each. Useful to test data parallelism.
- otherwise the default (single-device) strategy.

On the JAX backend the model runs in JAX and only the input pipeline in TensorFlow, so the
replicas are JAX devices instead (`JaxDataParallel`: `keras.distribution.DataParallel`, one
batch shard per device): every visible GPU, or `num_cpu_devices` CPU devices (JAX's
`jax_num_cpu_devices`, set before JAX starts). Multi-worker training (`TF_CONFIG`) needs the
TensorFlow backend.

Global batch = per-replica batch x `strategy.num_replicas_in_sync`.

Example:

>>> from tfvideo.training import strategy as strategy_lib
>>> strategy = strategy_lib.select_strategy()
>>> strategy.num_replicas_in_sync >= 1
True
"""

import contextlib
import json
import os

import tensorflow as tf


def configure_cpu_devices(num_devices):
    """Splits the (first) physical CPU into `num_devices` logical devices.

    Must run before any TensorFlow op; when TensorFlow is already initialised with the same number
    of logical CPUs this is a no-op, with a different number it raises `RuntimeError`.
    """
    num_devices = int(num_devices)
    if num_devices < 1:
        raise ValueError(f"`num_cpu_devices` must be >= 1, got {num_devices}.")
    cpus = tf.config.list_physical_devices("CPU")
    current = tf.config.get_logical_device_configuration(cpus[0])
    if current is not None and len(current) == num_devices:
        return
    try:
        tf.config.set_logical_device_configuration(
            cpus[0], [tf.config.LogicalDeviceConfiguration() for _ in range(num_devices)]
        )
    except RuntimeError as error:
        existing = len(tf.config.list_logical_devices("CPU"))
        if existing == num_devices:
            return
        raise RuntimeError(
            f"`num_cpu_devices={num_devices}` must be set before TensorFlow runs any op (it "
            f"already has {existing} logical CPU device(s)). Call `select_strategy` first."
        ) from error


def tf_config():
    """The parsed `TF_CONFIG` environment variable, or `None`."""
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return None
    try:
        config = json.loads(raw)
    except json.JSONDecodeError as error:
        raise ValueError(f"TF_CONFIG is not valid JSON: {error}") from error
    if not config.get("cluster"):
        return None
    return config


class JaxDataParallel:
    """Data parallelism on the JAX backend: `keras.distribution.DataParallel` over `devices`
    (set as Keras' distribution, so `fit` shards every batch across them), with the strategy
    attributes the training loop reads (`num_replicas_in_sync`, `scope()`)."""

    def __init__(self, devices):
        import keras

        self.devices = list(devices)
        self.distribution = keras.distribution.DataParallel(devices=self.devices)
        keras.distribution.set_distribution(self.distribution)

    @property
    def num_replicas_in_sync(self) -> int:
        return len(self.devices)

    def scope(self):
        return contextlib.nullcontext()


def _jax_strategy(num_cpu_devices, use_gpus):
    import jax

    if tf_config() is not None:
        raise ValueError(
            "TF_CONFIG is set, but multi-worker training needs the TensorFlow backend "
            "(KERAS_BACKEND=tensorflow); on JAX one process uses all of its devices"
        )
    wanted = int(num_cpu_devices or 0)
    if wanted > 1:
        jax.config.update("jax_num_cpu_devices", wanted)  # a no-op once JAX has started
    gpus = [d for d in jax.devices() if d.platform != "cpu"] if use_gpus else []
    devices = gpus or (jax.devices("cpu")[:wanted] if wanted > 1 else [])
    if wanted > 1 and not gpus and len(devices) < wanted:
        raise RuntimeError(
            f"`num_cpu_devices={wanted}` must be set before JAX starts (it already has "
            f"{len(devices)} CPU device(s)); call `select_strategy` first"
        )
    if len(devices) > 1:
        return JaxDataParallel(devices)
    return tf.distribute.get_strategy()


def select_strategy(num_cpu_devices=0, use_gpus=True):
    """Returns the strategy described in the module docstring.

    Args:
        num_cpu_devices: when no GPU is used and this is > 1, split the CPU into that many
            logical devices (JAX: CPU devices) and mirror over them.
        use_gpus: mirror over the visible GPUs when there are any.
    """
    import keras

    if keras.backend.backend() == "jax":
        return _jax_strategy(num_cpu_devices, use_gpus)
    if tf_config() is not None:
        _patch_keras_for_multi_worker()
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_physical_devices("GPU") if use_gpus else []
    if gpus:
        return tf.distribute.MirroredStrategy()
    if num_cpu_devices and int(num_cpu_devices) > 1:
        configure_cpu_devices(num_cpu_devices)
        devices = [d.name for d in tf.config.list_logical_devices("CPU")][: int(num_cpu_devices)]
        return tf.distribute.MirroredStrategy(
            devices=devices, cross_device_ops=tf.distribute.ReductionToOneDevice()
        )
    return tf.distribute.get_strategy()


def is_multi_worker(strategy):
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def is_chief(strategy=None):
    """True on the process that writes checkpoints, logs and exports (worker 0 or the chief)."""
    config = tf_config()
    if config is None:
        return True
    task = config.get("task", {})
    task_type, index = task.get("type"), int(task.get("index", 0))
    if task_type == "chief":
        return True
    has_chief = "chief" in config.get("cluster", {})
    return task_type == "worker" and index == 0 and not has_chief


def worker_index():
    config = tf_config()
    return 0 if config is None else int(config.get("task", {}).get("index", 0))


def uses_cpu_only(strategy):
    """True when every replica of `strategy` runs on a CPU device."""
    if isinstance(strategy, JaxDataParallel):
        return all(d.platform == "cpu" for d in strategy.devices)
    try:
        devices = tuple(strategy.extended.worker_devices)
    except (RuntimeError, AttributeError):  # the default strategy has no device list
        devices = ()
    if not devices:
        return not tf.config.list_physical_devices("GPU")
    return all("CPU" in d.upper().split("/")[-1] for d in devices)


def resolve_jit_compile(jit_compile, strategy):
    """`"auto"` -> on TensorFlow, True on GPUs and False on CPU (XLA's compile time does not pay
    off for the short CPU jobs, and XLA fails under `MirroredStrategy` on logical CPUs); on JAX
    always True (without it Keras runs JAX eagerly, op by op); on PyTorch False (Keras' eager
    default). An explicit True under mirrored TensorFlow CPU replicas is turned off with a
    warning."""
    import keras

    backend = keras.backend.backend()
    replicas = strategy.num_replicas_in_sync
    mirrored_cpu = (
        backend == "tensorflow"
        and uses_cpu_only(strategy)
        and (replicas > 1 or is_multi_worker(strategy))
    )
    if isinstance(jit_compile, str):
        value = jit_compile.strip().lower()
        if value == "auto":
            if backend != "tensorflow":
                return backend == "jax"
            return not uses_cpu_only(strategy)
        if value in ("true", "1", "yes"):
            jit_compile = True
        elif value in ("false", "0", "no"):
            jit_compile = False
        else:
            raise ValueError(f"`jit_compile` must be auto, true or false, got {jit_compile!r}.")
    if jit_compile and mirrored_cpu:
        tf.get_logger().warning(
            "jit_compile=True is not supported under MirroredStrategy on CPU devices; using "
            "jit_compile=False."
        )
        return False
    return bool(jit_compile)


_PATCHED = False


def _patch_keras_for_multi_worker():
    """Works around two Keras 3 bugs (3.12 to 3.15, the releases setup.py allows; their trainer
    internals are checked by tests/test_strategy_keras_internals.py) that make `fit` fail under
    `MultiWorkerMirroredStrategy` with the TensorFlow backend:

    1. `_maybe_symbolic_build` reduces the first (per-replica) data batch with
       `strategy.reduce`, which the collective strategy cannot do eagerly on a `PerReplica`;
       building only needs the shapes, so the first local replica's batch is used.
    2. `reduce_per_replica(..., "mean")` calls `strategy.reduce("MEAN", v, axis=0)` on scalar
       metric values ("Invalid reduction dimension 0"); the mean across replicas is
       `axis=None`.
    """
    global _PATCHED
    if _PATCHED:
        return
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original_reduce = tf_trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(
            strategy
        ):
            return tf.nest.map_structure(lambda v: strategy.reduce("MEAN", v, axis=None), values)
        return original_reduce(values, strategy, reduction)

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None:
            return
        if iterator is not None:
            for _, _, it in iterator:
                batch = next(it)
                data_batch = tf.nest.map_structure(
                    lambda v: (
                        self.distribute_strategy.experimental_local_results(v)[0]
                        if isinstance(v, tf.distribute.DistributedValues)
                        else v
                    ),
                    batch,
                )
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    tf_trainer.reduce_per_replica = reduce_per_replica
    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = maybe_symbolic_build
    _PATCHED = True
