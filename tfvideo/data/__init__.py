"""tfvideo.data: decoding, annotation formats, sampling, augmentation and
``tf.data`` builders (plus TFRecords and a synthetic dataset)."""

from tfvideo.data import augment
from tfvideo.data.annotations import (
    READERS,
    SSV2_FLIP_PAIRS,
    SSV2_NUM_CLASSES,
    VideoDataset,
    flip_map_from_class_names,
    flip_map_from_pairs,
    kinetics_filename,
    normalize_ssv2_template,
    read_annotations,
    read_class_names,
    read_folder_per_class,
    read_hmdb51,
    read_kinetics_csv,
    read_path_label_list,
    read_ssv2,
    read_ucf101,
)
from tfvideo.data.augment import (
    center_crop,
    eval_transform,
    horizontal_flip,
    multi_crop,
    multi_scale_crop,
    random_crop,
    random_flip,
    random_resized_crop,
    random_short_side_resize,
    resize_short_side,
    three_crop,
    train_transform,
)
from tfvideo.data.decode import (
    VIDEO_EXTENSIONS,
    VideoInfo,
    count_frames,
    decode_video,
    video_info,
)
from tfvideo.data.errors import (
    AnnotationError,
    DecodeErrorReport,
    ErrorLog,
    VideoDecodeError,
)
from tfvideo.data.pipeline import (
    aggregate_views,
    as_keras_inputs,
    build_eval_dataset,
    build_train_dataset,
    distribute_eval_dataset,
    distribute_on_service,
    distribute_train_dataset,
    file_dataset,
    predict_multi_view,
)
from tfvideo.data.sampling import (
    AllFramesSampler,
    DenseSampler,
    Sampler,
    SegmentSampler,
    all_indices,
    dense_indices,
    get_sampler,
    segment_indices,
)

# ---------------------------------------------------------------------------
# data-synthetic helper's exports (synthetic.py, tfrecords.py). Imported
# lazily so this package imports even while those modules are in progress.
# Names listed here are resolved on first attribute access.
# >>> SYNTHETIC/TFRECORDS EXPORTS: add names to the lists below. <<<
_LAZY_MODULES = ("synthetic", "tfrecords")
_LAZY_NAMES = {
    # "name": "module",  e.g. "make_synthetic_dataset": "synthetic",
    "write_tfrecords": "tfrecords",
    "tfrecord_dataset": "tfrecords",
    "parse_sequence_example": "tfrecords",
    "make_sequence_example": "tfrecords",
}
# ---------------------------------------------------------------------------


def __getattr__(name):
    import importlib

    if name in _LAZY_MODULES:
        return importlib.import_module(f"tfvideo.data.{name}")
    if name in _LAZY_NAMES:
        module = importlib.import_module(f"tfvideo.data.{_LAZY_NAMES[name]}")
        return getattr(module, name)
    raise AttributeError(f"module 'tfvideo.data' has no attribute {name!r}")
