"""tfvideo.data: decoding, annotation formats, sampling, augmentation and
``tf.data`` pipelines of named steps with two sources, videos (PyAV) and
TFRecords (plus a synthetic dataset)."""

from tfvideo.data import augment, datasets, synthetic, tfrecords
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
    fit_short_side,
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
from tfvideo.data.datasets import DataConfig, load_dataset, load_datasets
from tfvideo.data.decode import (
    VIDEO_EXTENSIONS,
    VideoInfo,
    count_frames,
    decode_video,
    iter_frames,
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
)
from tfvideo.data.sampling import (
    NAMES as SAMPLING_NAMES,
)
from tfvideo.data.sampling import (
    SAMPLERS,
    AllFramesSampler,
    DenseSampler,
    Sampler,
    SegmentSampler,
    all_indices,
    dense_indices,
    get_sampler,
    sampler_config,
    sampling_kind,
    segment_indices,
    tf_all_indices,
    tf_dense_indices,
    tf_segment_indices,
)
from tfvideo.data.tfrecords import (
    make_sequence_example,
    parse_sequence_example,
    tfrecord_dataset,
    write_tfrecords,
)
