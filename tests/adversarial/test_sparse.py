"""Issue 21: what a submission brings into scoring is capped in total (files, apparent size,
allocated blocks), copies keep holes holes, and the scoring scratch is under a quota of its own:
two sparse 1 GiB files that cost the agent nothing must not cost the host gigabytes."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mlgym.core import fs
from mlgym.core.errors import ActionError
from mlgym.grading import isolate

GiB = 1 << 30


def _sparse(path: Path, size: int, data: bytes = b"x" * 5000, at: int = 1 << 20) -> None:
    with open(path, "wb") as f:
        f.truncate(size)
        f.seek(at)
        f.write(data)


def test_copy_keeps_holes(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    _sparse(src / "big", GiB)
    fs.copy_out(src, "big", tmp_path / "out" / "big")
    st = os.stat(tmp_path / "out" / "big")
    assert st.st_size == GiB and st.st_blocks * 512 < 1 << 20, f"the copy allocates {st.st_blocks * 512} bytes"
    with open(tmp_path / "out" / "big", "rb") as f:
        f.seek(1 << 20)
        assert f.read(5000) == b"x" * 5000


def test_totals_are_capped(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for name in ("a", "b"):
        _sparse(src / name, GiB)
    budget = fs.CopyBudget(files=10, apparent=GiB + GiB // 2, allocated=1 << 20)
    fs.copy_out(src, "a", tmp_path / "out" / "a", budget=budget)
    with pytest.raises(ActionError, match="apparent size"):
        fs.copy_out(src, "b", tmp_path / "out" / "b", budget=budget)
    assert not (tmp_path / "out" / "b").exists()
    (src / "dense").write_bytes(os.urandom(2 << 20))
    with pytest.raises(ActionError, match="allocated size"):
        fs.copy_out(src, "dense", tmp_path / "out" / "dense", budget=fs.CopyBudget(files=10, apparent=GiB, allocated=1 << 20))
    assert not (tmp_path / "out" / "dense").exists() and not list((tmp_path / "out").glob(".*tmp"))
    with pytest.raises(ActionError, match="files"):
        fs.copy_out(src, "dense", tmp_path / "out" / "d2", budget=fs.CopyBudget(files=0, apparent=GiB, allocated=GiB))


def test_sparse_submission_costs_the_host_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The issue's attack on an MLAgentBench-style task (every file the agent wrote is scored):
    two sparse 1 GiB files beside the submission.  The copies stay sparse (or are refused), and
    the grader runs in a scratch folder under a quota."""
    from mlgym.grading.scoring import evaluate
    from mlgym.tasks.data import prepare
    from mlgym.tasks.spec import TaskSpec

    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path / "data"))
    mab = tmp_path / "benchmarks"
    t = mab / "sparse-mab"
    (t / "env").mkdir(parents=True)
    (t / "scripts").mkdir()
    (t / "scripts" / "prepare.py").write_text("pass\n")
    (t / "scripts" / "research_problem.txt").write_text("Write submission.csv.\n")
    # get_score reports how much the copies allocate, and whether its folder is under a quota
    (t / "scripts" / "eval.py").write_text(
        "import os\n\ndef get_score(submission_folder='../env'):\n"
        "    names = [n for n in os.listdir(submission_folder) if n[:1] == 's' and n[1:].isdigit()]\n"
        "    used = sum(os.stat(os.path.join(submission_folder, n)).st_blocks * 512 for n in names)\n"
        "    st = os.statvfs(submission_folder)\n"
        "    print('ALLOC', used, 'FS', st.f_blocks * st.f_frsize)\n"
        "    return float(used)\n")
    monkeypatch.setenv("MLGYM_BENCHMARKS", str(mab))
    spec = TaskSpec.load("sparse-mab")
    data = prepare(spec)
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "submission.csv").write_text("y\n1\n")
    _sparse(ws / "s1", GiB)
    _sparse(ws / "s2", GiB)
    res = evaluate(spec, data, ws)
    assert res["valid_submission"], res["error"]
    assert res["score"] < 1 << 20, f"scoring allocated {res['score']} bytes for two sparse files"
    # over the apparent total: refused, not copied
    for i in range(3, 6):
        _sparse(ws / f"s{i}", GiB)
    monkeypatch.setattr(isolate, "SUBMISSION_APPARENT_MAX", 3 * GiB)
    res = evaluate(spec, data, ws)
    # scored on what fits (copied sparse), or refused as over the total: never 5 GiB on the host
    assert (res["valid_submission"] and res["score"] < 1 << 20) or "cap" in (res["error"] or ""), res


@pytest.mark.skipif(os.geteuid() != 0, reason="the scoring quota is a loop mount (root)")
def test_scoring_scratch_is_under_a_quota(tmp_path: Path) -> None:
    folder = tmp_path / "q"
    folder.mkdir()
    quota = isolate.scratch_quota(folder)
    try:
        assert quota.kind in ("loop-ext4", "tmpfs")
        st = os.statvfs(folder)
        limit = (isolate.SUBMISSION_ALLOCATED_MAX >> 20) + isolate.SCRATCH_ROOM_MB
        assert st.f_blocks * st.f_frsize <= (limit + 64) << 20
    finally:
        quota.release()
