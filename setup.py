"""tfvideo: efficient video recognition in TensorFlow / Keras 3."""

import pathlib
import shutil

from setuptools import find_packages, setup
from setuptools.command.build_py import build_py

HERE = pathlib.Path(__file__).resolve().parent
README = HERE / "README.md"
# The model the default job committed: shipped inside the package, so `tfvideo predict VIDEO`
# works from any directory after any install (tfvideo.export.predict.default_model_path).
DEMO_MODEL = HERE / "saved_models" / "tsm_tiny"
BUNDLED = ("tfvideo", "_bundled", "saved_models", "tsm_tiny")

EXTRAS = {
    # Run .tflite files (tf.lite.Interpreter is deprecated).
    "litert": ["ai-edge-litert>=2.0"],
    # Read official PyTorch checkpoints (conversion only; the models never need torch).
    "torch": ["torch>=2.9"],
    "jax": ["jax[cpu]>=0.4.30"],
    # `tfvideo export --format onnx` (Keras's exporter uses tf2onnx) and running .onnx files.
    "onnx": ["onnx>=1.17", "onnxruntime>=1.20", "tf2onnx>=1.16"],
}
# The tests also check conversion parity against torchvision's models and run the layer tests
# on the JAX and PyTorch backends.
EXTRAS["test"] = sorted(
    {"pytest>=8", "pytest-xdist>=3", "torchvision>=0.24"}
    | set(EXTRAS["litert"])
    | set(EXTRAS["jax"])
    | set(EXTRAS["torch"])
    | set(EXTRAS["onnx"])
    # tests/test_docs.py builds the documentation site (mkdocs.yml) with --strict.
    | {"mkdocs>=1.6", "mkdocs-material>=9.5", "mkdocstrings>=1.0", "mkdocstrings-python>=2.0"}
    # tests/test_lint.py runs ruff's linter and formatter (ruff.toml).
    | {"ruff>=0.15"}
    # tests/test_temporalize.py temporalizes keras-hub's ResNet and MobileNet backbones.
    | {"keras-hub>=0.32"}
)


class BuildWithDemoModel(build_py):
    """Copies the committed demo SavedModel into the built package (wheels, sdists' builds)."""

    def run(self):
        super().run()
        if DEMO_MODEL.is_dir():
            target = pathlib.Path(self.build_lib, *BUNDLED)
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(DEMO_MODEL, target)


setup(
    name="tfvideo",
    version="0.1.0",
    description="Efficient video recognition models (S3D-G, TEINet, bLVNet-TAM, TAdaConv) "
    "for TensorFlow and Keras 3",
    long_description=README.read_text() if README.exists() else "",
    long_description_content_type="text/markdown",
    python_requires=">=3.10",
    packages=find_packages(include=["tfvideo", "tfvideo.*"]),
    install_requires=[
        "tensorflow==2.21.*",
        "keras>=3.12,<3.16",  # training/strategy.py patches trainer internals of 3.12-3.15
        "numpy",
        "absl-py",
        "av",  # PyAV: FFmpeg bundled in its wheels (tensorflow-io does not load with TF 2.21)
        "tqdm",
        "matplotlib",
        "pillow",  # tfvideo.timeline / explain draw labels and heat maps with ImageDraw
        # TF Serving's request protos: the default job's export writes the warmup requests.
        "tensorflow-serving-api==2.21.*",
    ],
    extras_require=EXTRAS,
    cmdclass={"build_py": BuildWithDemoModel},
    entry_points={"console_scripts": ["tfvideo=tfvideo.cli:main"]},
)
