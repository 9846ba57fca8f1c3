"""Child process of `test_streaming.py::test_stepping_matches_per_frame_logits_on_jax`: steps
each named causal model through a clip on the backend of KERAS_BACKEND and prints
`{name: max |step - per-frame| / max |per-frame logit|}` as JSON on its last line."""

import json
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import keras  # noqa: E402
import numpy as np  # noqa: E402
from test_streaming import build, step_through  # noqa: E402


def main(names):
    errors = {}
    for name in names:
        model, clips = build(name)
        per_frame = keras.ops.convert_to_numpy(model.per_frame_logits(clips))
        steps = step_through(model, clips)
        errors[name] = float(np.abs(steps - per_frame).max() / np.abs(per_frame).max())
        print(keras.backend.backend(), name, errors[name], flush=True)
    print(json.dumps(errors))


if __name__ == "__main__":
    main(sys.argv[1:])
