"""SIGKILL the runner at seeded moments (during reset, between and inside steps, during the
eval), then load, score and resume: nothing recorded is lost, the run keeps its run_id,
and no scoring leftovers (``mlgym-eval-*`` with the submission and answers) survive."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable

import pytest

from mlgym import cli

from mlgym.runs import runner
from mlgym.sandbox import quota
from mlgym.runlog.trace import load

AGENT = r'''
import time
from mlgym.agents.base import Agent

SUBMIT = ("import pandas as pd\n"
          "te = pd.read_csv('data/test.csv')\n"
          "pd.DataFrame({'id': te['id'], 'label': 0}).to_csv('submission.csv', index=False)\n")


class Scripted(Agent):
    """Writes and runs a zero-predictor, lists files a few times, answers; slowly enough to be killed."""

    def run(self, env, obs, info):
        plan = [{"name": "Write File", "arguments": {"file_name": "zero.py", "content": SUBMIT}},
                {"name": "Execute Script", "arguments": {"script_name": "zero.py"}}]
        plan += [{"name": "Write File", "arguments": {"file_name": f"note{i}.txt", "content": "x" * 1000 * i}} for i in range(6)]
        plan += [{"name": "Final Answer", "arguments": {"final_answer": "zeros"}}]
        for action in plan:
            time.sleep(0.1)
            obs, _r, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        return info.get("result")
'''


def _env(tmp_path: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
            "MLGYM_SCRATCH": str(tmp_path / "scratch")}


def _records(log_dir: Path) -> list[dict]:
    return load(log_dir).records if (log_dir / "trace.jsonl").exists() else []


def _eval_dirs(tmp_path: Path) -> list[Path]:
    return list((tmp_path / "scratch").glob("*/mlgym-eval-*"))


def _kill_when(tmp_path: Path, log_dir: Path, moment: Callable[[], bool], timeout: float = 60) -> int:
    """Start the runner, SIGKILL it as soon as ``moment()`` holds; returns the exit status."""
    (tmp_path / "killtest_agent.py").write_text(AGENT)
    argv = [sys.executable, "-m", "mlgym.runs.runner", "--task", "digits", "--agent", "killtest_agent:Scripted",
            "--log-dir", str(log_dir), "--work-dir", str(tmp_path / "ws"), "-q"]
    proc = subprocess.Popen(argv, env=_env(tmp_path), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    try:
        while proc.poll() is None and time.monotonic() < deadline:
            if moment():
                proc.send_signal(signal.SIGKILL)
                break
            time.sleep(0.002)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.wait()


def _resume(tmp_path: Path, log_dir: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "mlgym.runs.runner", "--agent", "killtest_agent:Scripted", "--resume", str(log_dir),
            "--work-dir", str(tmp_path / "ws2"), "-q", *extra]
    return subprocess.run(argv, env=_env(tmp_path), capture_output=True, text=True, timeout=300)


def _moments(log_dir: Path, tmp_path: Path, rng: random.Random) -> dict[str, Callable[[], bool]]:
    k = rng.randrange(2, 7)
    return {
        "during reset": lambda: (log_dir / "env.log").exists(),
        f"after {k} records": lambda: len(_records(log_dir)) >= k,
        "during eval": lambda: bool(_eval_dirs(tmp_path)),
    }


@pytest.mark.parametrize("which", [0, 1, 2])
def test_kill_then_load_score_resume(tmp_path, which):
    rng = random.Random(int(os.environ.get("MLGYM_KILL_SEED", "0")) * 10 + which)
    log_dir = tmp_path / "run"
    name, moment = list(_moments(log_dir, tmp_path, rng).items())[which]
    rc = _kill_when(tmp_path, log_dir, moment)
    assert rc == -signal.SIGKILL, f"{name}: the runner was not killed (rc {rc})"
    if os.geteuid() == 0:  # the killed runner's workspace quota mount is collected, not leaked
        quota.remove_stale()
        left = [t for t, _src in quota._mounts() if t.startswith(str(tmp_path))]
        assert not left, f"{name}: quota mounts left behind: {left}"
    before = _records(log_dir)
    reset = next((r for r in before if r.get("type") == "reset"), None)
    if reset is not None:  # something to score from the snapshot
        scored = runner_score(log_dir)
        assert scored["reason"] == "scored_from_trace" and scored["episode_finished"] is False
    done = _resume(tmp_path, log_dir)
    assert done.returncode == 0, f"{name}: {done.stderr[-2000:]}"
    after = load(log_dir)
    assert after.records[: len(before)] == before, f"{name}: records recorded before the kill were lost or changed"
    assert after.finished and after.result is not None and after.bad_lines == 0
    result = json.loads((log_dir / "result.json").read_text())
    assert result["episode_finished"] is True and result["valid_submission"], result
    if reset is not None:
        assert result["run_id"] == reset["run_id"] == after.result["run_id"]
        assert result["wall_time"] >= max([r.get("elapsed", 0.0) for r in before] + [0.0])
        assert [r["step"] for r in after.steps] == list(range(1, len(after.steps) + 1))
    assert _eval_dirs(tmp_path) == [], f"{name}: scoring leftovers survived: {_eval_dirs(tmp_path)}"
    again = _resume(tmp_path, log_dir)  # a finished run: nothing to do, and it says so
    assert again.returncode == 0 and "already finished" in again.stderr
    assert load(log_dir).records == after.records


def runner_score(log_dir: Path) -> dict:
    assert cli.main(["score", str(log_dir), "--write"]) == 0
    return json.loads((log_dir / "result.json").read_text())


def test_unstarted_trace_starts_afresh_and_torn_line_is_repaired(tmp_path, capsys):
    (tmp_path / "killtest_agent.py").write_text(AGENT)
    sys.path.insert(0, str(tmp_path))
    try:
        # killed between creating trace.jsonl and writing the reset record: no empty-workspace "resume"
        empty = tmp_path / "empty"
        empty.mkdir()
        (empty / "trace.jsonl").write_bytes(b"")
        assert runner.main(["--agent", "killtest_agent:Scripted", "--resume", str(empty), "--work-dir", str(tmp_path / "ws"), "-q"]) == 0
        fresh = load(empty)
        assert fresh.reset is not None and fresh.finished and fresh.result["valid_submission"]
        # a torn last line: cut off before appending, everything after it readable
        torn = tmp_path / "torn"
        assert runner.main(["--agent", "killtest_agent:Scripted", "--log-dir", str(torn), "--work-dir", str(tmp_path / "ws"), "-q"]) == 0
        lines = (torn / "trace.jsonl").read_bytes().splitlines(keepends=True)
        cut = [ln for ln in lines if b'"type": "result"' not in ln]
        (torn / "trace.jsonl").write_bytes(b"".join(cut[:4]) + cut[4][:25])
        (torn / "result.json").unlink()
        assert load(torn).cut_short
        # a conflicting --task is refused; a missing one comes from the trace
        assert runner.main(["--task", "spaceship-titanic", "--agent", "killtest_agent:Scripted", "--resume", str(torn), "-q"]) == 2
        assert "run of task 'digits'" in capsys.readouterr().err
        assert runner.main(["--agent", "killtest_agent:Scripted", "--resume", str(torn), "--work-dir", str(tmp_path / "ws"), "-q"]) == 0
        resumed = load(torn)
        assert not resumed.cut_short and resumed.finished and resumed.records[:4] == [json.loads(c) for c in cut[:4]]
        assert (torn / "trace.jsonl.torn").read_bytes() == cut[4][:25] + b"\n"
    finally:
        sys.path.remove(str(tmp_path))
