"""MLAgentBench's feedback split: shuffle (random_state=42), first 98% train, last 2% test."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import mab_common as C  # noqa: E402
import pandas as pd  # noqa: E402

DIMS = ["cohesion", "syntax", "vocabulary", "phraseology", "grammar", "conventions"]
raw, public, private = C.prepare_args()
src = C.kaggle_files(["feedback-prize-english-language-learning"], raw, ["train.csv"])
train = pd.read_csv(src / "train.csv").sample(frac=1, random_state=42).reset_index(drop=True)
cut = int(len(train) * 0.98)
train.iloc[:cut].to_csv(public / "train.csv", index=False)
test = train.iloc[cut:]
test.drop(columns=["full_text"]).to_csv(private / "answer.csv", index=False)
test.drop(columns=DIMS).to_csv(public / "test.csv", index=False)
