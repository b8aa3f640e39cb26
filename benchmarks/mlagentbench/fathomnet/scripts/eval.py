"""FathomNet's metric: (2 AUC(osd) - 1 + MAP@20) / 2, rows matched by id."""

import mab_common as C
import numpy as np
import pandas as pd
from sklearn.metrics import roc_auc_score

truth = pd.read_csv(C.answers_dir() / "answer.csv", dtype={"id": str, "categories": str}, keep_default_na=False)
sub = C.by_id(C.read_submission(dtype={"id": str, "categories": str}, keep_default_na=False), truth, "id", ["categories", "osd"])
osd = C.numbers(sub["osd"].to_numpy(), "osd")
labels = truth["osd"].to_numpy(int)
auc = roc_auc_score(labels, osd) if len(set(labels)) > 1 else 0.5
mapk = float(np.mean([C.apk(t.split(), str(p).split(), 20) for t, p in zip(truth["categories"], sub["categories"])]))
C.emit((2 * auc - 1 + mapk) / 2, map_at_20=mapk, osd_auc=auc)
