"""Shared fixtures for the data tests: small real encoded videos made with
PyAV, with the frame index encoded in the picture so indices can be checked.

Import the fixtures into a test module with
``from tests.data_fixtures import *`` (or the names you need).
"""

import os
import shutil

import av
import numpy as np
import pytest

WIDTH, HEIGHT = 64, 48
NUM_FRAMES = 30

# (file name, codec, pixel format, number of frames, encoder options)
VIDEO_SPECS = {
    "h264.mp4": ("libx264", "yuv420p", NUM_FRAMES, {"g": "8", "bf": "2"}),
    "mpeg4.avi": ("mpeg4", "yuv420p", NUM_FRAMES, {"g": "6"}),
    "h264.mkv": ("libx264", "yuv420p", NUM_FRAMES, {"g": "10"}),
    "vp8.webm": ("libvpx", "yuv420p", 20, {"g": "7"}),
    "vp9.webm": ("libvpx-vp9", "yuv420p", 20, {"g": "7"}),
    "h264.mov": ("libx264", "yuv420p", 24, {"g": "5"}),
    "anim.gif": ("gif", "rgb8", 20, {}),
}

REAL_VIDEO_DIR = os.path.normpath(
    os.path.join(os.path.dirname(__file__), "..", "..", "shared", "fixtures", "videos")
)

# Expected frame counts of the real-world fixtures (their README).
REAL_VIDEOS = {
    "decord_unordered.mov": 4,
    "decord_video_0.mov": 3,
    "moviepy_big_buck_bunny_432_433.webm": 24,
    "imageio_newtonscradle.gif": 36,
    "imageio_realshort.mp4": 36,
    "mmaction2_test.avi": 164,
}


def frame_value(i):
    """Grey level of frame ``i`` (well separated after lossy coding)."""
    return (i * 8 + 8) % 256


def frame_image(i, width=WIDTH, height=HEIGHT):
    """Frame ``i``: flat grey ``frame_value(i)`` with a white 8x8 square in
    the top-left corner (to check orientation) and a black one top-right."""
    img = np.full((height, width, 3), frame_value(i), np.uint8)
    img[:8, :8] = 255
    img[:8, -8:] = 0
    return img


def frame_index_of(frame):
    """Recovers the index written by ``frame_image`` (centre brightness)."""
    h, w = frame.shape[:2]
    centre = float(np.mean(frame[h // 4 : 3 * h // 4, w // 4 : 3 * w // 4]))
    return int(round((centre - 8) / 8))


def write_video(
    path,
    codec="libx264",
    pix_fmt="yuv420p",
    num_frames=30,
    options=None,
    rate=25,
    rotation=None,
    width=WIDTH,
    height=HEIGHT,
    images=None,
):
    """Encodes ``frame_image(i)`` (or ``images``) with PyAV."""
    container = av.open(str(path), "w")
    stream = container.add_stream(codec, rate=rate, options=options or {})
    stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
    if codec != "gif":
        stream.bit_rate = 4_000_000  # near-lossless: frame values stay exact
    if rotation is not None:
        stream.set_display_rotation(rotation)
    for i in range(num_frames):
        img = images[i] if images is not None else frame_image(i, width, height)
        frame = av.VideoFrame.from_ndarray(img, format="rgb24")
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return str(path)


def write_audio_only(path):
    container = av.open(str(path), "w")
    stream = container.add_stream("aac", rate=16000)
    stream.layout = "mono"
    for k in range(10):
        samples = np.zeros((1, 1024), np.float32)
        frame = av.AudioFrame.from_ndarray(samples, format="fltp", layout="mono")
        frame.sample_rate = 16000
        frame.pts = k * 1024
        for packet in stream.encode(frame):
            container.mux(packet)
    for packet in stream.encode():
        container.mux(packet)
    container.close()
    return str(path)


@pytest.fixture(scope="session")
def video_dir(tmp_path_factory):
    """Folder with one small video per container/codec in ``VIDEO_SPECS``,
    a rotated one (``rot90.mp4``, display rotation 90), and broken inputs:
    ``truncated.mp4``, ``corrupt.mp4``, ``empty.mp4``, ``text.mp4``,
    ``audio.m4a``."""
    root = tmp_path_factory.mktemp("videos")
    for name, (codec, pix, n, opts) in VIDEO_SPECS.items():
        write_video(root / name, codec, pix, n, opts)
    write_video(root / "rot90.mp4", num_frames=10, rotation=90)
    src = (root / "h264.mp4").read_bytes()
    (root / "truncated.mp4").write_bytes(src[: len(src) // 2])
    # intact container (ftyp, moov) but noise for the coded frames (mdat)
    corrupt = bytearray(src)
    start, end = src.find(b"mdat") + 4, src.find(b"moov") - 4
    assert 0 < start < end, "expected mdat before moov"
    rng = np.random.default_rng(0)
    corrupt[start:end] = rng.integers(0, 256, end - start, dtype=np.uint8).tobytes()
    (root / "corrupt.mp4").write_bytes(bytes(corrupt))
    (root / "empty.mp4").write_bytes(b"")
    (root / "text.mp4").write_text("this is not a video\n" * 20)
    write_audio_only(root / "audio.m4a")
    return root


@pytest.fixture(scope="session")
def class_video_root(video_dir, tmp_path_factory):
    """``root/<class>/<video>`` with 3 classes x 2 good videos + 1 bad."""
    root = tmp_path_factory.mktemp("classes")
    names = ["h264.mp4", "mpeg4.avi", "h264.mkv", "vp8.webm", "h264.mov", "anim.gif"]
    for c in range(3):
        d = root / f"class{c}"
        d.mkdir()
        for k in range(2):
            src = names[(2 * c + k) % len(names)]
            shutil.copy(video_dir / src, d / f"v{k}_{src}")
    shutil.copy(video_dir / "empty.mp4", root / "class1" / "zz_bad.mp4")
    return root


def require_real_videos():
    if not os.path.isdir(REAL_VIDEO_DIR):
        pytest.skip(
            f"real video fixtures not found at {REAL_VIDEO_DIR} "
            "(../shared/fixtures/videos beside the checkout)"
        )
    return REAL_VIDEO_DIR
