"""Task families: one protocol for every kind of task.

A family turns a task YAML into :class:`~mlgym.tasks.spec.TaskSpec` objects and owns everything
format-specific about them, so that :mod:`mlgym.env.core` and :mod:`mlgym.grading.scoring` hold none:

* ``expand(path, raw)``: validate the YAML (strictly) and expand it into tasks;
* ``prepare(task, ...)``: make the data ready, MLE-bench style ``raw -> public / private``
  (idempotent, resumable; :func:`mlgym.tasks.data.build` does the bookkeeping);
* ``build_workspace(task, workspace)``: put the starter files into a fresh workspace;
* ``mounts(task, data)``: what the sandbox sees besides the workspace (read-only);
* ``describe(task)``: the task part of the first observation;
* ``evaluate(task, data, submission_dir, ...)``: score in a fresh sandbox into an
  :class:`EvalResult`.

Resources (cores, memory, network, time, workspace size) are the task's ``limits``.
A YAML names its family with ``kind:`` - a built-in name or a lazy ``"module:Class"``
entry point, so a family can live in the user's own package.
"""

from __future__ import annotations

import dataclasses
import importlib
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Protocol, runtime_checkable

from mlgym.core.errors import TaskError

__all__ = ["BUILTIN", "ROW_FAMILIES", "EvalResult", "TaskFamily", "family", "row_task", "row_task_names"]

BUILTIN = {
    "folder": "mlgym.families.folder.family:FolderFamily",
    "kaggle": "mlgym.families.kaggle.family:KaggleFamily",
    "mlagentbench": "mlgym.families.mlagentbench.family:MLAgentBenchFamily",
    "multimodal": "mlgym.families.multimodal.family:MultimodalFamily",
    "mlbench": "mlgym.families.mlbench.family:MLBenchFamily",
    "amlb": "mlgym.families.amlb.family:AMLBFamily",
}


# Families whose tasks are rows of a dataset, not YAML entries: ``<kind>-<row id>`` names one
# (``gym.make("mlgym/<kind>-v0", task=...)`` too); the module's ``row_task(name)`` gives its
# TaskSpec (or raises TaskError) and ``task_names()`` lists them.
ROW_FAMILIES = {"mlbench": "mlgym.families.mlbench.family", "amlb": "mlgym.families.amlb.family"}


def row_task(name: str) -> Any:
    """The TaskSpec of a row family's task ``name``, or None when ``name`` is not such a task."""
    for kind, module in ROW_FAMILIES.items():
        if name == kind or name.startswith((kind + "-", kind + "/")):
            return importlib.import_module(module).row_task(name)
    return None


def row_task_names(kind: str) -> list[str]:
    """Every task of row family ``kind`` (loads its rows)."""
    return list(importlib.import_module(ROW_FAMILIES[kind]).task_names())


@dataclasses.dataclass
class EvalResult:
    """What evaluating a submission gives, whatever the family."""

    score: float | None = None  # the primary metric; None when the submission is invalid
    valid: bool = False
    error: str | None = None  # one line saying what is wrong with the submission
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)  # other metrics
    eval_seconds: float | None = None
    leaderboard: dict[str, Any] | None = None  # rank and medal, when the task has a leaderboard

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"score": self.score, "valid_submission": self.valid, "error": self.error, "metrics": self.metrics}
        if self.eval_seconds is not None:
            out["eval_seconds"] = self.eval_seconds
        if self.leaderboard is not None:
            out["leaderboard"] = self.leaderboard
        return out


@runtime_checkable
class TaskFamily(Protocol):
    """See the module docstring.  ``TaskSpec``/``TaskData`` are typed ``Any`` to avoid import cycles."""

    kind: str

    def expand(self, path: Path, raw: dict[str, Any]) -> list[Any]: ...

    def prepare(self, task: Any, *, root: Path | None = None, force: bool = False, verify: bool = False,
                progress: Callable[[str], None] | None = None) -> Any: ...

    def build_workspace(self, task: Any, workspace: Path) -> None: ...

    def mounts(self, task: Any, data: Any) -> list[Any]: ...

    def describe(self, task: Any) -> str: ...

    def evaluate(self, task: Any, data: Any, submission_dir: Path, *, sandbox: str = "local", python: str = "python",
                 sandbox_options: dict[str, Any] | None = None) -> EvalResult: ...


@lru_cache(maxsize=None)
def family(kind: str) -> TaskFamily:
    """The family named ``kind``: a built-in name or ``"package.module:Class"``."""
    target = BUILTIN.get(kind, kind)
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise TaskError(f"unknown family {kind!r}; built in: {', '.join(BUILTIN)}, or give 'package.module:Class'")
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise TaskError(f"cannot load family {kind!r}: {e}") from None
    inst = obj() if isinstance(obj, type) else obj
    if not isinstance(inst, TaskFamily):
        raise TaskError(f"family {kind!r} ({target}) lacks the TaskFamily methods")
    if getattr(inst, "kind", None) != kind and kind in BUILTIN:
        raise TaskError(f"family {target} says its kind is {getattr(inst, 'kind', None)!r}, not {kind!r}")
    return inst
