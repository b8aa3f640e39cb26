"""Accuracy on Transported over the held-out rows (MLAgentBench's spaceship-titanic get_score)."""

import mab_common as C
import pandas as pd

TRUTHY = {"true": True, "1": True, "1.0": True, "false": False, "0": False, "0.0": False}

truth = pd.read_csv(C.answers_dir() / "answer.csv")
sub = C.by_id(C.read_submission(dtype={"Transported": str}), truth, "PassengerId", ["Transported"])
pred = sub["Transported"].astype(str).str.strip().str.lower().map(TRUTHY)
if pred.isna().any():
    C.fail("Transported must be True or False in every row")
C.emit(float((pred.to_numpy(bool) == truth["Transported"].astype(bool).to_numpy()).mean()))
