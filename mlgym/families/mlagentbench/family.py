"""The MLAgentBench family: MLAgentBench's 13 research tasks, split and scored as it does.

A task is ``benchmarks/mlagentbench/<name>/`` (listed as ``mlagentbench-<name>``)::

    task.yaml          kind: mlagentbench, the research problem, metric, baseline, and
                       mlagentbench: {folder, aliases, read_only_files, differs}
    env/               our starter files (the agent's workspace)
    scripts/prepare.py the real data path (torchvision layout, ``datasets``, ``ogb``, ``kaggle``,
                       the clrs sampler, the BabyLM archive) ``--raw --public --private``
    scripts/eval.py    the hidden metric, run in a fresh sandbox beside ``mab_common.py``

Data preparation and scoring follow the folder family's contracts (:mod:`mlgym.tasks.data`,
:func:`mlgym.grading.scoring.run_eval`); what this family adds is MLAgentBench's own wording (the
research problem, the read-only files), its names (``aliases``: the folder names and the
competition slugs its logs use) and the shared helpers ``benchmarks/mlagentbench/mab_common.py``.
MLAgentBench's own task folders (a user's ``benchmarks/``, read as they are) are the family
``mlagentbench-folder`` (:mod:`mlgym.families.mlagentbench.folder_family`).
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
from mlgym.families.base import DATA_DIR, data_mounts
from mlgym.sandbox.base import Mount
from mlgym.tasks.spec import Fields, TaskSpec, common_fields

PREFIX = "mlagentbench-"
OWN_KEYS = ("mlagentbench",)
MAB_KEYS = ("folder", "aliases", "read_only_files", "differs")
COMMON_FILE = "mab_common.py"  # beside the task folders; copied next to eval.py in the eval sandbox


class _Options:
    """What task.yaml's ``mlagentbench:`` block holds (hashable, like the frozen spec)."""

    def __init__(self, folder: str, aliases: tuple[str, ...], read_only: tuple[str, ...], differs: str) -> None:
        self.folder, self.aliases, self.read_only, self.differs = folder, aliases, read_only, differs

    def __repr__(self) -> str:
        return f"_Options(folder={self.folder!r}, aliases={self.aliases!r})"


def options(task: TaskSpec) -> _Options:
    if not isinstance(task.options, _Options):
        raise TaskError(f"task {task.name!r} is not an MLAgentBench task")
    return task.options


class MLAgentBenchFamily:
    kind = "mlagentbench"

    def export_run(self, trace: Any, task: TaskSpec) -> None:
        """MLAgentBench's ``trace.json`` next to every episode's trace (a run exporter: :mod:`mlgym.families.mlagentbench.export`)."""
        from mlgym.families.mlagentbench.export import write_trace_json

        write_trace_json(trace, task)

    def expand(self, path: Path, raw: dict[str, Any]) -> list[TaskSpec]:
        if path.name != "task.yaml":
            raise TaskError(f"{path}: kind: an MLAgentBench task is a folder with a task.yaml")
        root = path.parent.resolve()
        common = common_fields(path, raw, name=PREFIX + root.name, own_keys=OWN_KEYS)
        m = Fields(path, raw).sub("mlagentbench", MAB_KEYS)
        opts = _Options(m.get("folder", str, root.name), m.strings("aliases", ()), m.strings("read_only_files", ()),
                        str(m.get("differs", str, "")).strip())
        spec = TaskSpec(root=root, kind=self.kind, options=opts, **common)
        for needed in (spec.env_dir, spec.prepare_script, spec.eval_script, root.parent / COMMON_FILE):
            if not needed.exists():
                raise TaskError(f"{path}: missing {needed}")
        return [spec]

    def prepare(self, task: TaskSpec, *, root: Path | None = None, force: bool = False, verify: bool = False,
                progress: Callable[[str], None] | None = None) -> TaskData:
        return build(task, functools.partial(run_prepare_script, task), root=root, force=force, verify=verify, progress=progress)

    def build_workspace(self, task: TaskSpec, workspace: Path) -> None:
        shutil.copytree(task.env_dir, workspace, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))

    def mounts(self, task: TaskSpec, data: TaskData) -> list[Mount]:
        return data_mounts(data)

    def describe(self, task: TaskSpec) -> str:
        """MLAgentBench's research problem, then where the data is and how it is scored."""
        opts = options(task)
        ro = f" Do not change these files: {', '.join(opts.read_only)}." if opts.read_only else ""
        return (
            f"Research Problem: {task.description}\n\n"
            f"The task data is in the read-only folder {DATA_DIR}/.{ro} Your submission is the file(s) "
            f"{', '.join(task.submission)} in the current directory; it is scored on {task.metric} "
            f"({task.direction} is better) when you give the Final Answer."
        )

    def evaluate(self, task: TaskSpec, data: TaskData, submission: Submission, *, sandbox: str = "local",
                 python: str = "python", sandbox_options: dict[str, Any] | None = None) -> EvalResult:

        files: dict[str, Path | bytes] = {"eval.py": task.eval_script, COMMON_FILE: task.root.parent / COMMON_FILE}
        return run_eval(task, data, submission, files, [python, "eval.py", "--answers", "answers"],
                        sandbox=sandbox, sandbox_options=sandbox_options)


def names_by_alias() -> dict[str, str]:
    """Every name MLAgentBench and its logs use (folder names, competition slugs) -> our task name."""
    from mlgym.tasks.spec import TaskSpec as Spec, list_tasks

    out: dict[str, str] = {}
    for name in list_tasks():
        if not name.startswith(PREFIX):
            continue
        try:
            spec = Spec.load(name)
        except TaskError:
            continue
        if spec.kind != MLAgentBenchFamily.kind:
            continue
        opts = options(spec)
        for alias in (name[len(PREFIX):], opts.folder, *opts.aliases):
            out.setdefault(alias, name)
    return out
