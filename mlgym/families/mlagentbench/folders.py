"""Reading MLAgentBench's own ``benchmarks/`` folder as it is (issue 22).

What MLAgentBench itself does (snap-stanford/MLAgentBench @5d71205, ``prepare_task.get_task_info``):
a ``tasks.json`` entry (``{"<alias>": {"benchmark_folder_name": ..., "research_problem": ...}}``)
names a task backed by a folder; otherwise a folder is a task when it has ``env/``; the research
problem is the entry's, else ``scripts/research_problem.txt``.

What it does not say (the metric, which direction is better, what the submission is, which
packages its evals import, the baselines its paper reports) is the shipped table
``folders.yaml`` for its 15 folders; for any other folder :func:`submission_kind` reads it off
``scripts/eval.py``.  Plain paths and dicts only: no task specs here.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

__all__ = ["TABLE", "TASKS_JSON", "aliases", "entry", "load_table", "speed_score", "submission_kind"]

TABLE = Path(__file__).with_name("folders.yaml")
TASKS_JSON = "tasks.json"
SPEED_PATTERN = r"Average per token generation time:\s*([0-9.eE+-]+)"


@lru_cache(maxsize=1)
def load_table() -> dict[str, Any]:
    """The shipped table: ``{"tasks": {folder: {...}}, "aliases": {...}}``."""
    raw = yaml.safe_load(TABLE.read_text())
    assert isinstance(raw, dict)
    return raw


def entry(folder: str) -> dict[str, Any] | None:
    """The table's facts about MLAgentBench's folder ``folder`` (None for a folder it does not ship)."""
    found = load_table()["tasks"].get(folder)
    return dict(found) if isinstance(found, dict) else None


def aliases(bench: Path) -> dict[str, dict[str, str]]:
    """``tasks.json`` in the benchmarks folder ``bench``: alias -> {folder, research_problem}.
    An entry naming a folder that is not there (MLAgentBench would fail on it too) or an alias
    that is also a folder name is left out; an unreadable file gives none."""
    path = Path(bench) / TASKS_JSON
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    out: dict[str, dict[str, str]] = {}
    if not isinstance(raw, dict):
        return out
    for alias, item in raw.items():
        if not isinstance(item, dict) or not isinstance(alias, str) or not re.fullmatch(r"[A-Za-z0-9][\w.-]*", alias):
            continue
        folder = item.get("benchmark_folder_name")
        if not isinstance(folder, str) or "/" in folder or not (Path(bench) / folder / "env").is_dir():
            continue
        if (Path(bench) / alias).is_dir():
            continue  # a folder of that name is a task of its own
        problem = item.get("research_problem")
        out[alias] = {"folder": folder, "research_problem": problem if isinstance(problem, str) else ""}
    return out


def submission_kind(task_dir: Path) -> dict[str, Any]:
    """What the folder's submission is: ``{"kind": "file", "path": "submission.csv"}``,
    ``{"kind": "dir", "path": "checkpoints"}`` (a folder get_score reads), ``{"kind": "speed",
    "script": ..., "pattern": ...}`` (no eval: the speed a script prints), ``{"kind": "none"}``
    (no eval, nothing to time: MLAgentBench never scores it) or ``{"kind": "folder"}`` (the
    workspace as a whole, nothing required).  The table says it for MLAgentBench's folders."""
    task_dir = Path(task_dir)
    known = entry(task_dir.name)
    if known:
        return dict(known["submission"])
    ev = task_dir / "scripts" / "eval.py"
    if not ev.is_file():
        for p in sorted((task_dir / "env").glob("*.py")):
            if re.search(r"per token generation time", p.read_text(errors="replace")):
                return {"kind": "speed", "script": p.name, "pattern": SPEED_PATTERN}
        return {"kind": "none"}
    text = ev.read_text(errors="replace")
    files = re.findall(r"""['"]([\w.-]+\.(?:csv|json|npy|txt|pkl))['"]""", text)
    dirs = re.findall(r"""join\(\s*submission_folder\s*,\s*['"]([\w.-]+)['"]""", text)
    dirs += re.findall(r"""submission_folder\s*\+\s*['"]/([\w.-]+)/['"]""", text)
    if "submission.csv" in files:
        return {"kind": "file", "path": "submission.csv"}
    for d in dirs:
        if "." not in d:
            return {"kind": "dir", "path": d}
    return {"kind": "folder"}


def speed_score(output: str, pattern: str = SPEED_PATTERN) -> float | None:
    """The last speed a timing script printed (llama-inference's ``Average per token generation time``)."""
    found = re.findall(pattern, output)
    try:
        return float(found[-1]) if found else None
    except ValueError:
        return None
