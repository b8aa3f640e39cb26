"""Accuracy of argmax over the 2 probability columns of submission.csv (index idx)."""

import mab_common as C
import pandas as pd

truth = pd.read_csv(C.answers_dir() / "answer.csv")
sub = C.read_submission()
if "idx" not in sub.columns or sub.shape[1] != 3:
    C.fail(f"submission.csv needs columns idx,0,1; found {list(sub.columns)[:6]}")
probs = C.by_id(sub, truth, "idx", [c for c in sub.columns if c != "idx"])
C.emit(float((C.numbers(probs.to_numpy(), "probabilities").argmax(axis=1) == truth["label"].to_numpy()).mean()))
