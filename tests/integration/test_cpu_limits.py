"""Issue 21: CPU limits hold on local as on Docker, and agent code sees them the way ML
libraries read them (os.cpu_count, sched_getaffinity, joblib/loky's physical cores)."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pytest

from mlgym.sandbox import cpu
from mlgym.sandbox._cgroup import ROOT
from mlgym.sandbox.backends import make_sandbox
from mlgym.sandbox.base import Limits
from mlgym.sandbox.local import bwrap_available

CGROUPS = os.geteuid() == 0 and ((ROOT / "cpu").is_dir() or (ROOT / "cgroup.controllers").exists())
needs_cgroups = pytest.mark.skipif(not CGROUPS, reason="CPU limits on local need root and a cgroup file system")
needs_bwrap = pytest.mark.skipif(bwrap_available() is not None, reason="bwrap unusable here")
TWO = len(os.sched_getaffinity(0)) >= 2

SEE = r'''
import json, os, warnings
with warnings.catch_warnings(record=True) as w:
    warnings.simplefilter("always")
    from joblib.externals.loky import cpu_count
    phys = cpu_count(only_physical_cores=True)
print(json.dumps({"cpu_count": os.cpu_count(), "affinity": sorted(os.sched_getaffinity(0)), "loky": cpu_count(),
                  "loky_physical": phys, "warnings": [str(x.message) for x in w]}))
'''

# two busy processes for `wall` seconds; prints the CPU seconds they used
BURN = r'''
import multiprocessing as mp, resource, time
def spin(t):
    end = time.monotonic() + t
    while time.monotonic() < end:
        pass
if __name__ == "__main__":
    ps = [mp.Process(target=spin, args=(2.0,)) for _ in range(2)]
    [p.start() for p in ps]; [p.join() for p in ps]
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(ru.ru_utime + ru.ru_stime)
'''


def _seen(box: Any) -> dict[str, Any]:
    r = box.exec(["python3", "-c", SEE])
    assert r.ok, r.stderr[-2000:]
    out: dict[str, Any] = json.loads(r.stdout.strip().splitlines()[-1])
    return out


def test_cpulist_round_trip() -> None:
    assert cpu.parse_cpulist("0-2,5,7-8") == [0, 1, 2, 5, 7, 8]
    assert cpu.format_cpulist([8, 0, 1, 2, 5, 7]) == "0-2,5,7-8"
    assert cpu.choose_cores(0.5, None, [0, 1, 2, 3], slot=1) == [1]
    assert cpu.choose_cores(None, 2, [0, 1, 2, 3], slot=1) == [2, 3]
    assert cpu.choose_cores(None, None, [0, 1]) == [0, 1]


@needs_bwrap
def test_loky_counts_cores_inside_the_sandbox(tmp_path: Path) -> None:
    """Without /sys/devices/system/cpu lscpu prints nothing and loky warns '0 physical cores'."""
    with make_sandbox("local", tmp_path / "ws", limits=Limits(timeout=120)) as box:
        seen = _seen(box)
    assert seen["loky_physical"] >= 1 and not [w for w in seen["warnings"] if "physical cores" in w], seen


@needs_bwrap
@needs_cgroups
@pytest.mark.skipif(not TWO, reason="needs two cores to show a narrowed set")
def test_local_quota_and_cores_are_enforced_and_visible(tmp_path: Path) -> None:
    with make_sandbox("local", tmp_path / "ws", limits=Limits(timeout=120, cpus=0.5)) as box:
        seen = _seen(box)
        assert seen["cpu_count"] == 1 and len(seen["affinity"]) == 1, seen
        assert seen["loky"] == 1 and seen["loky_physical"] == 1, seen
        r = box.exec(["python3", "-c", BURN])
        assert r.ok, r.stderr[-2000:]
        used = float(r.stdout.split()[-1])
    # 0.5 CPU for ~2 s of wall clock: ~1 CPU-second at most (2 unlimited spinners take up to 4)
    assert used < 1.5, f"{used:.2f} CPU-s used under a 0.5-CPU limit"
    with make_sandbox("local", tmp_path / "ws2", limits=Limits(timeout=120, cores=1)) as box:
        assert len(_seen(box)["affinity"]) == 1


@needs_cgroups
@pytest.mark.skipif(not TWO, reason="needs two cores to show a narrowed set")
def test_local_plain_cores_are_enforced(tmp_path: Path) -> None:
    with make_sandbox("local-plain", tmp_path / "ws", limits=Limits(timeout=120, cpus=1.0)) as box:
        r = box.exec(["python3", "-c", "import os; print(len(os.sched_getaffinity(0)))"])
    assert r.ok and r.stdout.strip() == "1", r.stdout + r.stderr


@pytest.mark.usefixtures("docker_ready")
@pytest.mark.skipif(not TWO, reason="needs two cores to show a narrowed set")
def test_docker_cores_follow_the_limit(tmp_path: Path) -> None:
    box: Any = make_sandbox("docker", tmp_path / "ws", limits=Limits(timeout=120, cpus=0.5),
                            run_id=f"cpu-{uuid.uuid4().hex[:8]}", task="cpu")
    with box:
        r = box.exec(["python3", "-c", "import os; print(len(os.sched_getaffinity(0)))"])
        assert r.ok and r.stdout.strip() == "1", r.stdout + r.stderr
        host = box.container.attrs["HostConfig"]
        assert host["NanoCpus"] == 500_000_000 and host["CpusetCpus"]


@needs_bwrap
@needs_cgroups
def test_sandbox_check_reports_each_limit(tmp_path: Path) -> None:
    from mlgym.sandbox.report import limits_report

    with make_sandbox("local", tmp_path / "ws", limits=Limits(timeout=60, cpus=1.0)) as box:
        rows = {name: (ok, how) for name, ok, how in limits_report(box)}
    for name in ("syscall filter", "session keyring", "cpu quota", "cores", "memory", "processes"):
        assert rows[name][0], (name, rows[name])


def test_amlb_constraint_cores_reach_the_episode_limits() -> None:
    """AMLB's constraint names the cores: the task's limits carry them, the episode's sandbox gets that cpuset."""
    from mlgym.tasks.spec import TaskSpec

    spec = TaskSpec.load("amlb/small/car/7@1h8c")
    assert spec.limits.cores == 8
    assert TaskSpec.load("digits").limits.cores == 0
    try:
        from mlgym.env.episode import episode_limits
    except ImportError:  # older layout: the env module computes them itself
        from mlgym.env.core import _episode_limits as episode_limits  # type: ignore[attr-defined,no-redef]
    assert episode_limits(spec).cores == 8
