"""The whole family protocol, defaults for it, and the capabilities of the layers above.

A family is an object with a ``kind`` and the methods of :class:`TaskFamily`:

* ``expand(path, raw)``: validate the YAML (strictly) and expand it into tasks;
* ``prepare(task, ...)``: make the data ready, MLE-bench style ``raw -> public / private``
  (idempotent, resumable; :func:`mlgym.tasks.data.build` does the bookkeeping);
* ``build_workspace(task, workspace)``: put the starter files into a fresh workspace;
* ``mounts(task, data)``: what the sandbox sees besides the workspace (read-only);
* ``describe(task)``: the task part of the first observation;
* ``evaluate(task, data, submission, ...)``: score a :class:`~mlgym.grading.base.Submission`
  in a fresh sandbox into an :class:`~mlgym.grading.base.EvalResult`.

:class:`FamilyBase` gives the usual ``mounts``/``describe``/``build_workspace``.  Families are
found by :mod:`mlgym.tasks.catalog`; optional capabilities are protocols there (row source,
folder format, oracle, run importer) and here (:class:`RunExporter`; :class:`BenchAdapter`,
a plugin in the entry-point group ``mlgym.bench_adapters``).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Callable, Protocol, Sequence, runtime_checkable

from mlgym.grading.base import EvalResult, Evaluates, Submission
from mlgym.runlog.trace import Trace
from mlgym.sandbox.base import Mount
from mlgym.tasks.catalog import families
from mlgym.tasks.spec import Family, TaskData, TaskSpec

__all__ = ["DATA_DIR", "BenchAdapter", "BenchContext", "EvalResult", "Evaluates", "FamilyBase", "GridRun",
           "RunExporter", "Submission", "TaskFamily", "data_mounts", "describe"]

DATA_DIR = "data"  # where every built-in family shows the public data


@runtime_checkable
class TaskFamily(Family, Evaluates, Protocol):
    """See the module docstring."""


def data_mounts(data: TaskData) -> list[Mount]:
    """The public data, read-only at ``data/`` (shared by the built-in families)."""
    return [Mount(data.public, DATA_DIR)]


def describe(task: TaskSpec) -> str:
    """Problem, data, submission and metric: the task part of the first observation."""
    subs = ", ".join(task.submission)
    return (
        f"Research Problem: {task.description}\n\n"
        f"The task data is in the read-only folder {DATA_DIR}/. Your submission is the file(s) {subs} "
        f"in the current directory; it is scored on {task.metric} "
        f"({task.direction} is better) when you give the Final Answer."
    )


class FamilyBase:
    """Defaults: the public data at ``data/``, the usual description, an empty workspace.
    A subclass sets ``kind`` and writes ``expand``, ``prepare`` and ``evaluate``."""

    kind: str = ""

    def build_workspace(self, task: TaskSpec, workspace: Path) -> None:
        return None

    def mounts(self, task: TaskSpec, data: TaskData) -> list[Mount]:
        return data_mounts(data)

    def describe(self, task: TaskSpec) -> str:
        return describe(task)


# ------------------------------------------------------------------ capabilities of mlgym bench
class GridRun(Protocol):
    """One run of a grid (:class:`mlgym.runs.bench.Run`), as an adapter sees it."""

    @property
    def task(self) -> str: ...

    @property
    def agent(self) -> str: ...

    @property
    def agent_args(self) -> tuple[str, ...]: ...

    @property
    def seed(self) -> int: ...

    @property
    def log_dir(self) -> Path: ...


@dataclasses.dataclass(frozen=True)
class BenchContext:
    """What ``mlgym bench`` tells adapters after a grid ran."""

    tag: str  # the grid's name
    mode: str  # "local" or "ray"
    env: dict[str, str]  # the grid's extra environment
    written: tuple[Path, ...] = ()  # results files earlier adapters wrote


@runtime_checkable
class BenchAdapter(Protocol):
    """A family's part in ``mlgym bench``: grid files in another project's format, a grid
    field that expands into tasks, Ray resources per run, and results files."""

    grid_key: str | None  # a grid field this family expands into tasks (None: none)
    grid_hint: str  # how to write it, for messages
    results_label: str  # "<label>: <path>" is printed for the results file
    results_name_fixed: bool  # the other project's tools read that exact name: written before the others, which pick a free one

    def claims(self, raw: dict[str, Any]) -> bool:
        """Is ``raw`` a config file in the family's own format?"""
        ...

    def from_config(self, path: Path, raw: dict[str, Any]) -> tuple[dict[str, Any], Path, dict[str, str]]:
        """That file as (grid mapping, default output folder, environment of the runs)."""
        ...

    def grid_tasks(self, path: Path, spec: Any) -> list[str]: ...

    def ray_resources(self, task: str) -> dict[str, float] | None:
        """What one run of ``task`` asks Ray for; None when the task is not this family's."""
        ...

    def write_results(self, runs: Sequence[GridRun], out: Path, ctx: BenchContext) -> Path | None:
        """The family's results file for the grid's runs; None when it has none of them."""
        ...


# ------------------------------------------------------------------ capability of the env
@runtime_checkable
class RunExporter(Protocol):
    def export_run(self, trace: Trace, task: TaskSpec) -> None:
        """Write another project's files from a finished episode's trace (every episode's)."""
        ...


def run_exporters() -> list[tuple[str, Callable[[Trace, TaskSpec], None]]]:
    """``(kind, export)`` of every family that exports runs (the env calls them at the end)."""
    return [(fam.kind, fam.export_run) for fam in families() if isinstance(fam, RunExporter)]
