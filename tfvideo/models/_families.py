"""Imports every model family module so that its configurations register."""

import importlib

FAMILY_MODULES = ("s3d", "resnet", "tada2d", "blvnet", "tadaconvnext")

for _module in FAMILY_MODULES:
    try:
        importlib.import_module(f"tfvideo.models.{_module}")
    except ModuleNotFoundError as error:  # a family that is not written yet
        if error.name != f"tfvideo.models.{_module}":
            raise
