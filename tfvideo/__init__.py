"""tfvideo: efficient video recognition models (S3D/S3D-G, TEINet, bLVNet-TAM, TAdaConv) in Keras 3.

Importing it registers every layer and model family with Keras, so a saved `.keras` model loads
after a plain `import tfvideo`. A training run's `model.keras` also holds its compiled
optimizer and learning-rate schedule: load it with `compile=False`, or `import tfvideo.training`
first (which imports TensorFlow, so a plain `import tfvideo` does not).
"""

__version__ = "0.1.0"

from tfvideo import layers, models, profile  # noqa: E402,F401
from tfvideo.models import temporalize  # noqa: E402,F401
