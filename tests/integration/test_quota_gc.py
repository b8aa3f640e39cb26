"""A runner killed before Quota.release() leaves its mount; the next quota collects it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlgym.sandbox import quota

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="quota mounts need root (CI runs as root)")

CHILD = """
import sys, time
from pathlib import Path
from mlgym.sandbox.quota import Quota
q = Quota.mount(Path(sys.argv[1]), 16)
print(q.kind, flush=True)
time.sleep(600)
"""


@pytest.mark.parametrize("tmpfs", [False, True])
def test_killed_owner_quota_is_collected(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tmpfs: bool) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    env = dict(os.environ)
    if tmpfs:  # force the tmpfs kind: a PATH with mount but no mkfs.ext4
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        for tool in ("mount", "umount"):
            (bin_dir / tool).symlink_to(shutil.which(tool) or f"/usr/bin/{tool}")
        env["PATH"] = str(bin_dir)
    proc = subprocess.Popen([sys.executable, "-c", CHILD, str(ws)], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    kind = proc.stdout.readline().strip()
    assert kind in ("loop-ext4", "tmpfs")
    assert kind == ("tmpfs" if tmpfs else "loop-ext4")
    assert quota.mounted(ws)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    time.sleep(0.05)
    assert quota.mounted(ws)  # the dead runner left it
    assert quota.remove_stale() >= 1
    assert not quota.mounted(ws)
    assert not list(tmp_path.glob(".ws.mlgym-*.img"))


def test_live_owner_quota_is_kept(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    q = quota.Quota.mount(ws, 16)
    try:
        quota.remove_stale()
        assert q.kind == "soft" or quota.mounted(ws)
    finally:
        q.release()
    assert not quota.mounted(ws)
