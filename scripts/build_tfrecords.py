"""Annotated videos -> sharded SequenceExample TFRecords (see `tfvideo.cli.build_tfrecords`);
same flags as `tfvideo build_tfrecords`."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from tfvideo.cli import main  # noqa: E402

if __name__ == "__main__":
    sys.exit(main(["tfvideo", "build_tfrecords"] + sys.argv[1:]))
