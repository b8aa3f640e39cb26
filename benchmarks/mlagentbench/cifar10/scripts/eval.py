"""Accuracy of argmax over submission.csv's probability columns; row i is test image i (index column first)."""

import mab_common as C
import numpy as np
import pandas as pd

truth = pd.read_csv(C.answers_dir() / "test_labels.csv")
sub = C.read_submission(index_col=0)
if sub.shape[1] != 10:
    C.fail(f"submission.csv needs an index column and 10 probability columns, found {sub.shape[1]} columns after the index")
missing = set(truth["id"]) - set(sub.index)
if missing:
    C.fail(f"submission.csv lacks {len(missing)} of the {len(truth)} test images, e.g. row {min(missing)}")
probs = C.numbers(sub.loc[truth["id"].to_numpy()].to_numpy(), "probabilities")
C.emit(float((probs.argmax(axis=1) == truth["label"].to_numpy()).mean()))
