"""The MLAgentBench family: MLAgentBench's 13 research tasks, split and scored as it does.

A task is ``benchmarks/mlagentbench/<name>/`` (listed as ``mlagentbench-<name>``)::

    task.yaml          kind: mlagentbench, the research problem, metric, baseline, and
                       mlagentbench: {folder, aliases, read_only_files, differs}
    env/               our starter files (the agent's workspace)
    scripts/prepare.py the real data path (torchvision layout, ``datasets``, ``ogb``, ``kaggle``,
                       the clrs sampler, the BabyLM archive) ``--raw --public --private``
    scripts/eval.py    the hidden metric, run in a fresh sandbox beside ``mab_common.py``

Data preparation and scoring follow the folder family's contracts (:mod:`mlgym.data`,
:func:`mlgym.scoring.run_eval`); what this family adds is MLAgentBench's own wording (the
research problem, the read-only files), its names (``aliases``: the folder names and the
competition slugs its logs use) and the shared helpers ``benchmarks/mlagentbench/mab_common.py``.
"""

from __future__ import annotations

import functools
import shutil
from pathlib import Path
from typing import Any, Callable

from mlgym.data import TaskData, build, run_prepare_script
from mlgym.errors import TaskError
from mlgym.families import EvalResult
from mlgym.families.folder import DATA_DIR, data_mounts
from mlgym.sandbox import Mount
from mlgym.task import Baseline, Fields, TaskLimits, TaskSpec, common_fields

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

    def evaluate(self, task: TaskSpec, data: TaskData, submission_dir: Path, *, sandbox: str = "local",
                 python: str = "python", sandbox_options: dict[str, Any] | None = None) -> EvalResult:
        from mlgym.scoring import run_eval  # local import: scoring imports families

        files: dict[str, Path | bytes] = {"eval.py": task.eval_script, COMMON_FILE: task.root.parent / COMMON_FILE}
        return run_eval(task, data, submission_dir, files, [python, "eval.py", "--answers", "answers"],
                        sandbox=sandbox, sandbox_options=sandbox_options)


def names_by_alias() -> dict[str, str]:
    """Every name MLAgentBench and its logs use (folder names, competition slugs) -> our task name."""
    from mlgym.task import TaskSpec as Spec, list_tasks

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


# ----------------------------------------------------------------------------- MLAgentBench's own folders
# MLAgentBench's layout (its benchmarks/<name>/): env/ (the agent's starting workspace, where
# prepare.py puts the data), scripts/prepare.py (run from scripts/), scripts/eval.py with
# get_score(submission_folder), scripts/research_problem.txt, scripts/read_only_files.txt.
# Its names give the metric and direction when they are one of its 13 (ours say them).
_GET_SCORE = b'''"""Call MLAgentBench's get_score as its eval does: from the task's scripts/ folder."""
import importlib.util, json, os, sys
submission = os.path.abspath(".")
os.chdir(os.path.join("answers", "scripts"))  # its scripts read answers relative to here (and ../env)
sys.path.insert(0, os.getcwd())
spec = importlib.util.spec_from_file_location("mlagentbench_task_eval", "eval.py")
mod = importlib.util.module_from_spec(spec)
spec.loader.exec_module(mod)
score = float(mod.get_score(submission))
if score != score or score in (float("inf"), float("-inf")):
    sys.exit("get_score returned a number that is not finite")
print(json.dumps({"score": score, "metrics": {}}))
'''


class MLAgentBenchFolderFamily:
    """One of MLAgentBench's own task folders (``MLGYM_BENCHMARKS=<its benchmarks dir>``), read
    as it is: nothing in it is edited; preparation runs on a copy in the data folder."""

    kind = "mlgym.families.mlagentbench:MLAgentBenchFolderFamily"

    def expand(self, path: Path, raw: dict[str, Any]) -> list[TaskSpec]:
        root = path.parents[1].resolve()
        ours = _ours_for(root.name)
        try:
            problem = path.read_text(errors="replace").strip()
            ro_file = root / "scripts" / "read_only_files.txt"
            read_only = tuple(x.strip() for x in ro_file.read_text(errors="replace").splitlines() if x.strip()) if ro_file.is_file() else ()
        except OSError as e:
            raise TaskError(f"{path}: cannot read: {e}") from None
        if not (root / "env").is_dir() or not (root / "scripts" / "eval.py").is_file():
            raise TaskError(f"{root}: an MLAgentBench task folder needs env/ and scripts/eval.py")
        how = (f"its metric and direction are those of MLAgentBench's {root.name} (as mlagentbench-{root.name} here)"
               if ours else "MLAgentBench does not say which direction is better: higher is assumed")
        spec = TaskSpec(
            name=root.name, root=root, description=problem, metric=ours.metric if ours else "accuracy",
            direction=ours.direction if ours else "higher", submission=("submission.csv",),
            baseline=Baseline(None, f"not measured yet: run `mlgym baseline {root.name}`"),
            limits=ours.limits if ours else TaskLimits(), eval_timeout=ours.eval_timeout if ours else 600.0,
            kind=self.kind, source=path.resolve(),
            options=_Options(root.name, (), read_only, f"MLAgentBench's own folder {root}, scored by its scripts/eval.py; {how}"),
        )
        return [spec]

    def prepare(self, task: TaskSpec, *, root: Path | None = None, force: bool = False, verify: bool = False,
                progress: Callable[[str], None] | None = None) -> TaskData:
        return build(task, functools.partial(_prepare_copy, task), root=root, force=force, verify=verify, progress=progress)

    def build_workspace(self, task: TaskSpec, workspace: Path) -> None:
        from mlgym.data import TaskData as Data, link_tree

        link_tree(Data(task).public, workspace, copy=True)  # writable copies: the prepared files are read-only

    def mounts(self, task: TaskSpec, data: TaskData) -> list[Mount]:
        return []  # MLAgentBench puts the data in the workspace (env/)

    def describe(self, task: TaskSpec) -> str:
        opts = options(task)
        ro = f" Do not change these files: {', '.join(opts.read_only)}." if opts.read_only else ""
        return (f"Research Problem: {task.description}\n\n{ro.strip()} Your submission is {', '.join(task.submission)} "
                f"in the current directory; it is scored by the task's get_score when you give the Final Answer.").strip()

    def evaluate(self, task: TaskSpec, data: TaskData, submission_dir: Path, *, sandbox: str = "local",
                 python: str = "python", sandbox_options: dict[str, Any] | None = None) -> EvalResult:
        from mlgym.scoring import run_eval

        return run_eval(task, data, submission_dir, {"mab_get_score.py": _GET_SCORE}, [python, "mab_get_score.py"],
                        sandbox=sandbox, sandbox_options=sandbox_options)


def _ours_for(folder: str) -> TaskSpec | None:
    """Our version of MLAgentBench's task ``folder`` (for its metric and direction), if any."""
    name = PREFIX + folder
    from mlgym.task import task_paths

    found = [p for p in task_paths().get(name, []) if p.name == "task.yaml"]
    return TaskSpec.from_yaml(found[0]) if len(found) == 1 else None


def _prepare_copy(task: TaskSpec, raw: Path, public: Path, private: Path, say: Callable[[str], None]) -> None:
    """Copy the task folder, run its prepare.py from the copy's scripts/ (as MLAgentBench does),
    then: env/ -> public (the workspace), env/ and scripts/ -> private (what get_score reads)."""
    import subprocess
    import sys

    from mlgym.data import link_tree
    from mlgym.errors import DataError

    work = raw / "mlagentbench-task"
    shutil.rmtree(work, ignore_errors=True)
    for sub in ("env", "scripts"):
        shutil.copytree(task.root / sub, work / sub, symlinks=True)
    if (work / "scripts" / "prepare.py").is_file():
        say("running MLAgentBench's prepare.py in a copy of the task folder")
        proc = subprocess.run([sys.executable, "prepare.py"], cwd=work / "scripts", stdin=subprocess.DEVNULL,
                              capture_output=True, text=True)
        if proc.returncode != 0:
            last = (proc.stderr.strip() or proc.stdout.strip() or f"exit {proc.returncode}").splitlines()[-1]
            raise DataError(f"{task.name}: MLAgentBench's prepare.py failed: {last} (it ran with no input; "
                            f"prepare the data by hand into {work / 'env'} if it asks)")
    link_tree(work / "env", public, copy=True)
    for sub in ("env", "scripts"):
        link_tree(work / sub, private / sub, copy=True)
