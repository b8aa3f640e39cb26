"""MLAgentBench's ``trace.json``, written from our trace at the end of every episode (a run exporter).

MLAgentBench's own tools read ``<log_dir>/trace.json``: ``{"steps": [{"action": {"name", "args"},
"observation", "timestamp"}], "low_level_steps": [], "task_description"}``.  The env calls this
through the catalog: the family offers it as a run exporter (:func:`mlgym.families.base.run_exporters`).
"""

from __future__ import annotations

from typing import Any

from mlgym.runlog.jsonio import write_json
from mlgym.runlog.trace import Trace

__all__ = ["write_trace_json"]


def write_trace_json(trace: Trace, task: Any) -> None:
    """``trace.json`` in MLAgentBench's layout next to ``trace.jsonl``."""
    steps = [
        {"action": {"name": r["action"]["name"], "args": r["action"]["arguments"]}, "observation": r["observation"], "timestamp": r["time"]}
        for r in trace.steps
    ]
    write_json(trace.log_dir / "trace.json", {"steps": steps, "low_level_steps": [], "task_description": task.description})
