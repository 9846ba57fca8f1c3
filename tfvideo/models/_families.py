"""Imports every model family module so that its configurations register."""

from tfvideo.models import (  # noqa: F401
    blvnet,
    resnet,
    s3d,
    tada2d,
    tadaconvnext,
    tadaconvnextv2,
)
