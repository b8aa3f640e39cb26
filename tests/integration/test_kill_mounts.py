"""Issue 21: per-episode mounts die with the runner.  SIGKILL the runner while its workspace
quota is mounted: no mount, no loop device and no image are left for a later command to collect
(the runner's quota lives in its own private mount namespace).  And a run killed after its
result record but before result.json gets that record back, with its original ending."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlgym.runlog.trace import load
from mlgym.sandbox import quota

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "helpers"))
import test_kill_resume as K  # noqa: E402

ROOT = os.geteuid() == 0
needs_root = pytest.mark.skipif(not ROOT, reason="quota mounts need root")

HOLDER = r'''
import sys, time
from pathlib import Path
from mlgym.sandbox.mountns import enter_private
from mlgym.sandbox.quota import Quota
assert enter_private(), "no private mount namespace"
q = Quota.mount(Path(sys.argv[1]), 64)
(Path(sys.argv[1]) / "f").write_text("x")
print(q.kind, flush=True)
time.sleep(600)
'''


def _loops_backed_by(folder: Path) -> list[str]:
    found = []
    for d in Path("/sys/block").glob("loop*"):
        try:
            backing = (d / "loop" / "backing_file").read_text().strip()
        except OSError:
            continue
        if backing.startswith(str(folder)):
            found.append(f"{d.name}: {backing}")
    return found


def _leftovers(parent: Path, ws: Path) -> list[str]:
    left = [f"mounted: {ws}"] if quota.mounted(ws) else []
    left += [f"image: {p}" for p in parent.glob(".*.mlgym-*.img")]
    return left + _loops_backed_by(parent)


@needs_root
def test_quota_mount_dies_with_its_process(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(ws)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        kind = proc.stdout.readline().strip()
        assert kind == "loop-ext4", kind
        assert not quota.mounted(ws)  # not in our namespace at all
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    for _ in range(50):  # the kernel tears the namespace down right after the last process
        if not _leftovers(tmp_path, ws):
            break
        time.sleep(0.1)
    assert _leftovers(tmp_path, ws) == []
    ws.rmdir()


@needs_root
def test_runner_killed_leaves_no_mount(tmp_path: Path) -> None:
    log_dir = tmp_path / "log"
    ws = tmp_path / "ws"
    status = K._kill_when(tmp_path, log_dir, lambda: len(K._records(log_dir)) >= 3)
    assert status == -signal.SIGKILL
    time.sleep(0.3)
    left = _leftovers(tmp_path, ws)
    assert left == [], f"the killed runner left {left}"


def test_resume_restores_result_json_with_its_ending(tmp_path: Path) -> None:
    log_dir = tmp_path / "log"
    (tmp_path / "killtest_agent.py").write_text(K.AGENT)
    argv = [sys.executable, "-m", "mlgym.runs.runner", "--task", "digits", "--agent", "killtest_agent:Scripted",
            "--log-dir", str(log_dir), "--work-dir", str(tmp_path / "ws"), "-q"]
    assert subprocess.run(argv, env=K._env(tmp_path), capture_output=True, timeout=300).returncode == 0
    recorded = load(log_dir).result
    assert recorded is not None
    (log_dir / "result.json").unlink()  # killed after the result record, before result.json
    r = K._resume(tmp_path, log_dir)
    assert r.returncode == 0, r.stderr[-2000:]
    restored = json.loads((log_dir / "result.json").read_text())
    want = {k: v for k, v in recorded.items() if k not in ("type", "time")}
    assert restored == want and restored.get("reason") != "scored_from_trace"
