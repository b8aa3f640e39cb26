"""Starter: per UPDRS part and horizon, a linear fit of the rating on the visit month; writes submission.csv."""

import numpy as np
import pandas as pd
from sklearn.linear_model import LinearRegression

clinical = pd.concat([pd.read_csv("data/train_clinical_data.csv"), pd.read_csv("data/supplemental_clinical_data.csv")])
models = {}
for i in range(1, 5):
    t = f"updrs_{i}"
    for wait in (0, 6, 12, 24):
        later = clinical[["patient_id", "visit_month", t]].copy()
        later["visit_month"] -= wait
        pairs = clinical[["patient_id", "visit_month"]].merge(later, on=["patient_id", "visit_month"]).dropna()
        models[(t, wait)] = LinearRegression().fit(pairs[["visit_month"]], pairs[t]) if len(pairs) else None

test = pd.read_csv("data/example_test_files/test.csv")
out = []
for _, r in test.iterrows():
    for wait in (0, 6, 12, 24):
        m = models[(r.updrs_test, wait)]
        pred = float(m.predict(pd.DataFrame({"visit_month": [r.visit_month]}))[0]) if m is not None else 0.0
        out.append({"prediction_id": f"{r.row_id}_plus_{wait}_months", "rating": max(0.0, pred)})
pd.DataFrame(out).to_csv("submission.csv", index=False)
print(f"wrote {len(out)} predictions")
