"""Score submission.csv (Id,SalePrice) against answers/answers.csv: RMSE of log(SalePrice), Kaggle's metric."""

import argparse
import json
import sys

import numpy as np
import pandas as pd

ID, TARGET = "Id", "SalePrice"


def fail(msg: str) -> None:
    print(msg, file=sys.stderr)
    sys.exit(1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--answers", default="answers")
    ap.add_argument("--submission", default="submission.csv")
    a = ap.parse_args()
    truth = pd.read_csv(f"{a.answers}/answers.csv")
    try:
        sub = pd.read_csv(a.submission)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        fail(f"cannot read submission.csv: {str(e).splitlines()[0] if str(e) else e}")
    sub.columns = [str(c).strip() for c in sub.columns]
    if ID not in sub.columns or TARGET not in sub.columns:
        fail(f"submission.csv needs columns {ID},{TARGET}; found {','.join(sub.columns[:10])}")
    ids = pd.to_numeric(sub[ID], errors="coerce")
    if ids.isna().any():
        fail(f"submission.csv: {ID} must be the integer Id of each row of data/test.csv")
    sub[ID] = ids.astype(np.int64)
    if sub[ID].duplicated().any():
        fail(f"submission.csv: {ID} {int(sub[ID][sub[ID].duplicated()].iloc[0])} appears more than once")
    missing = set(truth[ID]) - set(sub[ID])
    if missing:
        fail(f"submission.csv lacks {len(missing)} of the {len(truth)} test Ids (e.g. {min(missing)}); predict every row of data/test.csv")
    pred = pd.to_numeric(sub.set_index(ID)[TARGET], errors="coerce").reindex(truth[ID]).to_numpy(dtype=np.float64)
    if not np.isfinite(pred).all():
        bad = int(truth[ID].to_numpy()[~np.isfinite(pred)][0])
        fail(f"submission.csv: {TARGET} for Id {bad} is missing, NaN or not a number")
    if (pred <= 0).any():
        bad = int(truth[ID].to_numpy()[pred <= 0][0])
        fail(f"submission.csv: {TARGET} for Id {bad} is not positive (the metric takes its log)")
    rmse = float(np.sqrt(np.mean((np.log(pred) - np.log(truth[TARGET].to_numpy(dtype=np.float64))) ** 2)))
    print(json.dumps({"score": rmse}))


if __name__ == "__main__":
    main()
