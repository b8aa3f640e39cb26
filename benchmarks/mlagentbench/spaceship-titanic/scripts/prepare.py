"""MLAgentBench's spaceship-titanic split: the first 80% of train.csv's rows train, the rest test (no shuffle)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import mab_common as C  # noqa: E402
import pandas as pd  # noqa: E402

raw, public, private = C.prepare_args()
src = C.kaggle_files(["spaceship-titanic"], raw, ["train.csv"])
train = pd.read_csv(src / "train.csv").reset_index(drop=True)
cut = int(len(train) * 0.8)
train.iloc[:cut].to_csv(public / "train.csv", index=False)
test = train.iloc[cut:]
test.drop(columns=["Transported"]).to_csv(public / "test.csv", index=False)
test[["PassengerId", "Transported"]].to_csv(private / "answer.csv", index=False)
print(f"spaceship-titanic: {cut} train rows, {len(test)} test rows", file=sys.stderr)
