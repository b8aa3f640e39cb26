"""vectorization needs no data; the hidden answers hold the timed batch's shape.

The shape is MLAgentBench's (32, 64, 64, 3) unless ``raw/input_shape.json`` says otherwise
(only the offline fixture writes one, a smaller batch, so CI times a short forward pass).
"""

import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import mab_common as C  # noqa: E402

raw, public, private = C.prepare_args()
shape = [32, 64, 64, 3]
if (raw / "input_shape.json").is_file():
    shape = [int(v) for v in json.loads((raw / "input_shape.json").read_text())]
    if len(shape) != 4 or shape[3] != 3 or min(shape) < 1:
        sys.exit(f"{raw / 'input_shape.json'}: want [batch, height, width, 3], got {shape}")
(public / "README.txt").write_text("vectorization has no data: the submission is train.py.\n")
(private / "input_shape.json").write_text(json.dumps(shape) + "\n")
