"""SMAPE of y+1 over the held-out patients' ratings (MLAgentBench's amp-parkinsons get_score)."""

import mab_common as C
import pandas as pd

truth = pd.read_csv(C.answers_dir() / "answer.csv")
sub = C.by_id(C.read_submission(), truth, "prediction_id", ["rating"])
C.emit(C.smapep1(truth["rating"].to_numpy(float), C.numbers(sub["rating"].to_numpy(), "rating")))
