"""MLAgentBench's own task folders, read as they are (issue 22).

``MLGYM_BENCHMARKS=<MLAgentBench>/MLAgentBench/benchmarks`` (or ``--benchmarks DIR``) makes every
folder there a task named like the folder, plus the aliases of its ``tasks.json``.  Nothing in
the folder is ever written: preparation runs MLAgentBench's own ``scripts/prepare.py`` on a
copy in the data folder (:mod:`mlgym.families.mlagentbench.folder_prepare`), and scoring calls
its own ``get_score`` on the agent's files over the prepared ``env/``
(:mod:`mlgym.families.mlagentbench.folder_eval`).  What the folder does not say (metric,
direction, what the submission is, extra packages, MLAgentBench's reported baselines) comes
from the shipped table ``folders.yaml`` (:mod:`mlgym.families.mlagentbench.folders`), else
from the folder's ``eval.py`` and the user's ``<name>.mlgym.yaml`` sidecar.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import os
import re
import stat
import tempfile
from pathlib import Path
from typing import Any, Callable

from mlgym.core.errors import TaskError
from mlgym.families.mlagentbench import folders
from mlgym.grading.base import EvalResult, Submission
from mlgym.sandbox.base import Mount
from mlgym.tasks.data import TaskData, build
from mlgym.tasks.spec import SIDECAR_STEM, Baseline, TaskEnvironment, TaskLimits, TaskSpec

__all__ = ["KIND", "MARKER", "FolderOptions", "MLAgentBenchFolderFamily", "direction_variable"]

MARKER = "research_problem.txt"  # <folder>/scripts/research_problem.txt: one of MLAgentBench's task folders
KIND = "mlagentbench-folder"  # its entry point in setup.cfg's mlgym.families
PAYLOAD = Path(__file__).with_name("folder_eval.py")
SIDECAR_KEYS = ("direction", "metric", "requirements")
WORK = "mlagentbench-task"  # the prepared copy, in the task's raw/ data folder
PREFIX = "mlagentbench-"  # our own versions of its tasks (mlgym.families.mlagentbench.family)


@dataclasses.dataclass(frozen=True)
class FolderOptions:
    """What the folder, the table and the sidecar say (hashable, like the frozen spec)."""

    folder: str  # the folder's name (an alias's folder for a tasks.json alias)
    read_only: tuple[str, ...]
    differs: str
    submission_kind: str  # file, dir, speed, none, folder (see folders.submission_kind)
    submission_path: str | None = None
    script: str | None = None  # speed: the script whose printed timing is the score
    pattern: str | None = None
    links: tuple[tuple[str, str], ...] = ()  # beside eval.py: name -> target (cwd-relative data)
    alias_of: str | None = None
    reported_baseline: float | None = None  # MLAgentBench's plot.py number, where it gives one
    missing_here: tuple[str, ...] = ()  # downloads / hardware the table says it needs


def direction_variable(name: str) -> str:
    """The environment variable choosing the direction of MLAgentBench folder ``name``."""
    return "MLGYM_DIRECTION_" + re.sub(r"[^A-Za-z0-9]", "_", name).upper()


def _user_choice(root: Path) -> dict[str, Any]:
    """What the user chose for a folder: ``<benchmarks>/<name>.mlgym.yaml`` (``direction``,
    ``metric``, ``requirements``), then ``MLGYM_DIRECTION_<NAME>``, which wins."""
    import yaml

    out: dict[str, Any] = {}
    sidecar = root.parent / f"{root.name}{SIDECAR_STEM}.yaml"
    if sidecar.is_file():
        try:
            raw = yaml.safe_load(sidecar.read_text())
        except (OSError, yaml.YAMLError) as e:
            raise TaskError(f"{sidecar}: cannot read: {e}") from None
        if not isinstance(raw, dict) or not raw or set(raw) - set(SIDECAR_KEYS):
            extra = sorted(map(str, set(raw) - set(SIDECAR_KEYS))) if isinstance(raw, dict) else []
            raise TaskError(f"{sidecar}: give only {', '.join(SIDECAR_KEYS)}" + (f" (not {', '.join(extra)})" if extra else ""))
        for key, value in raw.items():
            if key == "requirements":
                items = [value] if isinstance(value, str) else value
                if not isinstance(items, list) or not all(isinstance(v, str) and v.strip() and not v.startswith("-") for v in items):
                    raise TaskError(f"{sidecar}: requirements must be a list of pip requirement strings")
                out[key] = tuple(v.strip() for v in items)
                continue
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
    """Our own version of MLAgentBench's task ``folder`` (for its limits), if any."""
    from mlgym.tasks.spec import task_paths

    for name in (PREFIX + folder, *(PREFIX + a for a in _OUR_NAMES.get(folder, ()))):
        found = [p for p in task_paths().get(name, []) if p.name == "task.yaml"]
        if len(found) == 1:
            return TaskSpec.from_yaml(found[0])
    return None


_OUR_NAMES = {"amp-parkinsons-disease-progression-prediction": ("parkinsons-disease",)}


def _requirements_file(root: Path) -> tuple[str, ...]:
    path = root / "scripts" / "requirements.txt"
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return ()
    reqs = [ln.split("#", 1)[0].strip() for ln in lines]
    return tuple(r for r in reqs if r and not r.startswith("-"))


class MLAgentBenchFolderFamily:
    """One of MLAgentBench's own task folders, read as it is."""

    kind = KIND

    def expand(self, path: Path, raw: dict[str, Any]) -> list[TaskSpec]:
        """``path`` is ``<folder>/scripts/research_problem.txt``: the folder's task, then the
        ``tasks.json`` aliases naming that folder."""
        root = path.parents[1].resolve()
        spec = self._spec(root, root.name, path)
        out = [spec]
        for alias, item in folders.aliases(root.parent).items():
            if item["folder"] == root.name:
                out.append(dataclasses.replace(
                    spec, name=alias, description=item["research_problem"] or spec.description,
                    options=dataclasses.replace(spec.options, alias_of=root.name),
                    baseline=Baseline(spec.baseline.score, spec.baseline.measured.replace(f"mlgym baseline {root.name}", f"mlgym baseline {alias}"))))
        return out

    def _spec(self, root: Path, name: str, path: Path) -> TaskSpec:
        try:
            problem = path.read_text(errors="replace").strip()
            ro_file = root / "scripts" / "read_only_files.txt"
            read_only = tuple(x.strip() for x in ro_file.read_text(errors="replace").splitlines() if x.strip()) if ro_file.is_file() else ()
        except OSError as e:
            raise TaskError(f"{path}: cannot read: {e}") from None
        if not (root / "env").is_dir():
            raise TaskError(f"{root}: an MLAgentBench task folder needs env/")
        table = folders.entry(root.name)
        sub = folders.submission_kind(root)
        ours = _ours_for(root.name)
        if table and table.get("metric"):
            metric, direction = str(table["metric"]), str(table["direction"])
            how = f"its metric ({metric}, {direction} is better) from mlgym's table of MLAgentBench's folders"
        elif table:
            metric, direction = "accuracy", "higher"
            how = "MLAgentBench never scores it (no scripts/eval.py)"
        elif sub.get("kind") == "speed":
            metric, direction = "seconds", "lower"
            how = "the time the script prints, lower is better"
        else:
            metric, direction = "accuracy", "higher"
            how = "MLAgentBench does not say which direction is better: higher is assumed"
        chosen = _user_choice(root)
        if chosen.get("metric") or chosen.get("direction"):
            metric, direction = chosen.get("metric", metric), chosen.get("direction", direction)
            how = f"metric {metric}, {direction} is better, as {chosen['from']} says"
        reqs = tuple(table.get("requirements") or ()) if table else _requirements_file(root)
        reqs = tuple(dict.fromkeys((*reqs, *chosen.get("requirements", ()))))
        reported = None
        baseline = Baseline(None, f"not measured yet: run `mlgym baseline {name}`")
        if table and isinstance(table.get("baseline"), dict):
            b = table["baseline"]
            reported = float(b["score"])
            if b.get("use"):
                baseline = Baseline(reported, f"MLAgentBench's reported baseline ({b.get('measured', 'plot.py')})")
            else:
                baseline = Baseline(None, f"unknown until measured (MLAgentBench reports {reported:g}: {b.get('measured', 'plot.py')})")
        kind = str(sub.get("kind", "folder"))
        submission: tuple[str, ...] = (str(sub["path"]),) if kind == "file" else ()
        missing = tuple(str(x) for x in [*(table or {}).get("downloads", ()), *(table or {}).get("needs", ())])
        links = tuple(sorted((str(k), str(v)) for k, v in ((table or {}).get("eval_cwd_links") or {}).items()))
        differs = f"MLAgentBench's own folder {root}, scored by its scripts/eval.py; {how}"
        if kind == "speed":
            differs = f"MLAgentBench's own folder {root}, scored by the speed {sub.get('script')} prints ({direction} is better)"
        opts = FolderOptions(root.name, read_only, differs, kind, str(sub["path"]) if sub.get("path") else None,
                             sub.get("script"), sub.get("pattern") or (folders.SPEED_PATTERN if kind == "speed" else None),
                             links, None, reported, missing)
        return TaskSpec(
            name=name, root=root, description=problem, metric=metric, direction=direction, submission=submission,
            baseline=baseline, limits=ours.limits if ours else TaskLimits(), eval_timeout=ours.eval_timeout if ours else 600.0,
            kind=self.kind, source=path.resolve(), options=opts, environment=TaskEnvironment(requirements=reqs),
        )

    def folder_format(self) -> tuple[str, str]:
        return MARKER, KIND

    def folder_aliases(self, root: Path) -> dict[str, str]:
        """``tasks.json`` of a benchmarks folder: alias -> the folder it names."""
        return {alias: item["folder"] for alias, item in folders.aliases(root).items()}

    def prepare(self, task: TaskSpec, *, root: Path | None = None, force: bool = False, verify: bool = False,
                progress: Callable[[str], None] | None = None) -> TaskData:
        return build(task, functools.partial(_prepare_copy, task, force), root=root, force=force, verify=verify, progress=progress)

    def build_workspace(self, task: TaskSpec, workspace: Path) -> None:
        from mlgym.tasks.data import link_tree

        link_tree(TaskData(task).public, workspace, copy=True)  # writable copies: the prepared files are read-only

    def mounts(self, task: TaskSpec, data: TaskData) -> list[Mount]:
        """MLAgentBench puts the data in the workspace (env/); what read_only_files.txt lists is
        bound read-only over its workspace copy."""
        return [Mount(data.public / rel, rel) for rel in read_only_paths(data.public, _opts(task).read_only)]

    def describe(self, task: TaskSpec) -> str:
        opts = _opts(task)
        ro = f"Do not change these files: {', '.join(opts.read_only)} (they are read-only). " if opts.read_only else ""
        what = {
            "file": f"Your submission is {opts.submission_path} in the current directory, with the other files you write there",
            "dir": f"Your submission is the folder {opts.submission_path}/ in the current directory, with the other files you write there",
            "speed": f"Your submission is {opts.script} in the current directory: the time it prints is the score",
            "none": "MLAgentBench gives this task no score",
        }.get(opts.submission_kind, "Your submission is the files you write in the current directory")
        end = "" if opts.submission_kind == "none" else (
            "; the task's get_score scores that folder when you give the Final Answer." if opts.submission_kind != "speed"
            else ", run when you give the Final Answer.")
        return f"Research Problem: {task.description}\n\n{ro}{what}{end}".strip()

    def evaluate(self, task: TaskSpec, data: TaskData, submission: Submission, *, sandbox: str = "local",
                 python: str = "python", sandbox_options: dict[str, Any] | None = None) -> EvalResult:
        """MLAgentBench's get_score on the agent's files over the prepared env/ (its submission
        folder); the speed a script prints for a timing task; nothing for a task it never scores."""
        from mlgym.core.scratch import scratch_dir
        from mlgym.grading.scoring import run_eval

        opts = _opts(task)
        if opts.submission_kind == "none":
            return EvalResult(error=f"{task.name}: MLAgentBench has no score for this task (no scripts/eval.py)")
        with tempfile.TemporaryDirectory(prefix="mlgym-mab-sub-", dir=scratch_dir()) as tmp:
            copied = copy_submission(submission.dir, Path(tmp), data.public)
            if opts.submission_kind == "dir" and opts.submission_path:
                if not any(c.startswith(opts.submission_path + "/") for c in copied):
                    return EvalResult(error=f"no submission: {opts.submission_path}/ not found in the workspace "
                                            f"(or nothing in it changed since the start)")
            cfg = {"files": copied, "read_only": read_only_paths(data.public, opts.read_only), "links": dict(opts.links),
                   "kind": "speed" if opts.submission_kind == "speed" else "score",
                   "script": opts.script, "pattern": opts.pattern, "timeout": task.eval_timeout}
            wanted = dataclasses.replace(task, submission=tuple(dict.fromkeys([*task.submission, *copied])))
            return run_eval(wanted, data, Path(tmp), {"mab_folder_eval.py": PAYLOAD},
                            [python, "mab_folder_eval.py", json.dumps(cfg)], sandbox=sandbox, sandbox_options=sandbox_options)


def _opts(task: TaskSpec) -> FolderOptions:
    if not isinstance(task.options, FolderOptions):
        raise TaskError(f"task {task.name!r} is not one of MLAgentBench's own folders")
    return task.options


def _prepare_copy(task: TaskSpec, force: bool, raw: Path, public: Path, private: Path, say: Callable[[str], None]) -> None:
    """Run the folder's prepare.py on a copy (kept in ``raw/``), with the task environment's
    Python (as MLAgentBench runs it with its own environment's), then: env/ -> public (the
    workspace), env/ and scripts/ -> private (what get_score reads)."""
    from mlgym.families.mlagentbench.folder_prepare import prepare_folder
    from mlgym.tasks.data import link_tree

    def python() -> str:  # its own prepare.py imports what its task needs (torchvision, ogb): the task's environment
        from mlgym.core.errors import DataError, MLGymError
        from mlgym.tasks import taskenv

        try:
            return str(taskenv.ensure(task, progress=say))
        except MLGymError as e:
            raise DataError(f"{task.name}: its environment ({', '.join(task.environment.all_requirements)}) "
                            f"cannot be built: {e}") from None

    work = prepare_folder(task.root, raw / WORK, force=force, say=say, python=python)
    link_tree(work / "env", public, copy=True)
    for sub in ("env", "scripts"):
        link_tree(work / sub, private / sub, copy=True)


SUBMISSION_FILE_MAX = 1 << 30  # bytes: a bigger file the agent wrote is left out of the submission copy
SUBMISSION_FILES_MAX = 10_000


def copy_submission(workspace: Path, dest: Path, prepared: Path) -> list[str]:
    """Copy the regular files of ``workspace`` the agent wrote (not byte-equal to the prepared
    file of the same name) to ``dest``; links, FIFOs, files over SUBMISSION_FILE_MAX and anything
    past SUBMISSION_FILES_MAX are left out.  Never follows a link (mlgym.core.fs): the agent may race it."""
    from mlgym.core import fs
    from mlgym.core.errors import MLGymError
    from mlgym.grading.isolate import submission_budget

    out: list[str] = []
    budget = submission_budget()  # totals (apparent, allocated): sparse files cannot amplify
    for e in fs.walk(workspace, max_entries=SUBMISSION_FILES_MAX):
        if not stat.S_ISREG(e.st.st_mode) or e.st.st_size > SUBMISSION_FILE_MAX or _as_prepared(workspace, e.path, e.st, prepared):
            continue
        try:
            fs.copy_out(workspace, e.path, dest / e.path, limit=SUBMISSION_FILE_MAX, budget=budget)
        except (OSError, MLGymError):
            continue  # gone, swapped for a link, grown past the cap meanwhile, or over the totals
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
