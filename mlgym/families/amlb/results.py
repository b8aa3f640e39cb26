"""AMLB results files read as rows beside mlgym's runs (``mlgym eval RUNS --amlb-results FILE.csv``).

The layouts read (facts from openml/automlbenchmark@dfe8d21 and autogluon/autogluon-bench@33fdb8e):

* AMLB >= 2.0 (``amlb/results.py`` ``compute_score``; also what ``mlgym bench`` writes): id, task, type,
  constraint, framework, version, params, fold, mode, seed, app_version, utc, metric, duration,
  training_duration, predict_duration, models_count, result, one column per metric of the task
  (auc, logloss, acc, balacc / rmse, r2, mae ...), info.  ``result`` is the first metric, negated
  for lower-is-better ones, and then ``metric`` reads ``neg_<name>``;
* AMLB 2019 (``reports/old/input/results_*.csv``): id, task, framework, fold, result, mode, version,
  params, tag, utc, duration, models, seed, info, acc, auc, logloss: no ``metric`` column, the
  metric is the one whose column equals ``result`` (``tag`` is the constraint's place);
* AutoGluon-Bench's aggregated files (``results_automlbenchmark_<constraint>_<version>.csv``, its
  ``eval/aggregate/results.py``): the AMLB rows of every run concatenated, so the first layout;
  its multimodal runs' results.csv (id, task, framework, constraint, version, fold, type, metric,
  result, utc, training_duration, predict_duration, ...) with AutoGluon's metric names (roc_auc, acc).

Metric names are AMLB's spelling (``roc_auc`` -> ``auc``, ``log_loss`` -> ``logloss``, ...), the
spelling mlgym's AMLB tasks report too, so a file's row and an agent's run of
``amlb/<benchmark>/<task>/<fold>`` meet on (task, fold, metric).
"""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import Any

from mlgym.core.errors import MLGymError

__all__ = ["LOSSES", "READER", "metric_name", "read", "run_key"]

# AutoGluon's / scikit-learn's spellings -> AMLB's
SPELLING = {"roc_auc": "auc", "log_loss": "logloss", "accuracy": "acc", "balanced_accuracy": "balacc",
            "root_mean_squared_error": "rmse", "mean_absolute_error": "mae", "mean_squared_error": "mse"}
LOSSES = {"logloss", "rmse", "mse", "mae", "rmsle", "msle", "mape", "smape", "mase", "wape", "mql", "wql", "sql",
          "max_pce", "mean_pce"}
SCORES = {"auc", "acc", "balacc", "r2", "f1", "f1_macro", "f1_micro", "f1_weighted", "map", "pr_auc", "auc_ovo", "auc_ovr",
          "coverage", "quadratic_kappa"}
NEEDED = ("task", "framework", "result")


def metric_name(name: str) -> str:
    low = name.strip().lower()
    return SPELLING.get(low, low)


def _num(v: Any) -> float | None:
    if v is None or str(v).strip() in ("", "nan", "NaN", "None", "null"):
        return None
    try:
        x = float(v)
    except ValueError:
        return None
    return None if math.isnan(x) else x


def read(path: Path) -> list[dict[str, Any]]:
    """The rows of an AMLB / AutoGluon-Bench results file (one-line MLGymError for anything else)."""
    path = Path(path)
    try:
        fh = open(path, newline="", encoding="utf-8")
    except OSError as e:
        raise MLGymError(f"{path}: cannot read the results file ({e.strerror})") from None
    with fh:
        rd = csv.DictReader(fh)
        cols = [c.strip() for c in rd.fieldnames or []]
        need = [c for c in NEEDED if c not in cols]
        if need:
            raise MLGymError(f"{path}: not an AMLB results file: no {need[0]!r} column (it has: {', '.join(cols[:12]) or 'nothing'})")
        metric_cols = {c: metric_name(c) for c in cols if metric_name(c) in SCORES | LOSSES}
        out: list[dict[str, Any]] = []
        for i, r in enumerate(rd, start=2):
            fold_s = (r.get("fold") or "0").strip()
            try:
                fold = int(float(fold_s))
            except ValueError:
                raise MLGymError(f"{path}:{i}: fold {fold_s!r} is not a number") from None
            res = _num(r.get("result"))
            metrics = {m: v for c, m in metric_cols.items() if (v := _num(r.get(c))) is not None}
            given = (r.get("metric") or "").strip()
            if given:
                neg = given.startswith("neg_")
                name = metric_name(given[4:] if neg else given)
                score = None if res is None else (-res if neg else res)
            else:  # AMLB 2019: the metric column that equals result (logloss unnegated there)
                name = next((k for k, v in metrics.items() if res is not None and abs(v - res) < 1e-9), "")
                if not name and res is not None:
                    name = next((k for k, v in metrics.items() if abs(v + res) < 1e-9), "")
                    res = None if not name else -res
                score = res
                name = name or ("auc" if "auc" in metrics else next(iter(metrics), "result"))
            if score is not None:
                metrics.setdefault(name, score)
            metrics = {name: metrics[name], **metrics} if name in metrics else metrics  # the optimised one first
            out.append({
                "task": (r.get("task") or "").strip(), "fold": fold, "framework": (r.get("framework") or "").strip(),
                "metric": name, "score": score, "direction": "lower" if name in LOSSES else "higher",
                "metrics": metrics, "constraint": (r.get("constraint") or r.get("tag") or "").strip(),
                "type": (r.get("type") or "").strip(), "info": (r.get("info") or "").strip(), "source": f"{path}:{i}",
            })
    if not out:
        raise MLGymError(f"{path}: an AMLB results file without rows")
    return out


def run_key(task: str) -> tuple[str, int, str] | None:
    """``amlb/<benchmark>/<task>/<fold>[@<constraint>]`` -> (task, fold, constraint)."""
    if not task.startswith("amlb/"):
        return None
    head, _, constraint = task.partition("@")
    parts = head.split("/")
    if len(parts) != 4 or not parts[3].isdigit():
        return None
    return parts[2], int(parts[3]), constraint


class _Reader:
    """AMLB's results files in ``mlgym eval`` (:class:`mlgym.tasks.catalog.ResultsReader`)."""

    results_format = "amlb"
    results_label = "AMLB"

    def read_results(self, path: Path) -> list[dict[str, Any]]:
        return read(path)

    def run_key(self, task: str) -> tuple[str, int, str] | None:
        return run_key(task)


READER = _Reader()
