"""tfvideo: efficient video recognition models (S3D/S3D-G, TEINet, bLVNet-TAM, TAdaConv) in Keras 3.

Importing it registers every layer and model family with Keras, so a saved `.keras` model loads
after a plain `import tfvideo`, on every backend; so does a training run's compiled `model.keras`,
whose optimizer and learning-rate schedule live in `tfvideo.optim` (TensorFlow-free, unlike
`tfvideo.training`, which a plain `import tfvideo` does not import).
"""

__version__ = "0.1.0"

from tfvideo import layers, models, optim, profile  # noqa: E402,F401
from tfvideo.models import temporalize  # noqa: E402,F401
