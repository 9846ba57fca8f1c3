"""`VideoClassifier` and `ModelSpec`: one model abstraction for every family (spec, backbone and
head, `.keras` and preset round trips)."""

import json

import keras
import numpy as np
import pytest

from tfvideo import models
from tfvideo.models import ModelSpec, VideoClassifier

# One tiny configuration per family, at a small size (frames, pixels).
TINY = {
    "tsm_tiny": (4, 32),
    "tada2d_tiny": (4, 32),
    "s3d_tiny": (8, 32),
    "blvnet_tam_tiny": (4, 32),
    "tadaconvnext_tiny": (4, 32),
}
FAMILY = {
    "tsm_tiny": "resnet",
    "tada2d_tiny": "tada2d",
    "s3d_tiny": "s3d",
    "blvnet_tam_tiny": "blvnet",
    "tadaconvnext_tiny": "tadaconvnext",
}


def _tiny(name, **kwargs):
    frames, size = TINY[name]
    return models.create(name, num_classes=5, num_frames=frames, input_size=size, **kwargs)


def _clips(name, n=2, seed=0):
    frames, size = TINY[name]
    return np.random.default_rng(seed).uniform(0, 255, (n, frames, size, size, 3)).astype("float32")


def test_every_registered_name_has_a_spec_without_building():
    for name in models.available():
        spec = models.default_spec(name)
        assert spec.name == name and spec.num_classes > 0 and len(spec.mean) == 3
        assert spec.short_side == round(max(spec.input_size) * 8 / 7)
        assert spec.view_aggregation in ("logits", "softmax")
        assert ModelSpec.from_config(json.loads(json.dumps(spec.get_config()))) == spec


def test_spec_records_the_papers_conventions():
    # papers.md: TSN/TSM/TEINet and S3D average logits, TAda and bLVNet-TAM softmax scores.
    expected = {
        "resnet": "logits",
        "s3d": "logits",
        "tada2d": "softmax",
        "tadaconvnext": "softmax",
        "blvnet": "softmax",
    }
    for name, family in FAMILY.items():
        spec = models.default_spec(name)
        assert spec.family == family and spec.view_aggregation == expected[family]
    assert models.default_spec("tsm_r50").mean == (0.485, 0.456, 0.406)  # ImageNet
    assert models.default_spec("tada2d_r50").mean == (0.45, 0.45, 0.45)  # TAda's
    assert models.default_spec("tada2d_r50").sampling == "dense"
    assert models.default_spec("tsm_r50").sampling == "segments"
    assert models.default_spec("s3d").checkpoint_layouts == ("torchvision_s3d",)
    assert models.default_spec("tsm_r50", input_size=224).short_side == 256


def test_spec_rejects_what_it_cannot_describe():
    with pytest.raises(ValueError, match="family"):
        ModelSpec("x", "vit", 2, 4, 32, (0, 0, 0), (1, 1, 1))
    with pytest.raises(ValueError, match="sampling"):
        ModelSpec("x", "resnet", 2, 4, 32, (0, 0, 0), (1, 1, 1), sampling="random")
    with pytest.raises(ValueError, match="3 class names for 2 classes"):
        ModelSpec("x", "resnet", 2, 4, 32, (0, 0, 0), (1, 1, 1), class_names=("a", "b", "c"))


@pytest.mark.parametrize("name", sorted(TINY))
def test_backbone_features_are_what_the_classifier_reads(name):
    """logits == features @ W + b: the pooled features feed the (linear) classifier."""
    model = _tiny(name)
    clips = _clips(name)
    assert isinstance(model, VideoClassifier) and model.spec.family == FAMILY[name]
    features = model.extract_features(clips)
    classifier = model.get_layer(model.spec.head.classifier)
    kernel, bias = (np.asarray(w) for w in classifier.get_weights())
    kernel = kernel.reshape(-1, kernel.shape[-1])  # S3D's 1x1x1 conv
    logits = np.asarray(model(clips, training=False))
    np.testing.assert_allclose(features @ kernel + bias, logits, rtol=1e-4, atol=1e-4)

    headless = _tiny(name, include_top=False)
    assert headless.output_shape == (None, features.shape[1])
    assert headless.spec == model.spec


@pytest.mark.parametrize("name", ["tsm_tiny", "tadaconvnext_tiny"])
def test_keras_file_round_trip_keeps_spec_and_outputs(tmp_path, name):
    model = _tiny(name, class_names=list("abcde"))
    clips = _clips(name)
    path = str(tmp_path / "m.keras")
    model.save(path)
    loaded = keras.saving.load_model(path)
    assert isinstance(loaded, VideoClassifier)
    assert loaded.spec == model.spec and loaded.spec.labels == list("abcde")
    np.testing.assert_allclose(loaded(clips), model(clips), atol=1e-6)


def test_preset_round_trip_in_keras_hub_layout(tmp_path):
    model = _tiny("tada2d_tiny", class_names=list("vwxyz"))
    clips = _clips("tada2d_tiny")
    preset = tmp_path / "preset"
    model.save_to_preset(str(preset))
    assert sorted(p.name for p in preset.iterdir()) == [
        "config.json",
        "metadata.json",
        "model.weights.h5",
    ]
    metadata = json.loads((preset / "metadata.json").read_text())
    assert metadata["parameter_count"] == model.count_params()
    loaded = models.from_preset(str(preset))
    assert loaded.spec == model.spec
    np.testing.assert_allclose(loaded(clips), model(clips), atol=1e-6)
    with pytest.raises(FileNotFoundError, match="not a tfvideo preset"):
        models.from_preset(str(tmp_path))


def test_remote_preset_handle_without_keras_hub_names_it(monkeypatch):
    import sys

    from tfvideo._optional import MissingDependencyError

    monkeypatch.setitem(sys.modules, "keras_hub", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "keras_hub.src.utils.preset_utils", None)
    with pytest.raises(MissingDependencyError, match="needs keras-hub"):
        models.from_preset("hf://someone/some-tfvideo-preset")


def test_reset_head_keeps_the_backbone_and_changes_the_classes():
    model = _tiny("tsm_tiny")
    clips = _clips("tsm_tiny")
    fresh = model.reset_head(9, class_names=[f"c{i}" for i in range(9)])
    assert fresh.output_shape == (None, 9) and fresh.spec.num_classes == 9
    assert fresh.spec.labels[-1] == "c8"
    np.testing.assert_allclose(
        fresh.extract_features(clips), model.extract_features(clips), atol=1e-6
    )
    # A different class count, with the head re-initialised, but the same count keeps shapes.
    again = model.reset_head(5)
    old = model.get_layer("fc").get_weights()[0]
    assert not np.allclose(again.get_layer("fc").get_weights()[0], old)


def test_consumers_read_the_spec_not_layer_names():
    from tfvideo.convert import model_family
    from tfvideo.export.source import metadata_for_model
    from tfvideo.training.evaluation import default_view_aggregation

    model = models.create(
        "tada2d_tiny",
        num_classes=3,
        num_frames=4,
        input_size=32,
        class_names=["a", "b", "c"],
        sampling="dense",
        frame_interval=2,
    )
    assert model_family(model) == "tada2d"
    assert default_view_aggregation(model) == "softmax"
    meta = metadata_for_model(model)
    assert meta.model_name == "tada2d_tiny" and meta.class_names == ["a", "b", "c"]
    assert meta.sampling == {"kind": "dense", "clip_length": 4, "interval": 2}
    assert meta.short_side == model.spec.short_side == 37

    inputs = keras.Input((4, 32, 32, 3))
    plain = keras.Model(
        inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling3D()(inputs))
    )
    with pytest.raises(ValueError, match="not a tfvideo VideoClassifier"):
        model_family(plain)


def test_convert_writes_a_preset_that_loads_without_torch(tmp_path):
    """`tfvideo convert --preset DIR`: a checkpoint (here a torchvision-layout .npz) becomes a
    preset; loading it needs only tfvideo."""
    from tfvideo.cli.convert import convert
    from tfvideo.convert import resnet_state_dict

    source = models.create("tsn_tiny", num_classes=5, num_frames=2, input_size=64)
    rng = np.random.default_rng(3)
    state = {
        k: rng.normal(size=v.shape).astype("float32") for k, v in resnet_state_dict(source).items()
    }
    checkpoint = tmp_path / "r.npz"
    np.savez(checkpoint, **state)
    preset = tmp_path / "tsn_tiny_preset"
    model, report = convert(
        "tsn_tiny", str(checkpoint), None, num_frames=2, input_size=64, preset=str(preset)
    )
    loaded = models.from_preset(str(preset))
    assert loaded.spec == model.spec and loaded.spec.num_classes == 5
    np.testing.assert_array_equal(resnet_state_dict(loaded)["fc.weight"], state["fc.weight"])
    with pytest.raises(ValueError, match="--out .* or --preset"):
        convert("tsn_tiny", str(checkpoint), None)


def test_keras_file_loads_after_a_plain_import_tfvideo(tmp_path):
    """A fresh process needs only `import tfvideo` (it registers every class) to load a model."""
    import subprocess
    import sys

    path = tmp_path / "m.keras"
    _tiny("tsm_tiny").save(str(path))
    code = (
        f"import keras, tfvideo; m = keras.saving.load_model({str(path)!r}); "
        "print(type(m).__name__, m.spec.name)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split()[-2:] == ["VideoClassifier", "tsm_tiny"]
