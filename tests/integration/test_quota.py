"""The per-episode workspace quota (mlgym.sandbox.quota) with a real sandbox writing into it."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterator

import pytest

from mlgym.sandbox import Limits, make_sandbox
from mlgym.sandbox.quota import MiB, Quota, mounted

ROOT = os.geteuid() == 0


@pytest.fixture
def quota(tmp_path: Path) -> Iterator[Quota]:
    ws = tmp_path / "ws"
    ws.mkdir()
    q = Quota.mount(ws, 32)
    yield q
    q.release()


def test_kind(quota: Quota) -> None:
    if ROOT:
        assert quota.kind in ("loop-ext4", "tmpfs") and mounted(quota.workspace)
        st = os.statvfs(quota.workspace)
        assert st.f_flag & os.ST_NOSUID and st.f_flag & os.ST_NODEV
    else:
        assert quota.kind == "soft" and not mounted(quota.workspace)


def test_writing_past_the_quota_fails_inside_the_sandbox(quota: Quota) -> None:
    if quota.kind == "soft":
        pytest.skip("a soft quota stops nothing (measured after the step)")
    code = (
        "import os\n"
        "try:\n"
        "    with open('big', 'wb') as f:\n"
        "        for _ in range(64): f.write(b'x' * 2**20); f.flush()\n"
        "    print('WROTE ALL')\n"
        "except OSError as e:\n"
        "    print('errno', e.errno)\n"
    )
    with make_sandbox("local", quota.workspace, limits=Limits(timeout=60)) as sb:
        r = sb.exec(["python3", "-c", code])
        assert "errno 28" in r.stdout, r  # ENOSPC
        assert quota.exceeded() is not None and "quota" in (quota.exceeded() or "")
        r = sb.exec(["sh", "-c", "rm big && echo small > small.txt && cat small.txt"])
        assert r.stdout == "small\n", r
        assert quota.exceeded() is None


def test_usage_counts_sparse_files_by_blocks(quota: Quota) -> None:
    before = quota.usage()
    with open(quota.workspace / "sparse", "wb") as f:
        f.truncate(20 * MiB)  # 20 MiB apparent, nothing allocated
        f.write(b"x" * 4096)
    assert quota.usage() - before < 1 * MiB
    assert quota.exceeded() is None
    (quota.workspace / "dense").write_bytes(b"y" * (4 * MiB))
    os.sync()
    assert quota.usage() - before >= 4 * MiB


def test_soft_quota_reports_when_over(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGYM_QUOTA_SOFT", "1")
    ws = tmp_path / "soft"
    ws.mkdir()
    q = Quota.mount(ws, 1)
    assert q.kind == "soft"
    (ws / "d").mkdir()
    (ws / "d" / "f").write_bytes(b"z" * (2 * MiB))
    os.link(ws / "d" / "f", ws / "hardlink")  # counted once
    assert 2 * MiB <= q.usage() < 3 * MiB
    msg = q.exceeded()
    assert msg is not None and "\n" not in msg
    q.release()
    q.release()


def test_release_is_idempotent_and_leaves_no_mount(tmp_path: Path) -> None:
    ws = tmp_path / "rel"
    ws.mkdir()
    q = Quota.mount(ws, 16)
    (ws / "f").write_text("x")
    image = q.image
    q.release()
    q.release()
    assert not mounted(ws)
    assert str(ws) not in Path("/proc/self/mountinfo").read_text()
    assert image is None or not image.exists()
    assert q.kind == "soft" or not (ws / "f").exists()  # the files lived on the quota's file system
