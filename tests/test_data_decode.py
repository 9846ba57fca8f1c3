"""Decoding tests on real encoded files (generated with PyAV) and on the
real-world fixtures in ../shared/fixtures/videos."""

import numpy as np
import pytest
from data_fixtures import (  # noqa: F401  (fixtures)
    HEIGHT,
    NUM_FRAMES,
    REAL_VIDEOS,
    VIDEO_SPECS,
    WIDTH,
    frame_image,
    frame_index_of,
    video_dir,
    write_video,
)

from tfvideo.data import (
    VideoDecodeError,
    count_frames,
    decode_video,
    video_info,
)

CONTAINERS = sorted(VIDEO_SPECS)


@pytest.mark.parametrize("name", CONTAINERS)
def test_full_decode_frames_in_order(video_dir, name):
    frames = decode_video(video_dir / name)
    n = VIDEO_SPECS[name][2]
    assert frames.shape == (n, HEIGHT, WIDTH, 3)
    assert frames.dtype == np.uint8
    assert [frame_index_of(f) for f in frames] == list(range(n))


@pytest.mark.parametrize("name", CONTAINERS)
def test_video_info(video_dir, name):
    info = video_info(video_dir / name)
    assert info.num_frames == VIDEO_SPECS[name][2]
    assert info.fps == pytest.approx(25.0)
    assert (info.width, info.height, info.rotation) == (WIDTH, HEIGHT, 0)
    assert count_frames(video_dir / name) == info.num_frames


@pytest.mark.parametrize("name", CONTAINERS)
def test_seek_decode_matches_full_decode(video_dir, name):
    path = video_dir / name
    full = decode_video(path)
    n = len(full)
    rng = np.random.default_rng(sum(map(ord, name)))
    index_sets = [rng.integers(0, n, size=k) for k in (1, 3, 8, 8, 16)]
    index_sets += [
        np.array([n - 1, 0, n // 2, n // 2]),  # unsorted, repeats
        np.arange(n)[::-3],
    ]
    for idx in index_sets:
        np.testing.assert_array_equal(decode_video(path, idx), full[idx])


def test_callable_indices_see_true_count(video_dir):
    seen = []

    def pick(n):
        seen.append(n)
        return [n - 1, 0]

    frames, count = decode_video(video_dir / "h264.mp4", pick, with_info=True)
    assert seen == [NUM_FRAMES] and count == NUM_FRAMES
    assert [frame_index_of(f) for f in frames] == [NUM_FRAMES - 1, 0]


def test_indices_past_end_are_clamped_and_negative_rejected(video_dir):
    path = video_dir / "h264.mp4"
    frames = decode_video(path, [NUM_FRAMES + 5, 2])
    assert [frame_index_of(f) for f in frames] == [NUM_FRAMES - 1, 2]
    with pytest.raises(ValueError, match=">= 0"):
        decode_video(path, [-1])


def test_rotation_metadata_is_applied(video_dir):
    path = video_dir / "rot90.mp4"
    info = video_info(path)
    assert info.rotation == 90
    assert (info.width, info.height) == (HEIGHT, WIDTH)  # upright size
    frames = decode_video(path)
    assert frames.shape == (10, WIDTH, HEIGHT, 3)
    # The stored picture has a white square top-left and a black one
    # top-right; a 90 degree counter-clockwise display rotation puts the
    # white square bottom-left and the black one top-left.
    f = frames[0].astype(float)
    assert f[-8:, :8].mean() > 240
    assert f[:8, :8].mean() < 16
    assert [frame_index_of(x) for x in frames] == list(range(10))
    # seek-based decoding rotates too
    np.testing.assert_array_equal(decode_video(path, [7, 3]), frames[[7, 3]])


# Display-matrix rotations, counter-clockwise degrees as PyAV's set_display_rotation writes
# them (phone videos: -90 for portrait, 180 upside down). -90 is reported as 270.
ROTATIONS = (0, 90, 180, 270, -90)
ROTATED_FRAMES = 6


def _marked_frame(i):
    """Frame ``i`` on a mid-grey background (index ``i + 8`` for ``frame_index_of``): white
    8x8 square top-left, black one top-right. No rotation or flip maps the image to itself, so
    any wrong turn shows."""
    return frame_image(i + 8)


def _upright(stored, angle):
    """The picture a player shows for ``stored`` under a counter-clockwise display rotation of
    ``angle``, by index arithmetic: displayed pixel (r, c) reads stored pixel ..."""
    h, w = stored.shape[:2]
    turn = angle % 360
    if turn == 0:
        return stored
    if turn == 180:
        return stored[::-1, ::-1]
    r, c = np.indices((w, h))  # a quarter turn swaps the sides
    if turn == 90:  # top-right corner goes to top-left
        return stored[c, w - 1 - r]
    return stored[h - 1 - c, r]  # 270: top-left corner goes to top-right


# Where the white and black markers are once upright (rows, cols of an 8x8 corner).
TOP, BOTTOM, LEFT, RIGHT = slice(0, 8), slice(-8, None), slice(0, 8), slice(-8, None)
MARKERS = {
    0: ((TOP, LEFT), (TOP, RIGHT)),
    90: ((BOTTOM, LEFT), (TOP, LEFT)),
    180: ((BOTTOM, RIGHT), (BOTTOM, LEFT)),
    270: ((TOP, RIGHT), (BOTTOM, RIGHT)),
}


@pytest.fixture(scope="module")
def rotated_videos(tmp_path_factory):
    root = tmp_path_factory.mktemp("rotated")
    images = [_marked_frame(i) for i in range(ROTATED_FRAMES)]
    return {
        angle: write_video(
            root / f"rot{angle}.mp4", num_frames=ROTATED_FRAMES, rotation=angle, images=images
        )
        for angle in ROTATIONS
    }


@pytest.mark.parametrize("angle", ROTATIONS)
def test_every_display_rotation_decodes_upright(rotated_videos, angle):
    path = rotated_videos[angle]
    turn = angle % 360
    quarter = turn in (90, 270)
    info = video_info(path)
    assert info.rotation == turn
    assert (info.width, info.height) == ((HEIGHT, WIDTH) if quarter else (WIDTH, HEIGHT))
    frames = decode_video(path)
    assert frames.shape == (ROTATED_FRAMES, info.height, info.width, 3)
    white, black = MARKERS[turn]
    for i, frame in enumerate(frames):
        assert frame_index_of(frame) == i + 8
        f = frame.astype(float)
        assert f[white].mean() > 240 and f[black].mean() < 16, (angle, i)
        # The whole picture, not just the markers, is the stored one turned upright.
        want = _upright(_marked_frame(i), angle).astype(int)
        assert np.abs(frame.astype(int) - want).max() <= 8, (angle, i)
    # seek-based decoding turns the frames too
    np.testing.assert_array_equal(decode_video(path, [4, 1, 4]), frames[[4, 1, 4]])


def test_upright_reference_turns_counter_clockwise():
    # The reference itself, on a 2 x 3 picture: 90 CCW puts the top row on the left side,
    # read bottom to top.
    stored = np.arange(6).reshape(2, 3)
    np.testing.assert_array_equal(_upright(stored, 90), [[2, 5], [1, 4], [0, 3]])
    np.testing.assert_array_equal(_upright(stored, 270), [[3, 0], [4, 1], [5, 2]])
    np.testing.assert_array_equal(_upright(stored, -90), _upright(stored, 270))
    np.testing.assert_array_equal(_upright(stored, 180), [[5, 4, 3], [2, 1, 0]])


@pytest.mark.parametrize(
    "name, reason, words",
    [
        ("empty.mp4", "empty", "zero-byte"),
        ("text.mp4", "not_a_video", "not a video"),
        ("truncated.mp4", "truncated", "truncated"),
        ("audio.m4a", "no_video_stream", "no video stream"),
        ("does_not_exist.mp4", "missing", "not found"),
    ],
)
def test_broken_inputs_raise_named_errors(video_dir, name, reason, words):
    path = video_dir / name
    for call in (
        lambda: decode_video(path),
        lambda: decode_video(path, [0]),
        lambda: video_info(path),
    ):
        with pytest.raises(VideoDecodeError) as err:
            call()
        assert err.value.reason == reason
        assert str(path) in str(err.value) and words in str(err.value)


def test_corrupt_frames_raise(video_dir):
    path = video_dir / "corrupt.mp4"
    with pytest.raises(VideoDecodeError) as err:
        decode_video(path)
    assert err.value.reason in ("corrupt", "no_frames")
    assert str(path) in str(err.value)


def test_header_that_over_counts_falls_back_to_real_count(video_dir, tmp_path):
    # An AVI cut at 80%: its header still says NUM_FRAMES frames, the file
    # holds fewer. The count comes from demuxing; indices past the real end
    # clamp to the last decodable frame.
    src = (video_dir / "mpeg4.avi").read_bytes()
    path = tmp_path / "cut.avi"
    path.write_bytes(src[: int(len(src) * 0.8)])
    info = video_info(path)
    full = decode_video(path)
    assert info.header_frames == NUM_FRAMES
    assert 0 < info.num_frames < NUM_FRAMES
    assert len(full) == info.num_frames
    np.testing.assert_array_equal(decode_video(path, [NUM_FRAMES - 1, 1]), full[[-1, 1]])


# Real-world files ----------------------------------------------------------
@pytest.mark.parametrize("name", sorted(REAL_VIDEOS))
def test_real_videos(shared_videos, name):
    path = shared_videos / name
    info = video_info(path)
    full = decode_video(path)
    assert info.num_frames == REAL_VIDEOS[name] == len(full)
    assert full.shape[1:] == (info.height, info.width, 3)
    rng = np.random.default_rng(0)
    for k in (1, 4, 8):
        idx = rng.integers(0, len(full), size=k)
        np.testing.assert_array_equal(decode_video(path, idx), full[idx])


def test_real_corrupted_video_raises(shared_videos):
    path = shared_videos / "decord_corrupted.mp4"
    with pytest.raises(VideoDecodeError) as err:
        decode_video(path)
    assert err.value.reason == "corrupt"
    assert "decord_corrupted.mp4" in str(err.value)
