"""Score submission.csv (id,0..9 class probabilities) against answers/test_labels.csv: accuracy of the argmax."""

import argparse
import json
import sys

import numpy as np
import pandas as pd


def fail(msg: str) -> None:
    print(msg, file=sys.stderr)
    sys.exit(1)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--answers", default="answers")
    ap.add_argument("--submission", default="submission.csv")
    a = ap.parse_args()
    truth = pd.read_csv(f"{a.answers}/test_labels.csv")
    try:
        sub = pd.read_csv(a.submission)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        fail(f"cannot read submission.csv: {str(e).splitlines()[0] if str(e) else e}")
    classes = [str(c) for c in range(10)]
    cols = [str(c).strip() for c in sub.columns]
    sub.columns = cols
    missing_cols = [c for c in ["id"] + classes if c not in cols]
    if missing_cols:
        fail(f"submission.csv needs columns id,0,1,...,9 (class probabilities); missing {','.join(missing_cols)}; found {','.join(cols[:12])}")
    ids = pd.to_numeric(sub["id"], errors="coerce")
    if ids.isna().any() or (ids != ids.round()).any():
        fail("submission.csv: the id column must hold integer test-image ids (0..N-1, the row in test_batch)")
    ids = ids.astype(np.int64)
    if ids.duplicated().any():
        fail(f"submission.csv: id {int(ids[ids.duplicated()].iloc[0])} appears more than once")
    want = set(truth["id"].astype(np.int64))
    missing = want - set(ids)
    if missing:
        fail(f"submission.csv lacks {len(missing)} of the {len(want)} test ids (e.g. {min(missing)}); expected one row per test image")
    extra = set(ids) - want
    if extra:
        fail(f"submission.csv has {len(extra)} ids that are not test ids (e.g. {min(extra)}); ids run 0..{len(want) - 1}")
    probs = sub[classes].apply(pd.to_numeric, errors="coerce").to_numpy(dtype=np.float64)
    if not np.isfinite(probs).all():
        bad = int(np.argwhere(~np.isfinite(probs))[0][0])
        fail(f"submission.csv: row for id {int(ids.iloc[bad])} has a missing, NaN or non-numeric probability")
    pred = dict(zip(ids.tolist(), probs.argmax(axis=1).tolist()))
    labels = truth.set_index("id")["label"]
    correct = sum(int(pred[int(i)] == int(y)) for i, y in labels.items())
    print(json.dumps({"score": correct / len(labels)}))


if __name__ == "__main__":
    main()
