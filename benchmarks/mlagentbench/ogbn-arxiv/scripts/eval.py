"""OGB Evaluator accuracy: the submission's single column against the test nodes' labels, in test order."""

import mab_common as C
import pandas as pd

truth = pd.read_csv(C.answers_dir() / "answer.csv")
sub = C.read_submission()
if sub.shape != (len(truth), 1):
    C.fail(f"submission.csv needs 1 column and {len(truth)} rows (one per test node), found shape {sub.shape}")
pred = C.numbers(sub.to_numpy(), "predicted class").ravel()
C.emit(float((pred == truth["label"].to_numpy()).mean()))
