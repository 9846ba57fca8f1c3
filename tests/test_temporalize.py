"""`tfvideo.temporalize`: a functional 2D image model becomes a video model, every 2D weight kept.

Checked against independent references: a NumPy TSM (residual shift of the branch input) over
the 2D layers called frame by frame; the per-frame 2D model for TAda and for TIM with identity
initialisation (both are the identity at init); the architectures' known residual block counts.
"""

import keras
import numpy as np
import pytest
from keras import layers

import tfvideo
from tfvideo.models import temporalized

FRAMES = 4
IDENTITY = dict(zip(("mean", "std"), temporalized.IDENTITY_NORMALIZATION))


def small_backbone(size=16):
    """Stem, an identity block, a stride-2 projection block, a grouped-depthwise block (`+`)."""
    inputs = keras.Input((size, size, 3))
    x = layers.Conv2D(16, 3, padding="same", name="stem")(inputs)
    y = layers.Conv2D(16, 3, padding="same", activation="relu", name="b1_conv1")(x)
    y = layers.Conv2D(16, 1, name="b1_conv2")(y)
    x = layers.Add(name="b1_add")([x, y])
    shortcut = layers.Conv2D(32, 1, strides=2, name="b2_proj")(x)
    y = layers.Conv2D(32, 3, strides=2, padding="same", name="b2_conv1")(x)
    y = layers.ReLU(name="b2_relu")(y)
    x = layers.Add(name="b2_add")([shortcut, y])
    y = layers.Conv2D(32, 3, padding="same", groups=32, name="b3_dw")(x)
    x = x + layers.Conv2D(32, 1, name="b3_pw")(y)
    return keras.Model(inputs, x, name="small")


@pytest.fixture(scope="module")
def small():
    keras.utils.set_random_seed(1)
    return small_backbone()


def clips(size, n=2, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(0, 255, (n, FRAMES, size, size, 3)).astype("float32")


def numpy_shift(h, fold):
    """TSM on folded frames: channels [0, fold) read frame t+1, [fold, 2 fold) frame t-1."""
    v = h.reshape(-1, FRAMES, *h.shape[1:])
    out = v.copy()
    out[:, :-1, ..., :fold], out[:, -1, ..., :fold] = v[:, 1:, ..., :fold], 0
    out[:, 1:, ..., fold : 2 * fold] = v[:, :-1, ..., fold : 2 * fold]
    out[:, 0, ..., fold : 2 * fold] = 0
    return out.reshape(h.shape)


def pooled(h):
    """[B*T, h, w, C] -> the clip feature [B, C] (spatial then temporal mean)."""
    return h.mean(axis=(1, 2)).reshape(-1, FRAMES, h.shape[-1]).mean(axis=1)


def reference_small(model, x, shifted_blocks, shift_div=8):
    """The small backbone with residual TSM in `shifted_blocks`, from its 2D layers."""

    def run(name, h):
        return np.asarray(model.get_layer(name)(h))

    def branch_input(block, h):
        return numpy_shift(h, h.shape[-1] // shift_div) if block in shifted_blocks else h

    h = run("stem", x.reshape(-1, *x.shape[2:]))
    h = h + run("b1_conv2", run("b1_conv1", branch_input(1, h)))
    h = run("b2_proj", h) + run("b2_relu", run("b2_conv1", branch_input(2, h)))
    h = h + run("b3_pw", run("b3_dw", branch_input(3, h)))
    return pooled(h)


def features(video, x):
    return keras.ops.convert_to_numpy(video(x, training=False))


def relative_error(a, b):
    return float(np.max(np.abs(a - b)) / np.max(np.abs(b)))


@pytest.mark.parametrize("every, shifted", [(1, {1, 2, 3}), (2, {1, 3})])
def test_tsm_equals_a_numpy_reference(small, every, shifted):
    video = tfvideo.temporalize(
        small, "tsm", num_frames=FRAMES, every=every, include_top=False, **IDENTITY
    )
    x = clips(16)
    assert relative_error(features(video, x), reference_small(small, x, shifted)) < 1e-6
    # the reference sees the shift: without it the features differ
    assert (
        relative_error(reference_small(small, x, set()), reference_small(small, x, shifted)) > 1e-3
    )


def per_frame(model, x):
    return pooled(np.asarray(model(x.reshape(-1, *x.shape[2:]), training=False)))


@pytest.fixture(scope="module")
def mobilenet_v2():
    keras.utils.set_random_seed(2)
    return keras.applications.MobileNetV2(
        weights=None, include_top=False, input_shape=(32, 32, 3), alpha=0.35
    )


@pytest.mark.parametrize("backbone", ["small", "mobilenet_v2"])
@pytest.mark.parametrize(
    "module, options",
    [("tada", {}), ("tim", {"initializer": "identity"}), ("tsn", {})],
)
def test_identity_initialised_modules_equal_the_per_frame_model(request, backbone, module, options):
    model = request.getfixturevalue(backbone)
    video = tfvideo.temporalize(
        model, module, num_frames=FRAMES, include_top=False, **IDENTITY, **options
    )
    kinds = {type(layer).__name__ for layer in video.layers}
    assert {"tada": "TAdaConv2D", "tim": "TemporalInteraction"}.get(module, "Conv2D") in kinds
    size = model.inputs[0].shape[1]
    x = clips(size)
    assert relative_error(features(video, x), per_frame(model, x)) < 1e-6


def test_tada_carries_the_original_kernels(mobilenet_v2):
    video = tfvideo.temporalize(mobilenet_v2, "tada", num_frames=FRAMES, num_classes=3)
    replaced = [layer for layer in video.layers if type(layer).__name__ == "TAdaConv2D"]
    assert len(replaced) == 10  # one depthwise conv per residual block of MobileNetV2
    for layer in replaced:
        original = mobilenet_v2.get_layer(layer.name)
        np.testing.assert_array_equal(
            np.asarray(layer.kernel).reshape(-1), np.asarray(original.kernel).reshape(-1)
        )
        assert layer.calibration == "cout" and layer.groups == layer.filters


def test_every_2d_weight_is_kept(mobilenet_v2):
    video = tfvideo.temporalize(mobilenet_v2, "tsm", num_frames=FRAMES, num_classes=3)
    checked = 0
    for layer in (layer for layer in mobilenet_v2.layers if layer.weights):
        for mine, theirs in zip(video.get_layer(layer.name).weights, layer.weights):
            np.testing.assert_array_equal(np.asarray(mine), np.asarray(theirs))
            checked += 1
    assert checked == len(mobilenet_v2.weights)


# The architectures' residual blocks (papers): ResNet-50 3+4+6+3; MobileNetV2's repeated
# inverted residuals (1, 2, 3, 4, 3, 3, 1) less each stage's first; MobileNetV3-Small's 6
# stride-1 bottlenecks with equal channels; EfficientNetV2-B0 (1, 2, 2, 3, 5, 8) less each
# stage's first; ConvNeXt-T 3+3+9+3.
APPLICATIONS = {
    "ResNet50": 16,
    "MobileNetV2": 10,
    "MobileNetV3Small": 6,
    "EfficientNetV2B0": 15,
    "ConvNeXtTiny": 18,
}


@pytest.mark.parametrize("name", sorted(APPLICATIONS))
def test_keras_applications_get_one_module_per_residual_block(name):
    model = getattr(keras.applications, name)(
        weights=None, include_top=False, input_shape=(64, 64, 3)
    )
    video = tfvideo.temporalize(model, "tsm", num_frames=FRAMES, every=2, num_classes=3)
    shifts = [layer for layer in video.layers if type(layer).__name__ == "TemporalShift"]
    assert len(shifts) == -(-APPLICATIONS[name] // 2)
    own = temporalized.has_own_preprocessing(model)
    assert own == (name not in ("ResNet50", "MobileNetV2"))  # include_preprocessing
    assert video.spec.mean == (IDENTITY["mean"] if own else tfvideo.models.common.IMAGENET[0])
    out = video(clips(64, n=1), training=False)
    assert tuple(out.shape) == (1, 3) and np.all(np.isfinite(np.asarray(out)))


def test_replacing_the_preprocessing_drops_its_layers():
    model = keras.applications.MobileNetV3Small(
        weights=None, include_top=False, input_shape=(32, 32, 3), minimalistic=True
    )
    kept = tfvideo.temporalize(model, "tsn", num_frames=FRAMES, include_top=False)
    replaced = tfvideo.temporalize(
        model,
        "tsn",
        num_frames=FRAMES,
        include_top=False,
        preprocessing="replace",
        **dict(zip(("mean", "std"), tfvideo.models.common.INCEPTION)),
    )

    def rescalings(model):
        return [layer for layer in model.layers if isinstance(layer, layers.Rescaling)]

    assert len(rescalings(kept)) == 1 and not rescalings(replaced)
    # MobileNetV3's Rescaling(1/127.5, offset=-1) is INCEPTION's normalisation: same features
    x = clips(32)
    assert relative_error(features(replaced, x), features(kept, x)) < 1e-5


# keras-hub backbones (random weights): the ResNet's residual adds are layers; the MobileNet's
# sit inside its InvertedResidualBlock layers, which temporalize expands.
def keras_hub_resnet():
    keras_hub = pytest.importorskip("keras_hub")
    return keras_hub.models.ResNetBackbone(
        input_conv_filters=[64],
        input_conv_kernel_sizes=[3],
        stackwise_num_filters=[64, 128],
        stackwise_num_blocks=[2, 2],
        stackwise_num_strides=[1, 2],
        block_type="basic_block",
        image_shape=(32, 32, 3),
    )


def keras_hub_mobilenet():
    keras_hub = pytest.importorskip("keras_hub")
    return keras_hub.models.MobileNetBackbone(
        stackwise_expansion=[[40, 56], [64, 144, 144]],
        stackwise_num_blocks=[2, 3],
        stackwise_num_filters=[[16, 16], [24, 24, 24]],
        stackwise_kernel_size=[[3, 3], [5, 5, 5]],
        stackwise_num_strides=[[2, 1], [2, 1, 1]],
        stackwise_se_ratio=[[None, None], [0.25, 0.25, 0.25]],
        stackwise_activation=[["relu", "relu"], ["hard_swish"] * 3],
        stackwise_padding=[[1, 1], [2, 2, 2]],
        output_num_filters=288,
        depthwise_filters=8,
        depthwise_stride=2,
        depthwise_residual=False,
        last_layer_filter=288,
        image_shape=(32, 32, 3),
    )


def residual_layers(model):
    """keras-hub's own record of its residual blocks (stride 1, equal channels; basic blocks
    without a projection add their input too)."""
    count = 0
    for layer in model._flatten_layers(include_self=False):
        if type(layer).__name__ == "InvertedResidualBlock":
            count += layer.stride == 1 and layer.infilters == layer.filters
    return count


@pytest.mark.parametrize("module", ["tsm", "tada"])
def test_keras_hub_mobilenet(module):
    model = keras_hub_mobilenet()
    video = tfvideo.temporalize(model, module, num_frames=FRAMES, include_top=False, **IDENTITY)
    kind = "TemporalShift" if module == "tsm" else "TAdaConv2D"
    count = sum(type(layer).__name__ == kind for layer in video.layers)
    assert count == residual_layers(model) == 3
    if module == "tada":  # identity at init: the per-frame backbone
        x = clips(32)
        assert relative_error(features(video, x), per_frame(model, x)) < 1e-6


def test_keras_hub_resnet_round_trips_through_keras(tmp_path):
    model = keras_hub_resnet()
    video = tfvideo.temporalize(model, "tsm", num_frames=FRAMES, num_classes=3)
    assert sum(type(layer).__name__ == "TemporalShift" for layer in video.layers) == 4
    x = clips(32)
    expected = features(video, x)
    video.save(tmp_path / "hub.keras")
    restored = keras.saving.load_model(tmp_path / "hub.keras")
    assert restored.spec == video.spec
    np.testing.assert_array_equal(features(restored, x), expected)


def test_named_configuration_trains_and_round_trips(tmp_path):
    video = tfvideo.models.create("mobilenetv2_tsm_tiny", num_classes=3, num_frames=FRAMES)
    assert video.spec.family == "temporalized" and video.spec.options["backbone"] == "mobilenet_v2"
    x, y = clips(64, n=4), np.array([0, 1, 2, 0])
    video.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        jit_compile=False,  # XLA would compile MobileNetV2's train step for minutes on CPU
    )
    before = np.asarray(video.get_layer("Conv1").kernel).copy()
    history = video.fit(x, y, batch_size=2, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])
    assert not np.array_equal(np.asarray(video.get_layer("Conv1").kernel), before)
    video.save(tmp_path / "named.keras")
    restored = keras.saving.load_model(tmp_path / "named.keras")
    np.testing.assert_allclose(features(restored, x), features(video, x), rtol=1e-6, atol=1e-6)


class Subclassed(keras.Model):
    def __init__(self):
        super().__init__()
        self.conv = layers.Conv2D(8, 3)

    def call(self, x):
        return self.conv(x)


def test_unusable_backbones_get_errors_that_say_what_would_work(small):
    with pytest.raises(ValueError, match="subclassed Subclassed.*functional API"):
        tfvideo.temporalize(Subclassed(), "tsm", num_frames=FRAMES)
    inputs = keras.Input((16, 16, 3))
    plain = keras.Model(inputs, layers.Conv2D(8, 3)(layers.Conv2D(8, 3)(inputs)), name="plain")
    with pytest.raises(ValueError, match="'plain' has no residual block.*module='tsn'"):
        tfvideo.temporalize(plain, "tsm", num_frames=FRAMES)
    assert tfvideo.temporalize(plain, "tsn", num_frames=FRAMES).spec.options["module"] == "tsn"
    with pytest.raises(ValueError, match="module must be one of"):
        tfvideo.temporalize(small, "tsx", num_frames=FRAMES)


@pytest.mark.parametrize("module", ["tsm", "tada"])
def test_causal_models_stream_frame_by_frame(mobilenet_v2, module):
    video = tfvideo.temporalize(
        mobilenet_v2, module, num_frames=FRAMES, causal=True, num_classes=3, dropout=0.0
    )
    x = clips(32, n=1)
    expected = np.asarray(video.per_frame_logits(x))
    later = x.copy()
    later[:, -1] = 0.0  # a change in the last frame moves only the last frame's logits
    changed = np.asarray(video.per_frame_logits(later))
    np.testing.assert_array_equal(changed[:, :-1], expected[:, :-1])
    assert relative_error(changed[:, -1], expected[:, -1]) > 1e-3
    states = video.init_states(batch_size=1)
    for t in range(FRAMES):
        logits, states = video.stream_step(x[:, t], states)
        assert relative_error(np.asarray(logits), expected[:, t]) < 1e-5
    with pytest.raises(ValueError, match="not causal"):
        tfvideo.temporalize(mobilenet_v2, module, num_frames=FRAMES).init_states()


def test_module_docstring_example_runs():
    import doctest

    result = doctest.testmod(temporalized)
    assert result.attempted > 0 and result.failed == 0


def test_train_flags_backbone_and_module_pick_the_named_configuration():
    from tfvideo.cli import train

    try:
        train.FLAGS.parse(["tfvideo train", "--backbone=mobilenet_v2", "--module=tsm"])
        assert train.train_config().model == "mobilenetv2_tsm"
        train.FLAGS.parse(["tfvideo train", "--backbone=convnext_tiny", "--module=tada"])
        assert train.train_config().model == "convnexttiny_tada"
        train.FLAGS.parse(["tfvideo train", "--backbone=vgg16"])
        with pytest.raises(ValueError, match="unknown backbone 'vgg16'"):
            train.train_config()
    finally:
        train.FLAGS.parse(["tfvideo train"])
