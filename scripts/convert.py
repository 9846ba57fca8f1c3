"""Official PyTorch checkpoint -> Keras weights (same flags as `tfvideo convert`)."""

import sys

from tfvideo.cli import main

if __name__ == "__main__":
    sys.exit(main(["tfvideo", "convert"] + sys.argv[1:]))
