"""The end of an episode of :class:`mlgym.env.core.MLGymEnv`: score the submission, write the result, export.

:func:`score` evaluates the workspace in a fresh sandbox (:func:`mlgym.grading.scoring.evaluate`) and
builds the :class:`~mlgym.runlog.records.Result`; it never raises (a failure is the result's
``error``).  :func:`conclude` writes it as the trace's ``result`` record and ``result.json``, then
runs the registered run exporters (compatibility files made from the trace, see
:func:`mlgym.families.base.run_exporters`).
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import Any

from mlgym.core.safetext import printable
from mlgym.env.stepping import message
from mlgym.families.base import run_exporters
from mlgym.grading.scoring import baseline_for, evaluate
from mlgym.runlog.jsonio import write_json
from mlgym.runlog.records import SCHEMA_VERSION, Result, ResultRecord
from mlgym.runlog.trace import TraceWriter, load
from mlgym.tasks.data import TaskData
from mlgym.tasks.spec import TaskSpec

__all__ = ["conclude", "export", "failed_result", "reward_of", "score"]


def failed_result(task: TaskSpec, data: TaskData, error: str) -> dict[str, Any]:
    """What grading gives when scoring itself failed: no score, the baseline, the ``error``."""
    base, how = baseline_for(task, data)
    return {
        "task": task.name, "metric": task.metric, "direction": task.direction, "score": None, "baseline": base,
        "baseline_source": how, "improvement": None, "success": False, "valid_submission": False, "error": error,
    }


def reward_of(improvement: Any) -> float:
    """The final reward: the improvement over the baseline, 0 when there is none (an invalid submission)."""
    return float(improvement) if isinstance(improvement, (int, float)) and math.isfinite(improvement) else 0.0


def score(task: TaskSpec, data: TaskData, workspace: Path, *, sandbox: str, python: str, sandbox_options: dict[str, Any],
          final_answer: str | None, log: logging.Logger) -> Result:
    """Evaluate the submission in ``workspace``; the graded part of the result (the env adds the run's keys)."""
    try:
        graded = evaluate(task, data, workspace, sandbox=sandbox, python=python, sandbox_options=sandbox_options,
                          final_answer=final_answer)
    except Exception as e:  # noqa: BLE001 - a hostile workspace must not lose the result
        log.warning("scoring failed: %s", printable(f"{type(e).__name__}: {e}"))
        graded = failed_result(task, data, f"EnvError: scoring failed ({message(e, workspace)})")
    result = Result.from_dict(graded)
    result.version = SCHEMA_VERSION
    result.reward = reward_of(result.improvement)
    return result


def conclude(result: dict[str, Any], log_dir: Path, writer: TraceWriter | None) -> None:
    """Keep the result: the trace's ``result`` record, then ``result.json``."""
    if writer is not None:
        writer.append(ResultRecord(result=result))
    write_json(log_dir / "result.json", result)


def export(log_dir: Path, task: TaskSpec, log: logging.Logger) -> None:
    """The registered run exporters (:func:`mlgym.families.base.run_exporters`: compatibility files made from the
    trace, e.g. MLAgentBench's ``trace.json``); a failing one is logged, the result stays written."""
    try:
        exporters = run_exporters()
        trace = load(log_dir)
    except (ImportError, AttributeError, OSError, ValueError) as e:
        log.warning("run exporters not run: %s", printable(e))
        return
    for name, run_export in exporters:
        try:
            run_export(trace, task)
        except (OSError, ValueError, KeyError, TypeError) as e:  # an extra file; the result is written
            log.warning("run exporter %s failed: %s", name, printable(e))
