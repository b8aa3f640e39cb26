"""MLAgentBench's house-price split: train = the first 80% of train.csv's rows, test = the rest (no shuffle)."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import mab_common as C  # noqa: E402
import pandas as pd  # noqa: E402

raw, public, private = C.prepare_args()
src = C.kaggle_files(["home-data-for-ml-course", "house-prices-advanced-regression-techniques"], raw, ["train.csv"])
train = pd.read_csv(src / "train.csv").reset_index(drop=True)
cut = int(len(train) * 0.8)
train.iloc[:cut].to_csv(public / "train.csv", index=False)
test = train.iloc[cut:]
test.drop(columns=["SalePrice"]).to_csv(public / "test.csv", index=False)
test[["Id", "SalePrice"]].to_csv(private / "answer.csv", index=False)
if (src / "data_description.txt").is_file():
    (public / "data_description.txt").write_bytes((src / "data_description.txt").read_bytes())
print(f"house-price: {cut} train rows, {len(test)} test rows", file=sys.stderr)
