"""The metric library: named metrics with their direction, built on scikit-learn where it has them.

This file is **self-contained** (numpy, pandas and scikit-learn only, no ``mlgym`` import):
it is copied, with :mod:`mlgym.grading.grader`, into the eval sandbox, which never sees the
mlgym package.  ``METRICS[name]`` is a :class:`Metric`; ``kind`` says what a prediction
column holds, and so how the grader checks it:

* ``label``: a class label compared with the true label (accuracy, F1, kappa, ...);
* ``proba``: a probability of the positive class (AUC, log loss);
* ``number``: a real number (RMSE, MAE, R2, ...);
* ``ranking``: space-separated labels, best first (MAP@k);
* ``rle``: a run-length encoded mask "start length start length ..." (Dice).
* ``probas``: one probability column per class, the truth as column indices (multiclass log loss).
* ``harness``: computed by a task's own eval script or the harness (e.g. run time); the
  generic grader does not take them.

Each function takes ``(truth, pred)`` as numpy arrays, 2-D (rows x target columns) for
metrics over several columns (MCRMSE), 1-D otherwise.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np

__all__ = ["ALIASES", "METRICS", "Metric", "canonical", "direction_of"]


@dataclasses.dataclass(frozen=True)
class Metric:
    name: str
    direction: str  # "higher" or "lower"
    kind: str  # label / proba / number / ranking / rle
    fn: Callable[[Any, Any], float]
    about: str
    multi: bool = False  # scores several target columns at once


def _sk() -> Any:
    import sklearn.metrics  # imported on use: listing metrics must stay cheap

    return sklearn.metrics


def _rmse(t: Any, p: Any) -> float:
    return float(np.sqrt(np.mean((np.asarray(p, float) - np.asarray(t, float)) ** 2)))


def _rmse_log(t: Any, p: Any) -> float:
    return _rmse(np.log(np.asarray(t, float)), np.log(np.asarray(p, float)))


def _rmsle(t: Any, p: Any) -> float:
    return _rmse(np.log1p(np.asarray(t, float)), np.log1p(np.asarray(p, float)))


def _smape(t: Any, p: Any) -> float:
    t, p = np.asarray(t, float), np.asarray(p, float)
    den = np.abs(t) + np.abs(p)
    frac = np.divide(2 * np.abs(p - t), den, out=np.zeros_like(den), where=den != 0)
    return float(100 * np.mean(frac))


def _mcrmse(t: Any, p: Any) -> float:
    t, p = np.asarray(t, float), np.asarray(p, float)
    return float(np.mean(np.sqrt(np.mean((p - t) ** 2, axis=0))))


def _map_at(k: int) -> Callable[[Any, Any], float]:
    def score(t: Any, p: Any) -> float:
        total = 0.0
        for truth, pred in zip(t, p):
            wanted = set(str(truth).split())
            hits, ap = 0, 0.0
            for i, label in enumerate(str(pred).split()[:k]):
                if label in wanted and label not in str(pred).split()[:i]:
                    hits += 1
                    ap += hits / (i + 1)
            total += ap / min(len(wanted), k) if wanted else 0.0
        return total / len(t) if len(t) else 0.0

    return score


def rle_pixels(text: str) -> set[int]:
    """Kaggle's run-length encoding "start length ..." (1-based starts) as a set of pixel indices."""
    nums = [int(x) for x in str(text).split()]
    if len(nums) % 2:
        raise ValueError("a run-length mask needs start/length pairs")
    out: set[int] = set()
    for start, length in zip(nums[0::2], nums[1::2]):
        if start < 1 or length < 0:
            raise ValueError("run-length starts are 1-based and lengths not negative")
        out.update(range(start, start + length))
    return out


def _dice(t: Any, p: Any) -> float:
    scores = []
    for truth, pred in zip(t, p):
        a, b = rle_pixels(truth), rle_pixels(pred)
        scores.append(1.0 if not a and not b else 2 * len(a & b) / (len(a) + len(b)))
    return float(np.mean(scores)) if scores else 0.0


def _class_log_loss(t: Any, p: Any) -> float:
    """``t``: each row's true class as a column index of ``p`` (rows x classes, rows summing to 1)."""
    p = np.clip(np.asarray(p, float), 1e-15, 1)
    return float(_sk().log_loss(np.asarray(t, int), p / p.sum(axis=1, keepdims=True), labels=list(range(p.shape[1]))))


def _metric(name: str, direction: str, kind: str, fn: Callable[[Any, Any], float], about: str, multi: bool = False) -> Metric:
    return Metric(name, direction, kind, fn, about, multi)


METRICS: dict[str, Metric] = {m.name: m for m in [
    _metric("accuracy", "higher", "label", lambda t, p: float(_sk().accuracy_score(t, p)), "share of exact labels"),
    _metric("balanced_accuracy", "higher", "label", lambda t, p: float(_sk().balanced_accuracy_score(t, p)), "mean recall over classes"),
    _metric("f1", "higher", "label",
            lambda t, p: float(_sk().f1_score(t, p, average="binary" if len(set(t)) <= 2 and set(t) <= {0, 1, True, False, "0", "1"} else "macro")),
            "F1 (binary for 0/1 labels, else macro)"),
    _metric("f1_macro", "higher", "label", lambda t, p: float(_sk().f1_score(t, p, average="macro")), "F1 averaged over classes"),
    _metric("quadratic_weighted_kappa", "higher", "label", lambda t, p: float(_sk().cohen_kappa_score(t, p, weights="quadratic")),
            "Cohen's kappa with quadratic weights"),
    _metric("auc", "higher", "proba", lambda t, p: float(_sk().roc_auc_score(t, p)), "area under the ROC curve"),
    _metric("log_loss", "lower", "proba", lambda t, p: float(_sk().log_loss(t, np.clip(np.asarray(p, float), 1e-15, 1 - 1e-15), labels=[0, 1])),
            "binary cross-entropy"),
    _metric("log_loss_multiclass", "lower", "probas", _class_log_loss, "cross-entropy over class probabilities (truth as column indices)"),
    _metric("rmse", "lower", "number", _rmse, "root mean squared error"),
    _metric("mse", "lower", "number", lambda t, p: _rmse(t, p) ** 2, "mean squared error"),
    _metric("rmse_log", "lower", "number", _rmse_log, "RMSE between the logarithms (predictions must be positive)"),
    _metric("rmsle", "lower", "number", _rmsle, "RMSE between log(1 + x)"),
    _metric("mae", "lower", "number", lambda t, p: float(_sk().mean_absolute_error(t, p)), "mean absolute error"),
    _metric("r2", "higher", "number", lambda t, p: float(_sk().r2_score(t, p)), "coefficient of determination"),
    _metric("smape", "lower", "number", _smape, "symmetric mean absolute percentage error (0-200)"),
    _metric("mcrmse", "lower", "number", _mcrmse, "mean over target columns of the column's RMSE", multi=True),
    _metric("map@3", "higher", "ranking", _map_at(3), "mean average precision of the first 3 labels"),
    _metric("map@5", "higher", "ranking", _map_at(5), "mean average precision of the first 5 labels"),
    _metric("dice", "higher", "rle", _dice, "mean Dice coefficient of run-length encoded masks"),
    # scored by a task's own hidden eval script (kind "harness": the generic grader never picks them)
    _metric("seconds", "lower", "harness", lambda t, p: float(np.mean(p)), "run time measured by the harness"),
    _metric("tokens_per_second", "higher", "harness", lambda t, p: float(np.mean(p)), "generation speed measured by the harness"),
    _metric("perplexity", "lower", "harness", lambda t, p: float(np.exp(np.mean(p))), "exp of the mean negative log-likelihood per token"),
    _metric("smape_plus1", "lower", "harness", lambda t, p: _smape(np.asarray(t, float) + 1, np.asarray(p, float) + 1),
            "SMAPE of y + 1 (MLAgentBench's amp-parkinsons)"),
    _metric("pass", "higher", "harness", lambda t, p: float(np.mean(p)), "1 when a run passes the task's own checks, else 0 (ML-Bench)"),
    _metric("map@20_osd_auc", "higher", "harness", lambda t, p: float(np.mean(p)), "mean of MAP@20 and 2 AUC - 1 of the out-of-sample flag (FathomNet 2023)"),
]}


# Other spellings of the same metrics: AMLB's, AutoGluon's and scikit-learn's (scorer and function names).
ALIASES: dict[str, str] = {
    "acc": "accuracy", "accuracy_score": "accuracy",
    "balacc": "balanced_accuracy", "balanced_accuracy_score": "balanced_accuracy",
    "f1_score": "f1", "f1_binary": "f1",
    "roc_auc": "auc", "roc_auc_score": "auc",
    "logloss": "log_loss", "neg_log_loss": "log_loss", "log_loss_binary": "log_loss",
    "root_mean_squared_error": "rmse", "neg_root_mean_squared_error": "rmse", "neg_rmse": "rmse",
    "mean_squared_error": "mse", "neg_mean_squared_error": "mse", "neg_mse": "mse",
    "mean_absolute_error": "mae", "neg_mean_absolute_error": "mae", "neg_mae": "mae",
    "root_mean_squared_log_error": "rmsle", "neg_root_mean_squared_log_error": "rmsle",
    "r2_score": "r2", "quadratic_kappa": "quadratic_weighted_kappa",
}


def canonical(name: str) -> str | None:
    """The library's name for ``name`` in any known spelling (case-insensitive); None if unknown."""
    if name in METRICS:
        return name
    low = name.strip().lower()
    return low if low in METRICS else ALIASES.get(low)


def direction_of(name: str) -> str:
    return METRICS[name].direction
