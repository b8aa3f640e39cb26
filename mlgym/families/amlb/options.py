"""What an AMLB task is made of: a benchmark entry, a constraint, the task's options, the
metric names (shared by :mod:`mlgym.families.amlb.family` and :mod:`mlgym.families.amlb.data`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from mlgym.core.errors import TaskError
from mlgym.core.metrics import METRICS, canonical

__all__ = ["DEFAULT_METRICS", "Constraint", "Entry", "Options", "amlb_metric"]

# AMLB's metrics for a task type when a definition names none; all of them are always reported.
DEFAULT_METRICS = {"binary": ("auc", "logloss", "acc", "balacc"), "multiclass": ("logloss", "acc", "balacc"),
                   "regression": ("rmse", "r2", "mae")}


def amlb_metric(name: str) -> str:
    """The library metric (:mod:`mlgym.core.metrics`) for an AMLB, AutoGluon or scikit-learn metric name."""
    got = canonical(name)
    if got is None or METRICS[got].kind == "harness":
        raise TaskError(f"unknown metric {name!r}; known: {', '.join(m for m in METRICS if METRICS[m].kind != 'harness')}")
    return got


@dataclasses.dataclass(frozen=True)
class Constraint:
    name: str
    folds: int
    max_runtime_seconds: int
    cores: int
    max_mem_size_mb: int | None


@dataclasses.dataclass(frozen=True)
class Entry:
    """One dataset of a benchmark file, its ``__defaults__`` applied."""

    benchmark: str
    name: str
    source: Path  # the benchmark file
    openml_task_id: int | None
    train: tuple[str, ...]  # local dataset: one file, or one per fold
    test: tuple[str, ...]
    target: str | None
    metrics: tuple[str, ...]  # AMLB spellings as written, the first is optimised
    type: str | None
    description: str
    own: tuple[tuple[str, int], ...]  # folds / max_runtime_seconds / cores / max_mem_size_mb set by the file


@dataclasses.dataclass(frozen=True)
class Options:
    """What an AMLB task adds to its TaskSpec."""

    entry: Entry
    fold: int
    constraint: Constraint
    max_runtime_seconds: int
    cores: int
    memory_mb: int
