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
    assert res["agent_config"] == {"profile": "mlgym"} and res["label"] == "research (openai/x) / profile=mlgym"
    failed = [json.loads(x) for x in (d / "trace.jsonl").read_text().splitlines() if '"failed call"' in x]
    assert failed and "error" in failed[0]


def test_sandbox_that_cannot_start_is_one_line_and_status_error(tmp_path: Path) -> None:
    """``--memory-mb 5``: bwrap's server dies at start; one line (no 'read of closed file'), status error, exit 3."""
    from mlgym.sandbox.local import bwrap_available

    if bwrap_available():
        pytest.skip(f"local-bwrap unusable here: {bwrap_available()}")
    d = tmp_path / "mem5"
    r = _cli("mlgym.runner", "--task", "digits", "--agent", "baseline", "--memory-mb", "5", "--log-dir", str(d),
             "--work-dir", str(tmp_path / "ws"), "-q")
    assert r.returncode == 3 and "Traceback" not in r.stderr and "closed file" not in r.stderr, r.stderr
    assert r.stderr.strip().count("\n") == 0 and "5 MB memory limit" in r.stderr
    res = json.loads((d / "result.json").read_text())
    assert res["status"] == "error" and res["reason"] == "sandbox_error" and res["agent_config"] == {"memory_mb": 5}


def test_reused_log_dir_says_where_the_run_writes(tmp_path: Path) -> None:
    d = tmp_path / "D"
    argv = ("mlgym.runner", "--task", "digits", "--agent", "baseline", "--max-steps", "1", "--log-dir", str(d),
            "--work-dir", str(tmp_path / "ws"), "-q")
    assert _cli(*argv).returncode == 0
    r = _cli(*argv)
    assert r.returncode == 0, r.stderr
    note = [line for line in r.stderr.splitlines() if "already holds a run" in line]
    assert len(note) == 1 and f"--resume {d}" in note[0]
    sibling = note[0].rsplit("writes to ", 1)[1].strip()
    assert Path(sibling).parent == d.parent and Path(sibling).name.startswith("D.") and (Path(sibling) / "result.json").is_file()


@pytest.fixture
def scripted(monkeypatch: pytest.MonkeyPatch) -> Any:
    from llm_server import ScriptedLLM

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with ScriptedLLM() as server:
        yield server


@pytest.mark.parametrize("agent, reason", [("tools", "no_tool_call"), ("aide", "no_nodes")])
def test_agents_say_why_they_ended(scripted: Any, tmp_path: Path, agent: str, reason: str) -> None:
    """A tools agent whose model never calls a tool ends with reason no_tool_call; AIDE whose model never writes
    code (0 nodes) with no_nodes: a reason of its own in result.json (eval, report and view show it), not 'no submission'."""
    from mlgym.runs import runner

    scripted.default("test-model", "I would rather talk about it.")
    d = tmp_path / agent
    rc = runner.main(["--task", "digits", "--agent", agent, "--llm-name", "openai/test-model", "--llm-base-url", scripted.url,
                      "--log-dir", str(d), "--work-dir", str(tmp_path / "ws"), "-q"])
    res = json.loads((d / "result.json").read_text())
    assert rc == 0 and res["reason"] == reason and res["status"] == "success" and not res["success"]
    from mlgym.analysis.eval import run_row
    from mlgym.analysis.view import _stat_key, summarize

    assert run_row(d, max_rescore=0, use_cache=False)["reason"] == reason
    key = _stat_key(str(d))
    assert key is not None and summarize(str(d), key, None, now=0.0, stale_after=900.0)["reason"] == reason


SLOW_AGENT = '''
from mlgym.agents.base import Agent


class SlowAgent(Agent):
    """Writes a script that sleeps, runs it: an episode still running when Ctrl-C comes."""

    def run(self, env, obs, info):
        env.step({"name": "Write File", "arguments": {"file_name": "slow.py", "content": "import time; print('slow', flush=True); time.sleep(120)"}})
        print("started", flush=True)
        env.step({"name": "Execute Script", "arguments": {"script_name": "slow.py"}})
        return None
'''


def test_ctrl_c_during_rollout_is_one_line_and_cancels(tmp_path: Path) -> None:
    """Ctrl-C reaches the whole process group: the workers print nothing, the parent one line, exit 130, and every
    unfinished episode's result.json says cancelled."""
    import os
    import signal
    import time

    (tmp_path / "slow_agent.py").write_text(SLOW_AGENT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    out = tmp_path / "ro"
    proc = subprocess.Popen([sys.executable, "-m", "mlgym.cli", "rollout", "--task", "digits", "--agent", "slow_agent:SlowAgent",
                             "-n", "2", "--log-dir", str(out), "--work-dir", str(tmp_path / "ws")], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    try:
        assert proc.stdout is not None
        started = 0
        deadline = time.monotonic() + 240
        while started < 2 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            assert line, proc.stderr.read() if proc.stderr else ""
            started += line.strip() == "started"
        time.sleep(2)  # both inside Execute Script
        os.killpg(proc.pid, signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    err = "\n".join(x for x in err.splitlines() if "left out: cannot load family" not in x)
    assert proc.returncode == 130 and "Traceback" not in err and err.strip().count("\n") == 0 and "cancelled" in err, err
    for ep in ("ep000", "ep001"):
        res = json.loads((out / ep / "result.json").read_text())
        assert res["status"] == "cancelled" and res["reason"] == "interrupted" and res["episode_finished"] is False


def test_rollout_script_without_main_guard_is_one_line(tmp_path: Path) -> None:
    script = tmp_path / "noguard.py"
    script.write_text("from mlgym.rollout import rollout\n"
                      "def policy(obs, infos):\n    return [{'name': 'Final Answer', 'arguments': {'final_answer': 'x'}} for _ in obs]\n"
                      f"rollout('digits', policy, n=2, log_dir={str(tmp_path / 'r')!r}, work_dir={str(tmp_path / 'ws')!r})\n")
    r = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=240, cwd=tmp_path)
    err = "\n".join(x for x in r.stderr.splitlines() if "left out: cannot load family" not in x)
    assert r.returncode == 1 and "Traceback" not in err and err.strip().count("\n") == 0, err
    assert '__name__ == "__main__"' in err
