"""Same as `tfvideo predict`: see tfvideo/export/predict_main.py for the flags."""

from absl import app

from tfvideo.export.predict_main import main

if __name__ == "__main__":
    app.run(main)
