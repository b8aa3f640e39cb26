"""MLAgentBench's fathomnet split: shuffle (random_state=42), last 2% held out; osd seeded (42)."""

import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import mab_common as C  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

raw, public, private = C.prepare_args()
nested = raw / "multilabel_classification" / "train.csv"
src = raw if nested.is_file() else C.kaggle_files(["fathomnet-out-of-sample-detection"], raw, ["train.csv"])
table = nested if nested.is_file() else src / "train.csv"
images = raw / "images"
if not images.is_dir():
    C.needs_files(f"no images in {images}: run FathomNet's download_images.py object_detection/train.json --outpath {images}")
train = pd.read_csv(table).sample(frac=1, random_state=42).reset_index(drop=True)
cut = int(len(train) * 0.98)
train.iloc[:cut].to_csv(public / "train.csv", index=False)
test = train.iloc[cut:].copy()
test[["id"]].to_csv(public / "test.csv", index=False)
test["categories"] = [" ".join(str(int(float(c))) for c in s.strip("[]").split(",") if c.strip()) for s in test["categories"]]
test["osd"] = np.random.default_rng(42).integers(0, 2, len(test))
test[["id", "categories", "osd"]].to_csv(private / "answer.csv", index=False)
key = raw / "category_key.csv"
if key.is_file():
    shutil.copyfile(key, public / "category_key.csv")
(public / "images").mkdir()
for p in images.iterdir():
    if p.is_file():
        shutil.copyfile(p, public / "images" / p.name)
