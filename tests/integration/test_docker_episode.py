"""A full baseline episode of the offline task under Docker, and what its containers see."""

from __future__ import annotations

import json

import pytest

from mlgym.runs import runner
from mlgym.env.core import MLGymEnv

pytestmark = pytest.mark.usefixtures("docker_ready")


def _containers(run_id: str) -> list:
    from mlgym.sandbox.docker import LABEL_RUN, connect

    return [c for c in connect().containers.list(all=True, filters={"label": LABEL_RUN}) if c.labels.get(LABEL_RUN, "").startswith(run_id)]


def test_baseline_episode_under_docker(tmp_path, capsys):
    rc = runner.main(["--task", "digits", "--agent", "baseline", "--sandbox", "docker", "-q",
                      "--log-dir", str(tmp_path / "run"), "--work-dir", str(tmp_path / "ws")])
    assert rc == 0, capsys.readouterr().err
    result = json.loads((tmp_path / "run" / "result.json").read_text())
    assert result["sandbox"] == "docker" and result["valid_submission"]
    assert result["score"] == pytest.approx(result["baseline"], abs=1e-3)
    assert _containers(result["run_id"]) == []  # agent and eval containers are gone


def test_docker_agent_container_has_no_answers_and_no_network(tmp_path):
    env = MLGymEnv("digits", sandbox="docker", log_dir=tmp_path / "log", work_dir=tmp_path / "ws")
    try:
        env.reset(seed=0)
        [container] = _containers(env.run_id)
        assert container.labels["mlgym.task"] == "digits"
        code = (
            "import os, socket\n"
            "found = [os.path.join(d, f) for d, _, fs in os.walk('/') if not d.startswith(('/proc', '/sys')) for f in fs\n"
            "         if f in ('test_labels.csv', 'digits.csv.gz') or 'benchmarks' in d.split('/')]\n"  # digits hides sklearn's copy
            "print('FOUND', found)\n"
            "try:\n    socket.create_connection(('1.1.1.1', 53), timeout=2); print('NET OPEN')\n"
            "except OSError:\n    print('NET CLOSED')\n"
            "print('UID', os.getuid())\n"
        )
        env.step({"name": "Write File", "arguments": {"file_name": "look.py", "content": code}})
        obs, *_ = env.step({"name": "Execute Script", "arguments": {"script_name": "look.py"}})
        assert "FOUND []" in obs and "NET CLOSED" in obs and "UID 0" not in obs and "UID 1000" not in obs
    finally:
        env.close()
    assert _containers(env.run_id) == []


ORPHAN = r"""
import os, signal, sys
from pathlib import Path
from mlgym.sandbox import make_sandbox
box = make_sandbox("docker", Path(sys.argv[1]), run_id=sys.argv[2], task="digits")
box.start()
os.kill(os.getpid(), signal.SIGKILL)  # no cleanup runs: the container is left behind
"""


def test_gc_removes_only_orphaned_containers(tmp_path):
    import os
    import subprocess
    import sys
    import uuid

    from mlgym.sandbox import make_sandbox
    from mlgym.sandbox.docker import gc

    orphan_id = f"orphan-{uuid.uuid4().hex[:6]}"
    subprocess.run([sys.executable, "-c", ORPHAN, str(tmp_path / "ws1"), orphan_id], env={**os.environ}, check=False)
    assert len(_containers(orphan_id)) == 1
    live_id = f"live-{uuid.uuid4().hex[:6]}"
    live = make_sandbox("docker", tmp_path / "ws2", run_id=live_id, task="digits")
    live.start()
    try:
        assert gc() >= 1
        assert _containers(orphan_id) == [] and len(_containers(live_id)) == 1  # ours is still running
    finally:
        live.stop()
    assert _containers(live_id) == []
