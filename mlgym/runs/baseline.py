"""Measuring a task's baseline: the starter code's score on the prepared data, recorded once.

A task entry needs no baseline number (issue 10): ``mlgym baseline TASK`` measures it, and
so does the runner the first time an agent runs a task that has neither a YAML baseline nor
a recorded one.  The record is ``<data dir>/baseline.json``, which
:func:`mlgym.grading.scoring.baseline_for` prefers over the YAML's number.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any, Callable

from mlgym.core.errors import MLGymError

__all__ = ["measure", "missing", "record"]


def missing(task_name: str) -> bool:
    """True when ``task_name`` has no baseline anywhere (YAML or recorded); prepares its data."""
    from mlgym.grading.scoring import baseline_for
    from mlgym.tasks.spec import TaskSpec

    task = TaskSpec.load(task_name)
    if task.baseline.score is not None:
        return False
    data = task.family.prepare(task)
    if (Path(data.dir) / "baseline.json").is_file():  # measured, possibly as unknown (a starter with no submission)
        return False
    return baseline_for(task, data)[0] is None


def record(data_dir: Path, score: float | None, how: str) -> None:
    from mlgym.runlog.jsonio import write_json

    write_json(Path(data_dir) / "baseline.json", {"score": score, "measured": how})


def measure(task_name: str, *, sandbox: str = "local", python: str | None = None,
            say: Callable[[str], None] | None = None, unknown_ok: bool = False) -> dict[str, Any]:
    """Run the baseline agent (the starter unchanged) in a throw-away episode, record and
    return its result.  Raises :class:`MLGymError` when the starter gives no valid submission,
    unless ``unknown_ok``: then the baseline is recorded as unknown (``score: null``; an
    unfinished starter, like MLAgentBench's house-price, is a legitimate start)."""
    from mlgym.agents.baseline import BaselineAgent
    from mlgym.env.core import MLGymEnv

    if say:
        say(f"measuring the baseline of {task_name}: running the starter code once")
    with tempfile.TemporaryDirectory(prefix="mlgym-baseline-") as tmp:
        env = MLGymEnv(task_name, sandbox=sandbox, python=python, log_dir=Path(tmp) / "log", work_dir=Path(tmp) / "ws")
        try:
            obs, info = env.reset(seed=0)
            result = BaselineAgent().run(env, obs, info) or env.result
        finally:
            env.close()
    if (not result or result.get("score") is None) and unknown_ok and env.data is not None:
        why = (result and result.get("error")) or "no result"
        record(env.data.dir, None, f"unknown: the starter code gives no valid submission ({why})")
        if say:
            say(f"{task_name}: baseline unknown: the starter code gives no valid submission ({why})")
        return dict(result or {}, data_dir=str(env.data.dir))
    if not result or result.get("score") is None:
        raise MLGymError(f"{task_name}: the starter code produced no valid submission: {result and result.get('error')}")
    assert env.data is not None
    record(env.data.dir, float(result["score"]), f"baseline agent on this data, {result['wall_time']:.1f}s")
    result["data_dir"] = str(env.data.dir)
    return result
