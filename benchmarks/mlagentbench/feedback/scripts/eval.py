"""MCRMSE over the six analytic scores (MLAgentBench's feedback get_score)."""

import mab_common as C
import pandas as pd

DIMS = ["cohesion", "syntax", "vocabulary", "phraseology", "grammar", "conventions"]
truth = pd.read_csv(C.answers_dir() / "answer.csv")
sub = C.by_id(C.read_submission(), truth, "text_id", DIMS)
C.emit(C.mcrmse(truth[DIMS].to_numpy(float), C.numbers(sub.to_numpy(), "the six score columns")))
