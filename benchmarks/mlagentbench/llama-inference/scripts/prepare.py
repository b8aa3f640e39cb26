"""A small causal LM with seeded random weights and the prompts; a copy for the eval sandbox."""

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import mab_common as C  # noqa: E402
import torch  # noqa: E402

PROMPTS = ["Once upon a time", "The quick brown fox", "It was a bright cold day", "Call me Ishmael"]
raw, public, private = C.prepare_args()
torch.manual_seed(0)
model = C.byte_lm(128, 2)
torch.save({"dim": 128, "layers": 2, "state_dict": model.state_dict()}, public / "model.pt")
(public / "prompts.txt").write_text("\n".join(PROMPTS) + "\n")
for f in ("model.pt", "prompts.txt"):
    shutil.copyfile(public / f, private / f)
