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
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path
from typing import Any, Callable

from mlgym.tasks.data import TaskData, build, run_prepare_script
from mlgym.core.errors import TaskError
from mlgym.families.registry import EvalResult
from mlgym.families.folder.family import DATA_DIR, data_mounts
from mlgym.sandbox import Mount
from mlgym.tasks.spec import Baseline, Fields, TaskLimits, TaskSpec, common_fields

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

    def evaluate(self, task: TaskSpec, data: TaskData, submission_dir: Path, *, sandbox: str = "local",
                 python: str = "python", sandbox_options: dict[str, Any] | None = None) -> EvalResult:
        from mlgym.grading.scoring import run_eval  # local import: scoring imports families

        files: dict[str, Path | bytes] = {"eval.py": task.eval_script, COMMON_FILE: task.root.parent / COMMON_FILE}
        return run_eval(task, data, submission_dir, files, [python, "eval.py", "--answers", "answers"],
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

    kind = "mlgym.families.mlagentbench.family:MLAgentBenchFolderFamily"

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
        metric, direction = ours.metric if ours else "accuracy", ours.direction if ours else "higher"
        chosen = _user_choice(root)
        if chosen:
            metric, direction = chosen.get("metric", metric), chosen.get("direction", direction)
            how = f"metric {metric}, {direction} is better, as {chosen['from']} says"
        spec = TaskSpec(
            name=root.name, root=root, description=problem, metric=metric,
            direction=direction, submission=("submission.csv",),
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
        from mlgym.tasks.data import TaskData as Data, link_tree

        link_tree(Data(task).public, workspace, copy=True)  # writable copies: the prepared files are read-only

    def mounts(self, task: TaskSpec, data: TaskData) -> list[Mount]:
        """MLAgentBench puts the data in the workspace (env/); what read_only_files.txt lists is
        bound read-only over its workspace copy, so neither the file tools (ToolContext.read_only)
        nor agent code can change it."""
        return [Mount(data.public / rel, rel) for rel in read_only_paths(data.public, options(task).read_only)]

    def describe(self, task: TaskSpec) -> str:
        opts = options(task)
        ro = f" Do not change these files: {', '.join(opts.read_only)} (they are read-only)." if opts.read_only else ""
        return (f"Research Problem: {task.description}\n\n{ro.strip()} Your submission is {', '.join(task.submission)} "
                f"in the current directory, with the other files you write there; the task's get_score "
                f"scores that folder when you give the Final Answer.").strip()

    def evaluate(self, task: TaskSpec, data: TaskData, submission_dir: Path, *, sandbox: str = "local",
                 python: str = "python", sandbox_options: dict[str, Any] | None = None) -> EvalResult:
        """get_score gets the submission folder as MLAgentBench gives it: every file the agent wrote
        or changed in the workspace (babylm's output/, CLRS's checkpoints), not just submission.csv;
        files still as prepared are beside it at ../env in the answers."""
        from mlgym.grading.scoring import run_eval
        from mlgym.core.scratch import scratch_dir

        with tempfile.TemporaryDirectory(prefix="mlgym-mab-sub-", dir=scratch_dir()) as tmp:
            copied = copy_submission(submission_dir, Path(tmp), data.public)
            wanted = dataclasses.replace(task, submission=tuple(dict.fromkeys([*task.submission, *copied])))
            return run_eval(wanted, data, Path(tmp), {"mab_get_score.py": _GET_SCORE}, [python, "mab_get_score.py"],
                            sandbox=sandbox, sandbox_options=sandbox_options)


SUBMISSION_FILE_MAX = 1 << 30  # bytes: a bigger file the agent wrote is left out of the submission copy
SUBMISSION_FILES_MAX = 10_000


def copy_submission(workspace: Path, dest: Path, prepared: Path) -> list[str]:
    """Copy the regular files of ``workspace`` the agent wrote (not byte-equal to the prepared
    file of the same name) to ``dest``; links, FIFOs, files over SUBMISSION_FILE_MAX and anything
    past SUBMISSION_FILES_MAX are left out.  Never follows a link (mlgym.core.fs): the agent may race it."""
    from mlgym.core import fs
    from mlgym.core.errors import MLGymError

    out: list[str] = []
    for e in fs.walk(workspace, max_entries=SUBMISSION_FILES_MAX):
        if not stat.S_ISREG(e.st.st_mode) or e.st.st_size > SUBMISSION_FILE_MAX or _as_prepared(workspace, e.path, e.st, prepared):
            continue
        try:
            fs.copy_out(workspace, e.path, dest / e.path, limit=SUBMISSION_FILE_MAX)
        except (OSError, MLGymError):
            continue  # gone, swapped for a link or grown past the cap meanwhile
        out.append(e.path)
    return out


def _as_prepared(workspace: Path, rel: str, st: os.stat_result, prepared: Path) -> bool:
    """Whether the workspace file ``rel`` is byte-equal to the prepared one (then it is not the agent's)."""
    from mlgym.core import fs
    from mlgym.core.errors import MLGymError

    ref = prepared / rel
    try:
        if ref.is_symlink() or not ref.is_file() or ref.stat().st_size != st.st_size:
            return False
        digest = hashlib.sha256()
        with fs.open_file(workspace, rel) as f:
            for block in fs.iter_chunks(f, st.st_size + 1):
                digest.update(block)
        return digest.digest() == hashlib.sha256(ref.read_bytes()).digest()
    except (OSError, MLGymError):
        return False


def read_only_paths(public: Path, patterns: tuple[str, ...]) -> list[str]:
    """The prepared files and folders read_only_files.txt names (globs as MLAgentBench allows,
    relative to env/), as workspace-relative paths; one inside a listed folder is covered by it."""
    found: set[str] = set()
    for pattern in patterns:
        pat = pattern.strip().removeprefix("./").rstrip("/")
        if not pat or pat.startswith("/") or ".." in pat.split("/"):
            continue  # nothing outside env/ is the agent's to change anyway
        for hit in public.glob(pat):
            if hit.is_symlink() or not (hit.is_file() or hit.is_dir()) or hit == public:
                continue
            found.add(hit.relative_to(public).as_posix())
    return sorted(r for r in found if not any(r.startswith(o + "/") for o in found))


SIDECAR_KEYS = ("direction", "metric")


def direction_variable(name: str) -> str:
    """The environment variable choosing the direction of MLAgentBench folder ``name``."""
    return "MLGYM_DIRECTION_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def _user_choice(root: Path) -> dict[str, str]:
    """Metric and direction the user chose for a folder MLAgentBench gives none for:
    ``<benchmarks>/<name>.mlgym.yaml`` (only ``direction:`` and ``metric:``), then the
    environment variable ``MLGYM_DIRECTION_<NAME>``, which wins."""
    import yaml

    from mlgym.tasks.spec import SIDECAR_STEM

    out: dict[str, str] = {}
    sidecar = root.parent / f"{root.name}{SIDECAR_STEM}.yaml"
    if sidecar.is_file():
        try:
            raw = yaml.safe_load(sidecar.read_text())
        except (OSError, yaml.YAMLError) as e:
            raise TaskError(f"{sidecar}: cannot read: {e}") from None
        if not isinstance(raw, dict) or not raw or set(raw) - set(SIDECAR_KEYS):
            extra = sorted(map(str, set(raw) - set(SIDECAR_KEYS))) if isinstance(raw, dict) else []
            raise TaskError(f"{sidecar}: give only {' and '.join(SIDECAR_KEYS)}" + (f" (not {', '.join(extra)})" if extra else ""))
        for key, value in raw.items():
            if not isinstance(value, str) or not value.strip():
                raise TaskError(f"{sidecar}: {key} must be a word")
            out[key] = value.strip()
        out["from"] = str(sidecar)
    var = direction_variable(root.name)
    if os.environ.get(var):
        out.update(direction=os.environ[var].strip(), **{"from": f"${var}"})
    if out.get("direction", "higher") not in ("higher", "lower"):
        raise TaskError(f"{out['from']}: direction must be higher or lower, not {out['direction']!r}")
    return out


def _ours_for(folder: str) -> TaskSpec | None:
    """Our version of MLAgentBench's task ``folder`` (for its metric and direction), if any."""
    name = PREFIX + folder
    from mlgym.tasks.spec import task_paths

    found = [p for p in task_paths().get(name, []) if p.name == "task.yaml"]
    return TaskSpec.from_yaml(found[0]) if len(found) == 1 else None


def _prepare_copy(task: TaskSpec, raw: Path, public: Path, private: Path, say: Callable[[str], None]) -> None:
    """Copy the task folder, run its prepare.py from the copy's scripts/ (as MLAgentBench does),
    then: env/ -> public (the workspace), env/ and scripts/ -> private (what get_score reads)."""
    import subprocess
    import sys

    from mlgym.tasks.data import link_tree
    from mlgym.core.errors import DataError

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
