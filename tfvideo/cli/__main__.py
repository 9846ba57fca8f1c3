"""`python -m tfvideo.cli COMMAND ...` = `tfvideo COMMAND ...`."""

import sys

from tfvideo.cli import main

sys.exit(main())
