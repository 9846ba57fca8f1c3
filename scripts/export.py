"""Same as `tfvideo export`: see tfvideo/export/export_main.py for the flags."""

from absl import app

from tfvideo.export.export_main import main

if __name__ == "__main__":
    app.run(main)
