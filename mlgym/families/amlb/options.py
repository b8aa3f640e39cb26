"""What an AMLB task is made of: a benchmark entry (:class:`mlgym.families.amlb.config.Task`), a
fold, a constraint, and the metrics (shared by :mod:`mlgym.families.amlb.family` and
:mod:`mlgym.families.amlb.data`)."""

from __future__ import annotations

import dataclasses

from mlgym.core.errors import TaskError
from mlgym.core.metrics import METRICS, canonical
from mlgym.families.amlb.config import Task

__all__ = ["DEFAULT_METRICS", "Options", "amlb_metric"]

# AMLB's config.yaml benchmarks.metrics (the shipped copy is read; these are the same, for messages and tests).
DEFAULT_METRICS = {"binary": ("auc", "logloss", "acc", "balacc"), "multiclass": ("logloss", "acc", "balacc"),
                   "regression": ("rmse", "r2", "mae")}


def amlb_metric(name: str) -> str:
    """The library metric (:mod:`mlgym.core.metrics`) for an AMLB, AutoGluon or scikit-learn metric name."""
    got = canonical(name)
    if got is None or METRICS[got].kind == "harness":
        raise TaskError(f"unknown metric {name!r}; known: {', '.join(m for m in METRICS if METRICS[m].kind != 'harness')}")
    return got


@dataclasses.dataclass(frozen=True)
class Options:
    """What an AMLB task adds to its TaskSpec."""

    entry: Task  # the benchmark entry, AMLB's precedence applied (task > __defaults__ > constraint > config.yaml)
    fold: int
    constraint: str  # its name
    max_runtime_seconds: int
    cores: int  # AMLB's -1 (all cores) is 0 here: no cpuset
    memory_mb: int
    dirs: tuple[tuple[str, str], ...]  # AMLB's {root}, {user}, {input} for dataset paths
    type: str | None  # binary / multiclass / regression when known before the data (given, cached, peeked)
    metrics: tuple[str, ...]  # AMLB spellings, the first is optimised; empty while the type is unknown
    not_local: tuple[str, ...] = ()  # constraint / task keys that only apply on AWS (ec2_*)
    type_metrics: tuple[tuple[str, tuple[str, ...]], ...] = ()  # config.yaml benchmarks.metrics: type -> metrics
