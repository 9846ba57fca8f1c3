"""Each measurement runs in a fresh Python process (so its peak memory and its framework's
threads and memory pools are its own) and prints its result as one JSON line after `RESULT `.

Example:
    >>> from benchmarks import harness
    >>> harness.run_for_result([sys.executable, "-c", "print('RESULT {\\"x\\": 1}')"], "demo")
    {'x': 1}
"""

import json
import os
import subprocess
import sys

# The checkout holding `benchmarks/` and `tfvideo/`: put on the path of every measuring process.
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_for_result(command, what, env=None) -> dict:
    """Runs `command` and returns the JSON its stdout prints after `RESULT `; raises
    RuntimeError naming `what`, with the end of stderr, when no such line comes."""
    result = subprocess.run(command, capture_output=True, text=True, env=env)
    for line in result.stdout.splitlines():
        if line.startswith("RESULT "):
            return json.loads(line[len("RESULT ") :])
    raise RuntimeError(f"{what} failed:\n{result.stderr[-3000:]}")


def call_in_subprocess(module, function, what, env=None, **kwargs) -> dict:
    """`benchmarks.<module>.<function>(**kwargs)` in a fresh Python process; returns its
    (JSON-serialisable) result."""
    code = (
        f"import json, sys; sys.path.insert(0, {ROOT!r}); "
        f"from benchmarks import {module} as m; "
        f"print('RESULT ' + json.dumps(m.{function}(**json.loads(sys.argv[1]))))"
    )
    return run_for_result([sys.executable, "-c", code, json.dumps(kwargs)], what, env=env)
