"""The family SDK: everything a task family outside mlgym may import (docs/family_sdk.md).

    from mlgym.sdk import FamilyBase, Fields, TaskSpec, common_fields, build, run_eval

A family is a class with a ``kind`` and the methods of :class:`TaskFamily` (``FamilyBase``
supplies ``mounts``, ``describe`` and ``build_workspace``).  Name it in a task YAML as
``kind: "package.module:Class"``, declare it as an entry point in the group
``mlgym.families``, or call :func:`register_family`.  Names not re-exported here are mlgym's
internals and may change.
"""

from __future__ import annotations

from mlgym.core.errors import DataError, MLGymError, TaskError
from mlgym.core.template import py_literal, render_starter
from mlgym.families.base import (
    DATA_DIR,
    BenchAdapter,
    BenchContext,
    FamilyBase,
    GridRun,
    RunExporter,
    TaskFamily,
    data_mounts,
    describe,
)
from mlgym.grading.base import EvalResult, Evaluates, Submission
from mlgym.grading.scoring import run_eval
from mlgym.sandbox.base import Limits, Mount
from mlgym.tasks.catalog import FolderFormat, Oracle, RowSource, RunImporter, register_family, register_plugin
from mlgym.tasks.data import Producer, build, run_prepare_script
from mlgym.tasks.spec import Baseline, Family, Fields, TaskData, TaskEnvironment, TaskLimits, TaskSpec, common_fields

__all__ = [
    "DATA_DIR", "Baseline", "BenchAdapter", "BenchContext", "DataError", "EvalResult", "Evaluates", "Family", "FamilyBase",
    "Fields", "FolderFormat", "GridRun", "Limits", "MLGymError", "Mount", "Oracle", "Producer", "RowSource", "RunExporter",
    "RunImporter", "Submission", "TaskData", "TaskEnvironment", "TaskError", "TaskFamily", "TaskLimits", "TaskSpec",
    "build", "common_fields", "data_mounts", "describe", "py_literal", "register_family", "register_plugin",
    "render_starter", "run_eval", "run_prepare_script",
]
