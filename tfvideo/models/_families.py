"""Imports every model family module so that its configurations register."""

from tfvideo.models import blvnet, resnet, s3d, tada2d, tadaconvnext  # noqa: F401
