"""tfvideo: efficient video recognition in TensorFlow / Keras 3."""

import pathlib

from setuptools import find_packages, setup

README = pathlib.Path(__file__).with_name("README.md")

EXTRAS = {
    # Run .tflite files (tf.lite.Interpreter is deprecated).
    "litert": ["ai-edge-litert>=2.0"],
    # TF Serving request protos: warmup requests and client examples.
    "serving": ["tensorflow-serving-api==2.21.*"],
    # Read official PyTorch checkpoints (conversion only; the models never need torch).
    "torch": ["torch>=2.9"],
    "jax": ["jax[cpu]>=0.4.30"],
}
# The tests also check conversion parity against torchvision's models and run the layer tests
# on the JAX and PyTorch backends.
EXTRAS["test"] = sorted(
    {"pytest>=8", "pytest-xdist>=3", "torchvision>=0.24"} | set(EXTRAS["litert"])
    | set(EXTRAS["serving"]) | set(EXTRAS["jax"]) | set(EXTRAS["torch"]))

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
        "keras>=3.12",
        "numpy",
        "absl-py",
        "av",  # PyAV: FFmpeg bundled in its wheels (tensorflow-io does not load with TF 2.21)
        "tqdm",
        "matplotlib",
    ],
    extras_require=EXTRAS,
    entry_points={"console_scripts": ["tfvideo=tfvideo.cli:main"]},
)
