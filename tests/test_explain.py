"""Grad-CAM (tfvideo.explain): maps of every frame-folded family and S3D; on constructed models
whose classes read one image region each, the map peaks in that region; `predict --explain`."""

import io
import json

import keras
import numpy as np
import pytest
from PIL import Image

from tests.data_fixtures import write_video
from tfvideo.cli.predict import run as predict_run
from tfvideo.explain import gradcam, target_layer
from tfvideo.export.predict import default_model_path
from tfvideo.layers.frames import FoldFrames, TemporalMean, UnfoldFrames

T, SIZE = 4, 32
# the tiny model of each family Grad-CAM covers, and the layer it reads
FAMILIES = {
    "tsm_tiny": "layer4_0_out",
    "teinet_tiny": "layer4_0_out",
    "tada2d_tiny": "layer4_0_out",
    "blvnet_tam_tiny": "layer4_1_relu",
    "tadaconvnext_tiny": "stages_3_0_add",
    "s3d_tiny": "mixed_5c_concat",
}


class RegionMask(keras.layers.Layer):
    """Channel 0 kept in the top-left quadrant only, channel 1 in the bottom-right only."""

    def call(self, x):
        mask = np.zeros((SIZE, SIZE, 2), np.float32)
        mask[: SIZE // 2, : SIZE // 2, 0] = 1
        mask[SIZE // 2 :, SIZE // 2 :, 1] = 1
        return x * mask


def region_model(folded):
    """Class 0 = brightness of the top-left quadrant, class 1 = of the bottom-right one; the
    map is 5-D `[B, T, h, w, 2]` or frame-folded `[B*T, h, w, 2]`."""
    inputs = keras.Input((T, SIZE, SIZE, 3))
    x = FoldFrames()(inputs) if folded else inputs
    conv = keras.layers.Conv2D if folded else keras.layers.Conv3D
    x = conv(2, 1, kernel_initializer=keras.initializers.Constant(1 / 765), use_bias=False)(x)
    x = keras.layers.ReLU(name="map")(RegionMask()(x))
    pool = keras.layers.GlobalAveragePooling2D if folded else keras.layers.GlobalAveragePooling3D
    x = pool()(x)
    if folded:
        x = TemporalMean()(UnfoldFrames(T)(x))
    return keras.Model(inputs, keras.layers.Dense(2, kernel_initializer="identity")(x))


@pytest.mark.parametrize("folded", [True, False], ids=["frame_folded", "5d"])
def test_map_peaks_in_the_region_the_class_reads(folded):
    model = region_model(folded)
    clip = np.random.default_rng(0).uniform(0, 60, (T, SIZE, SIZE, 3)).astype(np.float32)
    clip[:, 4:10, 20:26] = 255  # a bright patch in the top-right, which no class reads
    # class 0's evidence moves across the top-left quadrant, class 1's across the bottom-right
    for t in range(T):
        clip[t, 2 + 2 * t : 8 + 2 * t, 3:9] = 250
        clip[t, 20:26, 18 + 2 * t : 24 + 2 * t] = 250
    assert target_layer(model).name == "map"
    for class_index, (rows, cols) in (
        (0, (slice(0, 16), slice(0, 16))),
        (1, (slice(16, 32), slice(16, 32))),
    ):
        maps = gradcam(model, clip, class_index)
        assert maps.shape == (T, SIZE, SIZE) and maps.min() >= 0 and maps.max() == 1
        for t in range(T):
            peak = np.unravel_index(np.argmax(maps[t]), maps[t].shape)
            region = np.zeros((SIZE, SIZE), bool)
            region[rows, cols] = True
            assert region[peak], (class_index, t, peak)
            assert maps[t][~region].max() < 0.5 * maps[t][region].max()  # blurred edge only


@pytest.mark.parametrize("name", sorted(FAMILIES))
def test_every_family_gives_non_negative_frame_maps(name):
    import tfvideo

    frames = 8 if name.startswith("s3d") else T
    model = tfvideo.models.create(name, num_classes=3, num_frames=frames, input_size=SIZE)
    assert target_layer(model).name == FAMILIES[name]
    clip = np.random.default_rng(1).uniform(0, 255, (frames, SIZE, SIZE, 3)).astype(np.float32)
    maps = gradcam(model, clip)  # the top class
    assert maps.shape == (frames, SIZE, SIZE) and maps.dtype == np.float32
    assert np.all(np.isfinite(maps)) and maps.min() >= 0 and maps.max() <= 1


def test_predict_explain_on_the_committed_model(tmp_path, shared_videos):
    model = default_model_path()
    if model is None:
        pytest.skip("no model committed under saved_models/")
    videos = [
        write_video(tmp_path / "clip.mp4", num_frames=20),
        str(shared_videos / "imageio_newtonscradle.gif"),
        str(shared_videos / "decord_corrupted.mp4"),
    ]
    out, err = io.StringIO(), io.StringIO()
    code = predict_run(
        videos, model, top_k=1, as_json=True, out=out, err=err, explain=str(tmp_path / "{stem}.png")
    )
    assert code == 1 and "decord_corrupted.mp4" in err.getvalue()
    results = json.loads(out.getvalue())["results"]
    assert "error" in results[2] and len(err.getvalue().strip().splitlines()) == 1
    for result in results[:2]:
        explain = result["explain"]
        assert explain["class"] == result["predictions"][0]["label"]
        image = np.asarray(Image.open(explain["path"]))
        # 8 frames of 32 px up-scaled 3x: 768 wide, two rows of 96 and the title
        assert image.shape[1] == 8 * 96 and image.shape[0] > 2 * 96
