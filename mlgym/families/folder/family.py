"""The default family: one folder is one task (``task.yaml``, ``env/`` seen, ``scripts/`` hidden).

* data: ``scripts/prepare.py --raw --public --private`` (see :mod:`mlgym.tasks.data`);
* workspace: a copy of ``env/``; the public data mounted read-only at ``data/``;
* evaluation: ``scripts/eval.py --answers answers`` in a fresh sandbox, printing
  ``{"score": ...}`` as its last line (see :mod:`mlgym.grading.scoring`).
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path
from typing import Any, Callable

from mlgym.tasks.data import TaskData, build, run_prepare_script
from mlgym.core.errors import TaskError
from mlgym.families.registry import EvalResult
from mlgym.sandbox import Mount
from mlgym.tasks.spec import TaskSpec, common_fields

DATA_DIR = "data"  # where every built-in family shows the public data


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


class FolderFamily:
    kind = "folder"

    def expand(self, path: Path, raw: dict[str, Any]) -> list[TaskSpec]:
        if path.name != "task.yaml":
            raise TaskError(f"{path}: kind: a folder task is a folder with a task.yaml, not a single file")
        spec = TaskSpec(root=path.parent.resolve(), kind=self.kind, **common_fields(path, raw, name=path.parent.name))
        for needed in (spec.env_dir, spec.eval_script):
            if not needed.exists():
                raise TaskError(f"{path}: missing {needed.relative_to(spec.root)}")
        return [spec]

    def prepare(self, task: TaskSpec, *, root: Path | None = None, force: bool = False, verify: bool = False,
                progress: Callable[[str], None] | None = None) -> TaskData:
        return build(task, functools.partial(run_prepare_script, task), root=root, force=force, verify=verify, progress=progress)

    def build_workspace(self, task: TaskSpec, workspace: Path) -> None:
        shutil.copytree(task.env_dir, workspace, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))

    def mounts(self, task: TaskSpec, data: TaskData) -> list[Mount]:
        return data_mounts(data)

    def describe(self, task: TaskSpec) -> str:
        return describe(task)

    def evaluate(self, task: TaskSpec, data: TaskData, submission_dir: Path, *, sandbox: str = "local",
                 python: str = "python", sandbox_options: dict[str, Any] | None = None) -> EvalResult:
        from mlgym.grading.scoring import run_eval  # local import: scoring imports families

        return run_eval(task, data, submission_dir, {"eval.py": task.eval_script}, [python, "eval.py", "--answers", "answers"],
                        sandbox=sandbox, sandbox_options=sandbox_options)
