"""IMDb from Hugging Face datasets ("imdb"), or raw/imdb/{train,test}.csv as Dataset.to_csv writes them."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import mab_common as C  # noqa: E402
import pandas as pd  # noqa: E402

raw, public, private = C.prepare_args()
d = raw / "imdb"
if not (d / "train.csv").is_file():
    try:
        from datasets import load_dataset
    except ImportError:
        C.needs_files(f"pip install datasets (to download imdb), or put train.csv and test.csv (text,label) in {d}")
    try:
        ds = load_dataset("imdb")
    except Exception as e:  # noqa: BLE001
        C.needs_files(f"cannot download imdb ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); put train.csv and test.csv in {d}")
    d.mkdir(parents=True, exist_ok=True)
    for split in ("train", "test"):
        ds[split].to_csv(str(d / f"{split}.csv"), index=False)
train, test = pd.read_csv(d / "train.csv"), pd.read_csv(d / "test.csv")
train[["text", "label"]].to_csv(public / "train.csv", index=False)
test = test.reset_index(drop=True).rename_axis("idx").reset_index()
test[["idx", "text"]].to_csv(public / "test.csv", index=False)
test[["idx", "label"]].to_csv(private / "answer.csv", index=False)
