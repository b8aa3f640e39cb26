"""Contrails: train/ as Kaggle ships it; validation/ becomes test/ without the masks, which go to private/."""

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import mab_common as C  # noqa: E402

raw, public, private = C.prepare_args()
if not ((raw / "train").is_dir() and (raw / "validation").is_dir()):
    src = C.kaggle_files(["google-research-identify-contrails-reduce-global-warming"], raw, ["train", "validation"])
else:
    src = raw
shutil.copytree(src / "train", public / "train")
for rec in sorted((src / "validation").iterdir()):
    if not rec.is_dir():
        continue
    (public / "test" / rec.name).mkdir(parents=True)
    (private / "test_answer" / rec.name).mkdir(parents=True)
    for f in rec.iterdir():
        if f.name == "human_pixel_masks.npy":
            shutil.copyfile(f, private / "test_answer" / rec.name / f.name)
        elif f.name != "human_individual_masks.npy":
            shutil.copyfile(f, public / "test" / rec.name / f.name)
