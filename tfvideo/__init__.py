"""tfvideo: efficient video recognition models (S3D/S3D-G, TEINet, bLVNet-TAM, TAdaConv) in Keras 3.

Importing it registers every layer, model family, optimizer and learning-rate schedule with
Keras (on every backend, without importing TensorFlow: the optimizers and schedules live in
`tfvideo.optim`, not in `tfvideo.training`), so a saved `.keras` model loads after a plain
`import tfvideo`, a training run's compiled `model.keras` included.
"""

__version__ = "0.1.0"

from tfvideo import layers, models, optim, profile  # noqa: E402,F401
from tfvideo.models import temporalize  # noqa: E402,F401
