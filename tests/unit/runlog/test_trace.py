"""Append-only traces, content-addressed snapshots, reload after a kill, resume, scoring from disk."""

from __future__ import annotations

import pytest

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from mlgym import cli

from mlgym.runs import runner
from mlgym.runlog.trace import load, restore_workspace


def _objects_bytes(log_dir: Path) -> int:
    return sum(p.stat().st_size for p in (log_dir / "objects").rglob("*") if p.is_file())


def test_snapshots_store_only_changes(env_factory):
    env = env_factory(max_steps=100)
    env.reset(seed=0)
    (env.workspace / "big.bin").write_bytes(os.urandom(5 * 2**20))
    env.step({"name": "Write File", "arguments": {"file_name": "a.txt", "content": "v1"}})
    after_first = _objects_bytes(env.log_dir)
    assert after_first > 5 * 2**20  # the big file, stored once
    for _ in range(10):
        env.step({"name": "Execute Script", "arguments": {"script_name": "nothing.py"}})  # error, no change
        env.step({"name": "List Files", "arguments": {}})
    assert _objects_bytes(env.log_dir) == after_first
    env.step({"name": "Write File", "arguments": {"file_name": "a.txt", "content": "v2"}})
    assert _objects_bytes(env.log_dir) == after_first + 2
    env.step({"name": "Write File", "arguments": {"file_name": "a.txt", "content": "v1"}})  # known content
    assert _objects_bytes(env.log_dir) == after_first + 2
    trace = load(env.log_dir)
    steps = trace.steps
    assert len(steps) == 23 and all(s["files"] == {} for s in steps[1:21])
    assert trace.files_at(1)["a.txt"] == trace.files_at(23)["a.txt"] != trace.files_at(22)["a.txt"]
    out = env.log_dir.parent / "restored"
    restore_workspace(trace, out, step=22)
    assert (out / "a.txt").read_text() == "v2" and (out / "train.py").is_file()


def test_deleted_file_recorded(env_factory):
    env = env_factory()
    env.reset(seed=0)
    env.step({"name": "Write File", "arguments": {"file_name": "gone.py", "content": "import os; os.remove('train.py')"}})
    env.step({"name": "Execute Script", "arguments": {"script_name": "gone.py"}})
    trace = load(env.log_dir)
    assert trace.steps[-1]["files"] == {"train.py": None}
    assert "train.py" not in trace.files_at()


KILLED_RUN = r"""
import os, signal, sys
from mlgym.env.core import MLGymEnv
env = MLGymEnv("digits", log_dir=sys.argv[1], work_dir=sys.argv[2])
env.reset(seed=0)
env.step({"name": "Execute Script", "arguments": {"script_name": "train.py"}})
env.step({"name": "List Files", "arguments": {}})
env.writer._fh.write(b'{"type": "step", "step": 3, "obs')  # killed in the middle of a write
os.kill(os.getpid(), signal.SIGKILL)
"""


@pytest.mark.slow
def test_killed_run_reloads_scores_and_resumes(tmp_path, capsys):
    log_dir = tmp_path / "killed"
    proc = subprocess.run([sys.executable, "-c", KILLED_RUN, str(log_dir), str(tmp_path / "ws")], env={**os.environ})
    assert proc.returncode == -signal.SIGKILL
    trace = load(log_dir)
    assert trace.cut_short and len(trace.steps) == 2 and trace.result is None
    assert not (log_dir / "result.json").exists()
    # scored from what is on disk
    assert cli.main(["score", str(log_dir), "--write"]) == 0
    scored = json.loads((log_dir / "result.json").read_text())
    assert scored["valid_submission"] and scored["reason"] == "scored_from_trace"
    # resumed: the workspace comes back from the snapshots, steps continue
    (log_dir / "result.json").unlink()
    rc = runner.main(["--task", "digits", "--agent", "baseline", "--resume", str(log_dir), "--work-dir", str(tmp_path / "ws2"), "-q"])
    assert rc == 0
    result = json.loads((log_dir / "result.json").read_text())
    assert result["steps"] == 5 and result["valid_submission"]
    lines = (log_dir / "trace.jsonl").read_bytes().split(b"\n")
    assert any(b'"type": "resume"' in line for line in lines)
