"""The one generic grader: check a submission table against the answers and score it.

Self-contained like :mod:`mlgym.core.metrics` (which it loads from its own folder): the
evaluation copies both files into the eval sandbox, beside ``grader.json`` and the
read-only ``answers/``, and runs ::

    python grader.py --config grader.json --answers answers

``grader.json``: ``submission`` (file name), ``answers`` (file in answers/), ``id`` (column),
``targets`` (columns), ``metric``, ``also`` (more metric names reported beside it).
The last stdout line is ``{"score": s, "metrics": {name: value}}``; an invalid submission
exits 1 with one line on stderr saying what to fix, as the hand-written eval scripts did.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
from typing import Any, NoReturn

import numpy as np
import pandas as pd

if __package__:
    from mlgym.core import metrics as M
else:  # a plain file in the eval sandbox: metrics.py sits beside it
    _spec = importlib.util.spec_from_file_location("metrics", os.path.join(os.path.dirname(os.path.abspath(__file__)), "metrics.py"))
    assert _spec is not None and _spec.loader is not None
    M = importlib.util.module_from_spec(_spec)
    sys.modules["metrics"] = M
    _spec.loader.exec_module(M)

TRUTHY = {"true": True, "1": True, "1.0": True, "false": False, "0": False, "0.0": False}


class Invalid(Exception):
    """The submission cannot be scored; the message tells the agent what to fix."""


def _fail(msg: str) -> NoReturn:
    raise Invalid(msg)


def _is_int_like(values: pd.Series) -> bool:
    return bool(len(values)) and bool(values.str.fullmatch(r"-?\d+").all())


def _ids(sub: pd.Series, truth: pd.Series, sub_name: str, id_col: str) -> pd.Series:
    """Submission ids as the answers write them ("1.0" counts as 1 where the true ids are integers)."""
    ids = sub.str.strip()
    if _is_int_like(truth):
        num = pd.to_numeric(ids, errors="coerce")
        if num.isna().any() or (num % 1 != 0).any():
            _fail(f"{sub_name}: {id_col} must be the integer {id_col} of each row of data/test.csv")
        ids = num.astype(np.int64).astype(str)
    return ids


def _column(kind: str, metric: str, pred: pd.Series, truth: pd.Series, ids: pd.Series, sub_name: str, target: str) -> tuple[Any, Any]:
    """(true values, predicted values) ready for the metric, or :class:`Invalid` naming the first bad row."""
    raw = pred.str.strip()

    def bad(mask: Any, what: str) -> None:
        if mask.any():
            _fail(f"{sub_name}: {target} for {ids[mask].iloc[0]} {what}")

    if kind in ("number", "proba"):
        num = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=np.float64)
        bad(~np.isfinite(num), "is missing, NaN or not a number")
        if kind == "proba":
            bad((num < 0) | (num > 1), "must be a probability between 0 and 1")
            t = truth.str.strip().str.lower().map(TRUTHY)
            return (t.astype(int).to_numpy() if not t.isna().any() else pd.to_numeric(truth).to_numpy()), num
        if metric == "rmse_log":
            bad(num <= 0, "is not positive (the metric takes its log)")
        return pd.to_numeric(truth).to_numpy(dtype=np.float64), num
    if kind == "label":
        want = truth.str.strip()
        if want.str.lower().isin(TRUTHY).all():  # True/False labels: accept true/1/0 spellings too
            got = raw.str.lower().map(TRUTHY)
            if got.isna().any():
                i = int(np.flatnonzero(got.isna().to_numpy())[0])
                _fail(f"{sub_name}: {target} for {ids.iloc[i]} is {pred.iloc[i]!r}; use True or False")
            return want.str.lower().map(TRUTHY).to_numpy(dtype=bool), got.to_numpy(dtype=bool)
        bad(raw == "", "is missing")
        if _is_int_like(want):
            num = pd.to_numeric(raw, errors="coerce")
            bad(num.isna() | (num % 1 != 0), "is not one of the integer labels")
            return want.astype(np.int64).to_numpy(), num.astype(np.int64).to_numpy()
        return want.to_numpy(), raw.to_numpy()
    if kind == "rle":
        for i, text in enumerate(raw):
            try:
                M.rle_pixels(text)
            except ValueError as e:
                _fail(f"{sub_name}: {target} for {ids.iloc[i]} is not a valid mask ({e})")
    return truth.to_numpy(), raw.to_numpy()


def grade(config: dict[str, Any], answers_dir: str, submission_path: str | None = None) -> dict[str, Any]:
    sub_name = str(config.get("submission", "submission.csv"))
    id_col, targets = str(config["id"]), [str(t) for t in config["targets"]]
    metric = M.METRICS[config["metric"]]
    truth = pd.read_csv(os.path.join(answers_dir, str(config.get("answers", "answers.csv"))), dtype=str, keep_default_na=False)
    truth[id_col] = truth[id_col].str.strip()
    try:
        sub = pd.read_csv(submission_path or sub_name, dtype=str, keep_default_na=False)
    except (OSError, UnicodeDecodeError, ValueError) as e:
        _fail(f"cannot read {sub_name}: {str(e).splitlines()[0] if str(e) else type(e).__name__}")
    sub.columns = [str(c).strip() for c in sub.columns]
    need = [id_col, *targets]
    if any(c not in sub.columns for c in need):
        _fail(f"{sub_name} needs columns {','.join(need)}; found {','.join(sub.columns[:10])}")
    sub[id_col] = _ids(sub[id_col].astype(str), truth[id_col], sub_name, id_col)
    dup = sub[id_col].duplicated()
    if dup.any():
        _fail(f"{sub_name}: {id_col} {sub[id_col][dup].iloc[0]} appears more than once")
    missing = set(truth[id_col]) - set(sub[id_col])
    if missing:
        _fail(f"{sub_name} lacks {len(missing)} of the {len(truth)} test rows (e.g. {id_col} {min(missing)}); predict every row of data/test.csv")
    extra = set(sub[id_col]) - set(truth[id_col])
    if extra:
        _fail(f"{sub_name} has {len(extra)} rows that are not test ids (e.g. {id_col} {min(extra)})")
    sub = sub.set_index(id_col).reindex(truth[id_col]).reset_index()
    pairs = [_column(metric.kind, metric.name, sub[t].astype(str), truth[t].astype(str), truth[id_col], sub_name, t) for t in targets]

    def compute(m: Any) -> float:
        if m.multi:
            return float(m.fn(np.column_stack([p[0] for p in pairs]), np.column_stack([p[1] for p in pairs])))
        return float(np.mean([m.fn(t, p) for t, p in pairs]))

    score = compute(metric)
    if not math.isfinite(score):
        _fail(f"{sub_name}: the {metric.name} of these predictions is not a finite number")
    others = {}
    for name in config.get("also", []):
        other = M.METRICS.get(name)
        if other is not None and other.kind == metric.kind:
            try:
                others[name] = compute(other)
            except (ValueError, ZeroDivisionError):
                continue
    return {"score": score, "metrics": {metric.name: score, **others}}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--config", default="grader.json")
    ap.add_argument("--answers", default="answers")
    ap.add_argument("--submission", default=None)
    a = ap.parse_args(argv)
    with open(a.config) as f:
        config = json.load(f)
    try:
        result = grade(config, a.answers, a.submission)
    except Invalid as e:
        print(str(e).replace("\n", " "), file=sys.stderr)
        return 1
    except Exception as e:  # noqa: BLE001 - anything else in an agent's file is still its mistake, not a traceback
        print(f"cannot score {config.get('submission', 'submission.csv')}: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}", file=sys.stderr)
        return 1
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
