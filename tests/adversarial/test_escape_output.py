"""Agent text never reaches env.log or the operator's terminal raw (issue 8: escape sequences
in an action name reset the terminal, set its title, wrote the clipboard)."""

from __future__ import annotations

import os
import subprocess
import sys

EVIL = "\x1b]0;title\x07\x1b[2J\x1b]52;c;cHduZWQ=\x07[bold]evil[/bold]\u202e\ud800"

AGENT = r'''
from mlgym.agents.base import Agent

EVIL = %r


class Evil(Agent):
    def run(self, env, obs, info):
        actions = [
            {"name": EVIL, "arguments": {}},
            "Action: " + EVIL + "\nAction Input: {}",
            {"name": "List Files", "arguments": {EVIL: 1}},
            {"name": "Read File", "arguments": {"file_name": EVIL}},
            {"name": "Write File", "arguments": {"file_name": "submission.csv", "content": EVIL[:-1] + ",label\n1,2\n"}},
            {"name": "Final Answer", "arguments": {"final_answer": EVIL}},
        ]
        for a in actions:
            obs, _r, terminated, truncated, info = env.step(a)
            if terminated or truncated:
                break
        return info.get("result")
''' % EVIL


def test_evil_action_names_are_escaped_in_env_log_and_runner_output(tmp_path):
    (tmp_path / "evil_agent.py").write_text(AGENT, errors="surrogateescape")
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    log_dir = tmp_path / "run"
    proc = subprocess.run(
        [sys.executable, "-m", "mlgym.runs.runner", "--task", "digits", "--agent", "evil_agent:Evil", "--log-dir", str(log_dir),
         "--work-dir", str(tmp_path / "ws")],
        env=env, capture_output=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr.decode(errors="replace")[-3000:]
    env_log = (log_dir / "env.log").read_bytes()
    for name, blob in (("env.log", env_log), ("stdout", proc.stdout), ("stderr", proc.stderr)):
        for raw in (b"\x1b", b"\x07", "\u202e".encode(), b"\xed\xa0\x80"):
            assert raw not in blob, f"{raw!r} reached {name} raw"
        assert b"Traceback" not in blob and b"Logging error" not in blob, name
    # shown, escaped and literal (markup not interpreted), where the step is logged
    assert b"\\x1b]0;title\\x07\\x1b[2J" in env_log and b"[bold]evil[/bold]" in env_log
