"""The one dataset dispatcher (`tfvideo.data.datasets`) and the dataset flags every command
shares."""

import dataclasses
import json
import os

import pytest

from tfvideo.data import AnnotationError, datasets, synthetic
from tfvideo.data.datasets import DataConfig, load_dataset, load_datasets


def _touch(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "wb").close()
    return path


def test_every_command_reads_datasets_with_the_same_flags():
    from tfvideo.cli import build_tfrecords, evaluate, train

    names = {f.name for f in dataclasses.fields(DataConfig)}
    for command in (train, evaluate, build_tfrecords):
        assert names <= set(command.FLAGS.values), command.__name__
    for old in ("format", "annotations", "extension", "split_number", "subset", "limit", "prefix"):
        assert old not in build_tfrecords.FLAGS.values, old
    assert build_tfrecords.FLAGS.values["split"].value == 1  # the official split number


def test_list_and_folder_formats_and_options(tmp_path):
    listing = tmp_path / "train.txt"
    listing.write_text("a.mp4 cat\nsub/b.mp4 dog\n")
    names = tmp_path / "names.txt"
    names.write_text("dog\ncat\n")
    ds = load_dataset("list", train_annotations=str(listing), video_root="/v", labels=str(names))
    assert ds.samples == [("/v/a.mp4", 1), ("/v/sub/b.mp4", 0)]
    assert ds.class_names == ["dog", "cat"]
    flips = tmp_path / "flips.json"
    flips.write_text(json.dumps([1, 0]))
    flipped = load_dataset(
        DataConfig("list", str(listing), labels=str(names), label_flip_map=str(flips))
    )
    assert flipped.label_flip_map == {0: 1, 1: 0}

    for subset in ("train", "val"):
        for cls in ("x", "y"):
            _touch(str(tmp_path / subset / cls / f"{cls}1.mp4"))
    config = DataConfig("folder", str(tmp_path / "train"), str(tmp_path / "val"))
    train, val = load_datasets(config)
    assert train.class_names == val.class_names == ["x", "y"]
    assert [os.path.basename(p) for p in val.paths] == ["x1.mp4", "y1.mp4"]
    assert load_datasets(config, need_train=False)[0] is None
    assert load_datasets(config, need_val=False)[1] is None


def test_missing_options_name_the_flag(tmp_path):
    with pytest.raises(ValueError, match="--dataset=ssv2 needs --train_annotations"):
        load_dataset("ssv2")
    with pytest.raises(ValueError, match="needs --labels"):
        load_dataset("ssv2", train_annotations="t.json")
    with pytest.raises(ValueError, match="needs --val_annotations"):
        load_dataset("kinetics", "validation", video_root=str(tmp_path))
    with pytest.raises(ValueError, match="`dataset` must be one of"):
        load_dataset("imagenet")
    with pytest.raises(AnnotationError, match="not found"):
        load_dataset("list", train_annotations=str(tmp_path / "nope.txt"))


def test_kinetics_split_column_and_ucf_validation_fallback(tmp_path):
    csv = tmp_path / "k.csv"
    csv.write_text(
        "label,youtube_id,time_start,time_end,split\n"
        "abseiling,aaa,0,10,train\nbowling,bbb,5,15,val\n"
    )
    both = load_dataset("kinetics", train_annotations=str(csv), video_root=str(tmp_path))
    assert len(both) == 2
    kept = load_dataset(
        "kinetics", train_annotations=str(csv), video_root=str(tmp_path), kinetics_split="val"
    )
    assert [os.path.basename(p) for p in kept.paths] == ["bbb_000005_000015.mp4"]

    split_dir = tmp_path / "ucf"
    split_dir.mkdir()
    (split_dir / "classInd.txt").write_text("1 Jump\n2 Run\n")
    (split_dir / "trainlist01.txt").write_text("Jump/v_1.avi 1\nRun/v_2.avi 2\n")
    (split_dir / "testlist01.txt").write_text("Run/v_3.avi\n")
    config = DataConfig("ucf101", str(split_dir), video_root="/ucf")
    assert config.has("validation") and config.annotations("validation") == str(split_dir)
    train, val = load_datasets(config)
    assert (len(train), val.samples) == (2, [("/ucf/Run/v_3.avi", 1)])


def test_synthetic_and_its_ssv2_files_give_the_same_flip_map(tmp_path):
    config = DataConfig(
        data_root=str(tmp_path / "syn"),
        synthetic_classes=4,
        synthetic_train_per_class=1,
        synthetic_val_per_class=1,
        synthetic_frames=4,
        synthetic_size=16,
    )
    train, val = load_datasets(config)
    assert len(train) == len(val) == 4 and train.label_flip_map == {0: 1, 1: 0}
    root = str(tmp_path / "syn")
    as_ssv2 = load_dataset(
        "ssv2",
        labels=os.path.join(root, synthetic.LABELS_FILE),
        train_annotations=os.path.join(root, synthetic.SPLIT_FILES["train"]),
        video_root=os.path.join(root, "videos"),
        video_extension=".mp4",
    )
    assert as_ssv2.samples == train.samples
    assert as_ssv2.label_flip_map == train.label_flip_map  # label_flip_map.json beside --labels
    assert datasets.SSV2_FLIP_MAP_FILE == synthetic.FLIP_MAP_FILE
