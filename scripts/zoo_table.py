"""Prints the model zoo's cost table (params, GMACs per clip) as markdown, for the README.

python scripts/zoo_table.py > zoo_table.md
"""

import sys

from tfvideo import models, profile

# (name, num_frames, input_size, num_classes): the papers' configurations.
ROWS = [
    ("s3d", 16, 224, 400),
    ("s3dg", 64, 224, 400),
    ("s3dg", 64, 224, 400, {"layout": "slim"}),
    ("i3d", 64, 224, 400),
    ("i2d", 64, 224, 400),
    ("s3d_top_heavy", 64, 224, 400),
    ("s3d_bottom_heavy", 64, 224, 400),
    ("fast_s3d", 64, 224, 400),
    ("tsn_r50", 8, 224, 400),
    ("tsm_r50", 8, 224, 400),
    ("teinet_r50", 8, 224, 400),
    ("teinet_r50", 16, 224, 400),
    ("tsn_r101", 8, 224, 400),
    ("tsm_r101", 8, 224, 400),
    ("teinet_r101", 8, 224, 400),
    ("blvnet_tam_r50", 16, 224, 174),
    ("blvnet_tam_r50", 32, 224, 174),
    ("blvnet_tam_r101", 16, 224, 174),
    ("blvnet_tam_r101", 48, 224, 174),
    ("tada2d_r50", 8, 256, 400),
    ("tada2d_r50", 16, 256, 400),
    ("tadaconvnext_t", 16, 256, 400),
    ("tadaconvnext_t", 32, 256, 400),
    ("tadaconvnextv2_t", 16, 256, 400),
    ("tadaconvnextv2_t", 32, 256, 400),
    ("tadaconvnextv2_s", 16, 256, 400),
    ("tadaconvnextv2_s", 32, 256, 400),
    ("tadaconvnextv2_b", 16, 256, 400),
    ("tadaconvnextv2_b", 32, 256, 400),
]


def main():
    print("| name | options | frames x size | classes | params | GMACs |")
    print("|---|---|---|---|---|---|")
    for name, frames, size, classes, *options in ROWS:
        options = options[0] if options else {}
        model = models.create(
            name, num_classes=classes, num_frames=frames, input_size=size, **options
        )
        described = ", ".join(f"{k}={v}" for k, v in options.items())
        print(
            f"| `{name}` | {described} | {frames} x {size} | {classes} | "
            f"{profile.count_params(model):,} | {profile.count_macs(model) / 1e9:.2f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
