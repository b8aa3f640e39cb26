"""How a run ended, and which configuration it belongs to: one definition for every reader.

``result.json["status"]``:

=========  ==========================================================================
success    the episode ended and was scored (whether the task was *solved* is ``success: bool``
           beside it, kept for old readers)
error      the harness or an outside service failed (LLM unreachable after retries, sandbox
           that would not start, data that could not be prepared): not the agent's failure
cancelled  interrupted (Ctrl-C, SIGTERM) before the episode ended
=========  ==========================================================================

A folder without ``result.json`` is ``running`` (its trace writer holds a lock on
``trace.jsonl``, or, where locks cannot be seen, the trace changed recently) or
``interrupted``.  Eval, plot, report, bench and view never count either as a success.

``result.json["reason"]`` is why the episode ended: ``final_answer``, ``max_steps``,
``max_time``, ``agent_stopped``, an agent's own ending (``budget``, ``agent_max_steps``,
``no_tool_call``, ``no_nodes``, ``format_errors``...), or one of :data:`ERROR_REASONS`.

Labels: runs of one agent and model with different options must never merge into one
row.  ``label`` (runner ``--label``, a grid entry's ``label:``) names a configuration; a
run without one gets :func:`default_label` (agent, model and the options that differ from
the agent's defaults, which is what ``agent_config`` holds).
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import Any, Mapping

__all__ = ["ENDED", "ERROR_REASONS", "STATUSES", "default_label", "is_error", "lock_held", "run_label", "run_status",
           "status_for_reason"]

ENDED = ("success", "error", "cancelled")  # what result.json can say
STATUSES = (*ENDED, "running", "interrupted")  # plus what a folder without result.json is
# Ending reasons that are the harness's or a service's fault, not the agent's.
ERROR_REASONS = frozenset({"llm_unreachable", "llm_error", "sandbox_error", "data_error", "harness_error"})
CANCEL_REASONS = frozenset({"interrupted", "cancelled"})
TRACE = "trace.jsonl"


def status_for_reason(reason: str | None) -> str:
    """The status an ending ``reason`` implies (``success`` unless it is an error or a cancel)."""
    if reason in ERROR_REASONS:
        return "error"
    if reason in CANCEL_REASONS:
        return "cancelled"
    return "success"


def lock_held(log_dir: str | Path) -> bool | None:
    """Whether a live process writes the run's trace (its :class:`~mlgym.runlog.trace.TraceWriter` holds a lock
    on ``trace.jsonl`` until it closes; the kernel drops it when the process dies).  None: no trace."""
    try:
        fd = os.open(os.path.join(log_dir, TRACE), os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def run_status(result: Mapping[str, Any] | None, *, live: bool | None = None, mtime: float | None = None,
               now: float | None = None, stale_after: float = 900.0) -> str:
    """``success`` | ``error`` | ``cancelled`` from a ``result.json``; ``running`` | ``interrupted`` without one.

    A ``result.json`` from ``mlgym score --write`` (``episode_finished: false``) scored a snapshot of an
    unfinished run: the run did not end.  Files written before ``status`` existed: an error reason or an
    ``EnvError`` is ``error``, else ``success``.  Without a result, ``live`` (see :func:`lock_held`) decides;
    when it is unknown, a trace changed less than ``stale_after`` seconds ago is ``running``.
    """
    if result is not None and result.get("status") in ENDED:  # a cancelled run may not have ended (resumable)
        return str(result["status"])
    if result is not None and result.get("episode_finished") is not False:
        if str(result.get("error") or "").startswith("EnvError"):
            return "error"
        return status_for_reason(str(result.get("reason") or ""))
    if live is None:
        import time

        live = mtime is not None and (time.time() if now is None else now) - mtime < stale_after
    return "running" if live else "interrupted"


def is_error(result: Mapping[str, Any]) -> bool:
    return run_status(result) == "error"


def default_label(agent: Any, model: Any = None, config: Mapping[str, Any] | None = None) -> str:
    """``agent (model) / k=v ...``: the agent, its model and the options that differ from the agent's defaults.

    ``agent (model)`` alone is the name tables and figures used before labels existed, so a run
    with default options groups as it always did."""
    parts = [f"{agent or 'unknown'} ({model})" if model else str(agent or "unknown")]
    if isinstance(config, Mapping):
        parts += [f"{k}={_short(v)}" for k, v in sorted(config.items()) if k not in ("llm_name",) and v is not None]
    return " / ".join(parts)


def run_label(result: Mapping[str, Any], reset: Mapping[str, Any] | None = None) -> str:
    """The configuration a run belongs to: its ``label``, else :func:`default_label` of what it recorded."""
    reset = reset or {}
    label = result.get("label") or reset.get("label")
    if label:
        return str(label)
    return default_label(result.get("agent") or reset.get("agent"), result.get("model") or reset.get("model"),
                         result.get("agent_config") or reset.get("agent_config"))


def _short(v: Any) -> str:
    s = ",".join(map(str, v)) if isinstance(v, (list, tuple)) else str(v)
    return s if len(s) <= 40 else s[:37] + "..."
