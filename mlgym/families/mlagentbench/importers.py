"""Import runs logged by other frameworks into mlgym's log layout, so ``mlgym eval``,
``plot`` and ``report`` treat them like our own.

MLAgentBench (snap-stanford/MLAgentBench) writes, per run, ``LOG_DIR/env_log/trace.json``
(``{"steps": [{"action": {"name", "args"}, "observation", "timestamp"}],
"low_level_steps", "action_infos", "task_description"}``, rewritten after every step by
``Environment.save``), a copy of the workspace after step *i* in
``env_log/traces/step_{i}_files/`` (and ``step_final_files/`` at the end),
``env_log/overall_time.txt``, ``env_log/error.txt`` when it crashed, and the agent's
``agent_log/main_log`` plus ``agent_log/agent_{i}_{j}.json`` (its state, with ``args``:
``task``, ``llm_name``, ``agent_type``).

    import_mlagentbench("final_exp_logs/ResearchAgent/cifar10/1700000000", "runs/imported/x")

writes ``trace.jsonl`` (a ``reset`` record naming the task, one ``step`` record per
MLAgentBench step with the snapshot's changed files) and ``objects/``; no
``result.json``, so ``mlgym eval`` scores the last snapshot with our task's ``eval.py``
when the task exists here.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
from pathlib import Path
from typing import Any

from mlgym.core.errors import MLGymError
from mlgym.runlog.trace import OBJECTS, TRACE, ResetRecord, StepRecord

__all__ = ["TASK_ALIASES", "find_mlagentbench_runs", "import_mlagentbench", "import_mlagentbench_tree", "mlgym_task_name"]

# MLAgentBench task names -> ours, where the task is the same problem under another name.
TASK_ALIASES = {"cifar10_training": "cifar10", "house-price": "house-prices"}  # used when the mlagentbench family lacks the name
MAX_FILE_BYTES = 100 * 2**20
_STEP_DIR = re.compile(r"^step_(\d+|final)_files$")


def _trace_json(src: Path) -> Path:
    for cand in (src / "env_log" / "trace.json", src / "trace.json"):
        if cand.is_file():
            return cand
    raise MLGymError(f"{src}: no env_log/trace.json here; is this an MLAgentBench log folder?")


def find_mlagentbench_runs(root: str | Path) -> list[Path]:
    """MLAgentBench run folders (holding ``env_log/trace.json``) under ``root``.

    Links to folders are followed (a folder of links to runs is a common way to gather
    them; each real folder is visited once, so link cycles end)."""
    root = Path(root)
    if not root.is_dir():
        raise MLGymError(f"{root}: no such folder")
    runs = []
    seen: set[str] = set()
    for dirpath, dirs, files in os.walk(root, followlinks=True):
        here = Path(dirpath)
        real = os.path.realpath(here)
        if real in seen:
            dirs[:] = []
            continue
        seen.add(real)
        if TRACE in files:  # one of ours (it writes a trace.json too)
            dirs[:] = []
            continue
        if here.name == "env_log" and "trace.json" in files:
            runs.append(here.parent)
            dirs[:] = []
        else:
            dirs[:] = sorted(d for d in dirs if d not in ("traces", "tool_logs", "objects"))
    return sorted(runs)


_NS_FIELD = re.compile(r"\b(task|llm_name|agent_type)=(['\"])(.*?)\2")


def _log_args(src: Path) -> dict[str, Any]:
    """MLAgentBench's runner prints its ``Namespace(task=..., agent_type=..., llm_name=...)`` as the first line of ``log``."""
    try:
        with open(src / "log", errors="replace") as f:
            first = f.readline(100_000)
    except OSError:
        return {}
    return {m.group(1): m.group(3) for m in _NS_FIELD.finditer(first)} if first.startswith("Namespace(") else {}


def mlgym_task_name(name: str) -> str:
    """An MLAgentBench task or competition name -> ours (the mlagentbench family's aliases first)."""
    try:
        from mlgym.families.mlagentbench.family import names_by_alias

        found = names_by_alias().get(name)
    except MLGymError:
        found = None
    return found or TASK_ALIASES.get(name, name)


def _is_task(name: str) -> bool:
    from mlgym.tasks.spec import TaskSpec

    try:
        TaskSpec.load(name)
    except MLGymError:
        return False
    return True


def _agent_args(src: Path) -> dict[str, Any]:
    """``args`` from the newest ``agent_log/agent_*.json`` (task, llm_name, agent_type), else from ``log``'s first line."""
    states = sorted((src / "agent_log").glob("agent_*.json"), key=lambda p: p.stat().st_mtime)
    for p in reversed(states):
        try:
            args = json.loads(p.read_text()).get("args")
        except (OSError, ValueError, AttributeError):
            continue
        if isinstance(args, dict):
            return args
    return _log_args(src)


def _store(path: Path, objects: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    digest = h.hexdigest()
    dest = objects / digest[:2] / digest
    if not dest.exists():
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, dest)
    return digest


def _snapshot(folder: Path, objects: Path) -> dict[str, str]:
    state = {}
    for dirpath, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d != "backup")  # MLAgentBench's undo copies
        for name in sorted(files):
            p = Path(dirpath) / name
            if p.is_symlink() or not p.is_file():
                continue
            size = p.stat().st_size
            rel = p.relative_to(folder).as_posix()
            # as mlgym.runlog.trace.Snapshotter: large files (datasets copied into the workspace) are not stored
            state[rel] = f"skipped:{size}" if size > MAX_FILE_BYTES else _store(p, objects)
    return state


def _diff(old: dict[str, str], new: dict[str, str]) -> dict[str, str | None]:
    changed: dict[str, str | None] = {k: v for k, v in new.items() if old.get(k) != v}
    changed.update({k: None for k in old if k not in new})
    return changed


def _read_text(p: Path) -> str | None:
    try:
        return p.read_text(errors="replace")
    except OSError:
        return None


def import_mlagentbench(src: str | Path, dest: str | Path, *, task: str | None = None, default_task: str | None = None) -> Path:
    """Convert one MLAgentBench run folder into an mlgym log folder at ``dest`` (replaced).

    The run's task is ``task`` when given (an override), else the one its logs name, else
    the folder above the run when that names a task (MLAgentBench's ``<log_dir>/<task>/<run>``
    layout), else ``default_task``, else that folder's name."""
    src, dest = Path(src), Path(dest)
    path = _trace_json(src)
    try:
        data = json.loads(path.read_text())
        steps = data["steps"]
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise MLGymError(f"{path}: not an MLAgentBench trace ({e})") from None
    args = _agent_args(src)
    folder_task = mlgym_task_name(src.parent.name)
    if not (task or args.get("task")) and default_task and not _is_task(folder_task):
        folder_task = default_task
    task_name = mlgym_task_name(task or args.get("task") or folder_task)
    env_log = path.parent
    snaps = {}
    traces = env_log / "traces"
    if traces.is_dir():
        for d in traces.iterdir():
            m = _STEP_DIR.match(d.name)
            if m and d.is_dir():
                snaps[m.group(1)] = d
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    objects = dest / OBJECTS
    overall = _read_text(env_log / "overall_time.txt")
    error = _read_text(env_log / "error.txt")
    t0 = steps[0]["timestamp"] if steps and isinstance(steps[0].get("timestamp"), (int, float)) else None
    imported = {
        "format": "mlagentbench", "source": str(src.resolve()), "wall_time": float(overall) if overall and _is_float(overall) else None,
        "error": error.strip().splitlines()[-1] if error and error.strip() else None,
        "finished": (env_log / "overall_time.txt").exists(),
    }
    records: list[dict[str, Any]] = [ResetRecord(
        task=task_name, run_id=f"mlagentbench-{_short_hash(src)}-{src.name}", seed=None, sandbox="mlagentbench", time=t0,
        task_description=data.get("task_description"),
        extra={"agent": args.get("agent_type") or "mlagentbench", "model": args.get("llm_name"), "imported": imported},
    ).to_dict()]
    state: dict[str, str] = {}
    prev_t = t0
    for i, s in enumerate(steps):
        action = s.get("action") or {}
        arguments = action.get("args")
        files: dict[str, str | None] = {}
        snap = snaps.get(str(i))
        if i == len(steps) - 1 and "final" in snaps:
            snap = snaps["final"]
        if snap is not None:
            new = _snapshot(snap, objects)
            files = _diff(state, new)
            state = new
        t = s.get("timestamp")
        obs = s.get("observation")
        records.append(StepRecord(
            step=i + 1,
            action={"name": action.get("name"), "arguments": arguments if isinstance(arguments, dict) else {"input": arguments}},
            observation=obs if isinstance(obs, str) else json.dumps(obs),
            duration=round(t - prev_t, 6) if isinstance(t, (int, float)) and isinstance(prev_t, (int, float)) else None,
            error=isinstance(obs, str) and obs.startswith(("EnvError", "Invalid action", "LLMError")),
            reward=0.0, files=files, time=t if isinstance(t, (int, float)) else None,
        ).to_dict())
        prev_t = t
    with open(dest / TRACE, "w") as f:
        f.writelines(json.dumps(r, ensure_ascii=False, default=str) + "\n" for r in records)
    main_log = src / "agent_log" / "main_log"
    if main_log.is_file():
        shutil.copyfile(main_log, dest / "agent_main_log.txt")
    return dest


def _short_hash(src: Path) -> str:
    """Run folders with the same base name (``.../cifar10/0`` and ``.../house-price/0``) stay apart."""
    return hashlib.sha256(str(src.resolve()).encode()).hexdigest()[:8]


def _is_float(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def import_mlagentbench_tree(root: str | Path, out: str | Path, *, task: str | None = None,
                             default_task: str | None = None) -> list[Path]:
    """Import every MLAgentBench run under ``root`` into ``out/<name>``; returns the new folders
    (``task``, ``default_task``: as :func:`import_mlagentbench`)."""
    out = Path(out)
    made = []
    for src in find_mlagentbench_runs(root):
        rel = src.relative_to(root).as_posix()
        if rel in ("", "."):
            rel = src.resolve().name
        name = re.sub(r"[^A-Za-z0-9._-]+", "_", rel) or "run"
        made.append(import_mlagentbench(src, out / f"{name}-{_short_hash(src)}", task=task, default_task=default_task))
    return made


class _Importer:
    """MLAgentBench's logs in ``mlgym eval`` (a ``run_importers`` plugin: :class:`mlgym.tasks.catalog.RunImporter`)."""

    run_format = "mlagentbench"  # mlgym eval --import-mlagentbench DIR
    run_label = "MLAgentBench"

    def find_runs(self, root: str | Path) -> list[Path]:
        return find_mlagentbench_runs(root)

    def import_runs(self, root: str | Path, dest: Path, *, default_task: str | None = None) -> list[Path]:
        return import_mlagentbench_tree(root, dest, default_task=default_task)

    def task_name(self, name: str) -> str:
        return mlgym_task_name(name)


IMPORTER = _Importer()
