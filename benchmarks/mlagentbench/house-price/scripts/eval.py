"""MAE of SalePrice over the held-out rows (MLAgentBench's house-price get_score)."""

import mab_common as C
import numpy as np
import pandas as pd

truth = pd.read_csv(C.answers_dir() / "answer.csv")
sub = C.by_id(C.read_submission(), truth, "Id", ["SalePrice"])
pred = C.numbers(sub["SalePrice"].to_numpy(), "SalePrice")
err = np.abs(pred - truth["SalePrice"].to_numpy(float))
C.emit(float(err.mean()), rmse=float(np.sqrt((err ** 2).mean())))
