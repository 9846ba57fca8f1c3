"""Streaming: frames as they arrive (`tfvideo.data.iter_frames`), `StreamingClassifier`, the
streaming TFLite model and the SavedModel `stream_step` signature, `tfvideo predict --stream`."""

import numpy as np
import pytest

from tests.data_fixtures import frame_index_of, write_video
from tfvideo.data import VideoDecodeError, decode_video, iter_frames


@pytest.mark.parametrize("rotation", [None, 90])
def test_iter_frames_gives_decode_video_frames_with_timestamps(tmp_path, rotation):
    path = write_video(
        tmp_path / "clip.mp4", num_frames=12, options={"g": "4", "bf": "2"}, rotation=rotation
    )
    stamps, frames = zip(*iter_frames(path))
    np.testing.assert_array_equal(np.stack(frames), decode_video(path))
    assert [frame_index_of(f) for f in frames] == list(range(12))
    np.testing.assert_allclose(stamps, np.arange(12) / 25, atol=1e-6)  # 25 fps


def test_iter_frames_names_the_source_it_cannot_open(tmp_path):
    with pytest.raises(VideoDecodeError, match="missing.mp4"):
        next(iter_frames(str(tmp_path / "missing.mp4")))
    with pytest.raises(VideoDecodeError, match="not-a-device"):
        next(iter_frames("not-a-device", format="v4l2"))
