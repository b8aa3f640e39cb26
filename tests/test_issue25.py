"""Issue 25's failure modes, each one line or an honest status: exports carry the model's reply, scores over
steps follow a restored submission, argument mistakes are one line, grids are checked strictly (unknown keys,
runner flags at --dry-run, YAML positions, labels), an unreachable LLM ends the run with status error and a
non-zero exit, run configurations are recorded and labelled, `mlgym agents` and "did you mean"."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from mlgym.analysis.eval import aggregate, submission_snapshots
from mlgym.analysis.export import episode
from mlgym.core.errors import MLGymError
from mlgym.runlog.trace import Trace
from mlgym.runs import bench


def _write(d: Path, recs: list[dict[str, Any]]) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    (d / "trace.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs))
    return d


def test_openai_export_carries_the_reply_text(tmp_path: Path) -> None:
    d = _write(tmp_path / "run", [
        {"type": "reset", "task": "digits", "run_id": "r", "tools": [], "task_description": "Solve digits."},
        {"type": "llm", "model": "m", "purpose": "research agent", "completion": "Reflection: look first.\nAction: List Files"},
        {"type": "llm", "model": "m", "purpose": "failed call", "completion": "", "error": "Connection refused"},
        {"type": "step", "step": 1, "action": {"name": "List Files", "arguments": {"dir_path": "."}}, "observation": "train.py", "reward": 0.0},
        {"type": "llm", "model": "m", "purpose": "Understand File", "completion": "a tool's reply, not the agent's"},
        {"type": "step", "step": 2, "action": {"name": "Understand File", "arguments": {"file_name": "train.py"}}, "observation": "ok", "reward": 0.0},
    ])
    msgs = episode(d, "openai")["messages"]
    assistant = [m for m in msgs if m["role"] == "assistant"]
    assert assistant[0]["content"].startswith("Reflection: look first.") and assistant[0]["tool_calls"]
    assert assistant[1]["content"] is None  # no agent reply before it (the tool's own call is not the agent's)
    chat = episode(d, "chat")["messages"]
    assert chat[1]["content"].startswith("Reflection: look first.")


def test_scores_by_step_follow_a_restored_submission(tmp_path: Path) -> None:
    trace = Trace(tmp_path, [
        {"type": "reset", "files": {"submission.csv": "a"}},
        {"type": "step", "step": 1, "files": {"submission.csv": "b"}},
        {"type": "step", "step": 2, "files": {"submission.csv": "a"}},  # restores the first submission
        {"type": "step", "step": 3, "files": {}},
    ], 4, False)
    assert submission_snapshots(trace, ["submission.csv"]) == [(0, ("a",)), (1, ("b",)), (2, ("a",))]


def test_error_runs_are_left_out_of_success_rates_and_labels_split_rows() -> None:
    base = {"task": "t", "agent": "research", "model": "m", "improvement": 0.5, "valid_submission": True, "best_improvement": 0.5,
            "steps": 3, "wall_time": 1.0, "tokens": 10, "cost": 0.0}
    rows = [{**base, "success": True, "status": "success", "label": "A"},
            {**base, "success": False, "status": "error", "label": "A", "improvement": None, "valid_submission": False},
            {**base, "success": False, "status": "success", "label": "B", "improvement": 0.0}]
    agg = {a["label"]: a for a in aggregate(rows, n_boot=50)}
    assert agg["A"]["success_rate"] == 1.0 and agg["A"]["n_errors"] == 1 and agg["A"]["n_runs"] == 1
    assert agg["B"]["success_rate"] == 0.0 and agg["B"]["n_errors"] == 0


def _cli(*argv: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *argv], capture_output=True, text=True, timeout=timeout)


def test_argument_mistakes_are_one_line() -> None:
    r = _cli("mlgym.runner", "--max-steps", "-3")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "positive integer" in r.stderr and "usage" not in r.stderr
    r = _cli("mlgym.cli", "tasks", "--family", "foldr")
    assert r.returncode == 2 and "unknown family 'foldr' (did you mean 'folder'?)" in r.stderr
    r = _cli("mlgym.runner", "--agent", "reserch")
    assert r.returncode == 2 and "did you mean 'research'" in r.stderr and "Traceback" not in r.stderr


def test_help_for_every_command_and_agents_listed() -> None:
    r = _cli("mlgym.cli", "--help")
    assert "see `mlgym" not in r.stdout.replace("mlbench-llm", "") or "view" in r.stdout
    for name in ("view", "agents", "bench", "eval"):
        assert f"    {name} " in r.stdout
    r = _cli("mlgym.cli", "agents")
    assert r.returncode == 0 and "research" in r.stdout and "needs --llm-name" in r.stdout


def _grid(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "grid.yaml"
    p.write_text(text)
    return p


def test_grid_is_checked_strictly(tmp_path: Path) -> None:
    with pytest.raises(MLGymError, match=r"unknown key\(s\) \['arg'\].*known: name, args, label"):
        bench.load_grid(_grid(tmp_path, "tasks: [digits]\nagents:\n  - {name: baseline, arg: [x]}\n"))
    with pytest.raises(MLGymError, match=r"grid.yaml:3:\d+: not valid YAML"):
        bench.load_grid(_grid(tmp_path, "tasks: [digits]\nagents: [baseline,\n  - x\n"))
    g = bench.load_grid(_grid(tmp_path, "tasks: [digits]\nagents:\n  - {name: baseline, label: cfg A}\n  - {name: baseline, args: [--max-steps, '3']}\n"))
    assert [r.log_dir.parent.name for r in g.runs] == ["cfg-A", "baseline-1"]
    assert "--label" in g.runs[0].agent_args
    bad = bench.load_grid(_grid(tmp_path, "tasks: [digits]\nagents:\n  - {name: baseline, args: [--no-such-flag]}\n"))
    with pytest.raises(MLGymError, match="bad runner flags.*--no-such-flag"):
        bench.check_args(bad)
    r = _cli("mlgym.cli", "bench", str(_grid(tmp_path, "tasks: [digits]\nagents:\n  - {name: baseline, args: [--max-steps, '-3']}\n")), "--dry-run")
    assert r.returncode == 2 and "bad runner flags" in r.stderr and "Traceback" not in r.stderr


def test_dry_run_into_a_closed_pipe_is_quiet(tmp_path: Path) -> None:
    grid = _grid(tmp_path, "tasks: [digits]\nagents: [baseline]\nseeds: 400\n")
    r = subprocess.run(f"{sys.executable} -m mlgym.cli bench {grid} --dry-run --out {tmp_path / 'o'} | head -1", shell=True,
                       capture_output=True, text=True, timeout=120)
    assert "Traceback" not in r.stderr and "BrokenPipe" not in r.stderr


def test_unreachable_llm_is_status_error_and_exit_3(tmp_path: Path) -> None:
    """Nothing listens on port 1: the run ends with status error (not an agent failure), the failed calls are in
    the trace, the label and agent_config are recorded."""
    d = tmp_path / "D"
    r = _cli("mlgym.runner", "--task", "digits", "--agent", "research", "--llm-name", "openai/x", "--llm-base-url",
             "http://127.0.0.1:1/v1", "--log-dir", str(d), "--llm-retries", "0", "--profile", "mlgym", "-q", timeout=600)
    assert r.returncode == 3, r.stdout + r.stderr
    res = json.loads((d / "result.json").read_text())
    assert res["status"] == "error" and res["reason"] == "llm_unreachable" and "LLMUnavailable" in res["error"]
    assert res["agent_config"] == {"profile": "mlgym"} and res["label"] == "research / openai/x / profile=mlgym"
    failed = [json.loads(x) for x in (d / "trace.jsonl").read_text().splitlines() if '"failed call"' in x]
    assert failed and "error" in failed[0]
