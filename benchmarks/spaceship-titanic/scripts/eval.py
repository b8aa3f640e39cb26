"""Score submission.csv (PassengerId,Transported) against answers/answers.csv: accuracy."""

import argparse
import json
import sys

import pandas as pd

ID, TARGET = "PassengerId", "Transported"
TRUTHY = {"true": True, "1": True, "1.0": True, "false": False, "0": False, "0.0": False}


def fail(msg: str) -> None:
    print(msg, file=sys.stderr)
    sys.exit(1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--answers", default="answers")
    ap.add_argument("--submission", default="submission.csv")
    a = ap.parse_args()
    truth = pd.read_csv(f"{a.answers}/answers.csv", dtype=str)
    try:
        sub = pd.read_csv(a.submission, dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        fail(f"cannot read submission.csv: {str(e).splitlines()[0] if str(e) else e}")
    sub.columns = [str(c).strip() for c in sub.columns]
    if ID not in sub.columns or TARGET not in sub.columns:
        fail(f"submission.csv needs columns {ID},{TARGET}; found {','.join(sub.columns[:10])}")
    sub[ID] = sub[ID].str.strip()
    if sub[ID].duplicated().any():
        fail(f"submission.csv: {ID} {sub[ID][sub[ID].duplicated()].iloc[0]} appears more than once")
    missing = set(truth[ID]) - set(sub[ID])
    if missing:
        fail(f"submission.csv lacks {len(missing)} of the {len(truth)} test passengers (e.g. {min(missing)}); predict every row of data/test.csv")
    values = sub[TARGET].str.strip().str.lower().map(TRUTHY)
    if values.isna().any():
        bad = sub[values.isna()].iloc[0]
        fail(f"submission.csv: {TARGET} for {bad[ID]} is {bad[TARGET]!r}; use True or False")
    pred = dict(zip(sub[ID], values))
    want = truth[TARGET].str.strip().str.lower().map(TRUTHY)
    correct = sum(pred[i] == t for i, t in zip(truth[ID], want))
    print(json.dumps({"score": correct / len(truth)}))


if __name__ == "__main__":
    main()
