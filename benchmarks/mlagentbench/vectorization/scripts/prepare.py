"""vectorization needs no data."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import mab_common as C  # noqa: E402

raw, public, private = C.prepare_args()
(public / "README.txt").write_text("vectorization has no data: the submission is train.py.\n")
