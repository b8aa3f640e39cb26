"""Grade an AMLB prediction file: ``python amlb_grader.py --answers answers`` -> last line ``{"score", "metrics"}``.

Self-contained (numpy, pandas, scikit-learn and the ``metrics.py`` copied beside it; no
``mlgym`` import): the eval sandbox holds this file, metrics.py, the submission
``predictions.csv`` and the answers (``test_labels.csv``, ``amlb.json``).  The submission is
AMLB's prediction format: one row per test row, in order; a ``predictions`` column; for
classification one probability column per class label.  Every metric of the task (AMLB
spellings) is computed, the first is the score.  A bad submission exits 1 with one line.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metrics import METRICS, canonical  # type: ignore[import-not-found,unused-ignore]  # the copy beside this file

SUBMISSION = "predictions.csv"


def fail(msg: str) -> None:
    print(msg, file=sys.stderr)
    raise SystemExit(1)


def metric_value(name: str, info: dict[str, Any], truth: pd.Series, sub: pd.DataFrame) -> float:
    lib = canonical(name)
    if lib is None:
        fail(f"unknown metric {name!r}")
    assert lib is not None
    kind, classes = info["type"], info["classes"]
    if kind == "regression":
        return float(METRICS[lib].fn(truth.to_numpy(float), sub["predictions"].to_numpy(float)))
    if METRICS[lib].kind == "label":
        return float(METRICS[lib].fn(truth.astype(str).to_numpy(), sub["predictions"].astype(str).to_numpy()))
    probs = sub[classes].to_numpy(float)
    if lib == "auc":
        pos = classes.index(info["positive_class"])
        return float(METRICS["auc"].fn((truth.astype(str) == info["positive_class"]).to_numpy(int), probs[:, pos]))
    if lib == "log_loss":
        index = {c: i for i, c in enumerate(classes)}
        return float(METRICS["log_loss_multiclass"].fn(truth.astype(str).map(index).to_numpy(int), probs))
    fail(f"metric {name!r} does not apply to {kind} predictions")
    return math.nan


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--answers", type=Path, required=True)
    p.add_argument("--submission", type=Path, default=Path(SUBMISSION))
    a = p.parse_args()
    info = json.loads((a.answers / "amlb.json").read_text())
    truth = pd.read_csv(a.answers / "test_labels.csv", dtype=str if info["classes"] else None)[info["target"]]
    try:
        sub = pd.read_csv(a.submission, dtype=str)
    except (ValueError, UnicodeDecodeError) as e:
        fail(f"{SUBMISSION} is not a readable CSV: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
    sub.columns = [str(c) for c in sub.columns]
    if "predictions" not in sub.columns:
        fail(f"{SUBMISSION} needs a column 'predictions' (AMLB's format); it has: {', '.join(sub.columns)[:300]}")
    if len(sub) != len(truth):
        fail(f"{SUBMISSION} has {len(sub)} rows; data/test.csv has {len(truth)} (one prediction per test row, same order)")
    classes = info["classes"]
    if info["type"] == "regression":
        values = pd.to_numeric(sub["predictions"], errors="coerce")
        if values.isna().any() or not np.isfinite(values.to_numpy(float)).all():
            fail(f"{SUBMISSION}: 'predictions' must be finite numbers (row {int(values.isna().to_numpy().argmax()) + 2} is not)")
        sub["predictions"] = values
    else:
        if sub["predictions"].isna().any():
            fail(f"{SUBMISSION}: 'predictions' has empty values")
        unknown = sorted(set(sub["predictions"]) - set(classes))
        if unknown:
            fail(f"{SUBMISSION}: 'predictions' holds {unknown[0]!r}, not a class label; labels: {', '.join(classes)[:300]}")
        missing = [c for c in classes if c not in sub.columns]
        needs = [m for m in info["metrics"] if METRICS[canonical(m) or "accuracy"].kind != "label"]
        if missing and needs:
            fail(f"{SUBMISSION}: no probability column for class {missing[0]!r} ({', '.join(needs)} need one column per class: "
                 f"{', '.join(classes)[:300]})")
        if not missing:
            probs = sub[classes].apply(pd.to_numeric, errors="coerce")
            bad = probs.isna().any(axis=1) | ((probs < 0) | (probs > 1)).any(axis=1)
            if bad.any():
                fail(f"{SUBMISSION}: row {int(bad.to_numpy().argmax()) + 2}: class probabilities must be numbers in [0, 1]")
            sub[classes] = probs
    out = {m: metric_value(m, info, truth, sub) for m in info["metrics"]}
    score = out[info["metrics"][0]]
    print(json.dumps({"score": score, "metrics": {k: v for k, v in out.items() if math.isfinite(v)}}))


if __name__ == "__main__":
    main()
