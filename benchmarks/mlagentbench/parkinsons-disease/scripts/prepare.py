"""MLAgentBench's amp-parkinsons split: 2 patients (random.seed(42)) held out; answers per visit x target x horizon."""

import random
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import mab_common as C  # noqa: E402
import pandas as pd  # noqa: E402

FILES = ["train_clinical_data.csv", "train_peptides.csv", "train_proteins.csv", "supplemental_clinical_data.csv"]
raw, public, private = C.prepare_args()
src = C.kaggle_files(["amp-parkinsons-disease-progression-prediction"], raw, FILES)
tables = {f: pd.read_csv(src / f) for f in FILES}
clinical = tables["train_clinical_data.csv"]
random.seed(42)
test_ids = random.sample(clinical["patient_id"].unique().tolist(), 2)
for f, df in tables.items():
    df[~df["patient_id"].isin(test_ids)].to_csv(public / f, index=False)
ex = public / "example_test_files"
ex.mkdir()
for f, out in (("train_proteins.csv", "test_proteins.csv"), ("train_peptides.csv", "test_peptides.csv")):
    tables[f][tables[f]["patient_id"].isin(test_ids)].to_csv(ex / out, index=False)
test = clinical[clinical["patient_id"].isin(test_ids)]
rows, answers = [], []
by_visit = test.set_index("visit_id")
for _, r in test.iterrows():
    for i in range(1, 5):
        rows.append({"visit_id": r.visit_id, "patient_id": r.patient_id, "visit_month": r.visit_month,
                     "row_id": f"{r.patient_id}_{int(r.visit_month)}_updrs_{i}", "updrs_test": f"updrs_{i}"})
for wait in (0, 6, 12, 24):
    for row in rows:
        if row["visit_month"] + wait > 108:
            continue
        later = f"{row['patient_id']}_{int(row['visit_month']) + wait}"
        rating = by_visit[row["updrs_test"]].get(later) if later in by_visit.index else None
        if rating is None or pd.isna(rating):
            continue
        answers.append({"prediction_id": f"{row['row_id']}_plus_{wait}_months", "rating": float(rating), "visit_month": row["visit_month"]})
pd.DataFrame(rows).to_csv(ex / "test.csv", index=False)
ans = pd.DataFrame(answers, columns=["prediction_id", "rating", "visit_month"])
ans.to_csv(private / "answer.csv", index=False)
ans.assign(rating=0).to_csv(ex / "sample_submission.csv", index=False)
