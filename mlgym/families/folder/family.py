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
from mlgym.grading.base import EvalResult, Submission
from mlgym.grading.scoring import run_eval
from mlgym.families.base import DATA_DIR, FamilyBase, data_mounts, describe
from mlgym.tasks.spec import TaskSpec, common_fields

__all__ = ["DATA_DIR", "FolderFamily", "data_mounts", "describe"]


class FolderFamily(FamilyBase):
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

    def evaluate(self, task: TaskSpec, data: TaskData, submission: Submission, *, sandbox: str = "local",
                 python: str = "python", sandbox_options: dict[str, Any] | None = None) -> EvalResult:

        return run_eval(task, data, submission, {"eval.py": task.eval_script}, [python, "eval.py", "--answers", "answers"],
                        sandbox=sandbox, sandbox_options=sandbox_options)
