"""CPU limits of the local sandbox: a CFS quota for a fractional ``cpus`` and a cpuset for the
cores, set on the sandbox's own cgroup, and made *visible* inside bwrap the way ML libraries
read them.

Enforcement (root, the group the sandbox's memory/pids limits already use):

* cgroup v2: ``<group>/cpu.max = "<quota> <period>"`` and ``<group>/cpuset.cpus`` (the root's
  ``cgroup.subtree_control`` gets ``+cpu +cpuset``);
* cgroup v1: ``cpu/<group>/cpu.cfs_quota_us`` (+ ``cpu.cfs_period_us``) and
  ``cpuset/<group>/cpuset.cpus`` (+ ``cpuset.mems`` copied from the parent: a v1 cpuset
  without mems refuses tasks).

Cores: ``Limits.cores`` when a constraint names them (AMLB), else ``ceil(cpus)``; consecutive
sandboxes of one runner start at different cores so that concurrent episodes spread.

Visibility (bwrap arguments from :func:`bwrap_args`):

* the cpuset narrows the affinity mask: ``os.sched_getaffinity``, ``nproc``, OpenMP/MKL
  defaults, loky's count;
* ``/sys/devices/system/cpu`` is bound read-only (``lscpu --parse=core`` needs it; without it
  loky counts 0 physical cores and warns), and over it an ``online`` file listing only the
  sandbox's cores: glibc's ``get_nprocs()`` (``os.cpu_count()``, ``multiprocessing.cpu_count()``)
  reads that file.
"""

from __future__ import annotations

import itertools
import math
import os
from pathlib import Path

PERIOD_US = 100_000
_slots = itertools.count()


def parse_cpulist(text: str) -> list[int]:
    """"0-2,5" -> [0, 1, 2, 5]."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if part:
            lo, _, hi = part.partition("-")
            cpus.extend(range(int(lo), int(hi or lo) + 1))
    return cpus


def format_cpulist(cpus: list[int]) -> str:
    """[0, 1, 2, 5] -> "0-2,5"."""
    out: list[str] = []
    run: list[int] = []
    for c in sorted(set(cpus)) + [-2]:
        if run and c == run[-1] + 1:
            run.append(c)
            continue
        if run:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
        run = [c]
    return ",".join(out)


def host_cpus() -> list[int]:
    return sorted(os.sched_getaffinity(0))


def choose_cores(cpus: float | None, cores: int | None, available: list[int], slot: int | None = None) -> list[int]:
    """The cores a sandbox gets: ``cores`` when given, else ceil(cpus), else all of ``available``."""
    want = cores if cores else (math.ceil(cpus) if cpus else len(available))
    want = max(1, min(want, len(available)))
    if want == len(available):
        return list(available)
    start = ((next(_slots) if slot is None else slot) * want) % len(available)
    return sorted(available[(start + i) % len(available)] for i in range(want))


def limited(cpus: float | None, cores: int | None) -> bool:
    return bool(cpus) or bool(cores)


def set_v1(root: Path, name: str, cpus: float | None, cores: list[int]) -> dict[str, Path]:
    """Create ``cpu/<name>`` and ``cpuset/<name>`` with the quota and the cores; returns them
    by controller (the caller joins and removes them with the group's other directories)."""
    made: dict[str, Path] = {}
    cpu, cpuset = root / "cpu" / name, root / "cpuset" / name
    if cpus and (root / "cpu").is_dir():
        cpu.mkdir()
        made["cpu"] = cpu
        (cpu / "cpu.cfs_period_us").write_text(str(PERIOD_US))
        (cpu / "cpu.cfs_quota_us").write_text(str(max(1000, int(cpus * PERIOD_US))))
    if (root / "cpuset").is_dir():
        cpuset.mkdir()
        made["cpuset"] = cpuset
        (cpuset / "cpuset.cpus").write_text(format_cpulist(cores))
        (cpuset / "cpuset.mems").write_text((root / "cpuset" / "cpuset.mems").read_text().strip())
    return made


def set_v2(root: Path, group: Path, cpus: float | None, cores: list[int]) -> None:
    ctl = root / "cgroup.subtree_control"
    have = ctl.read_text().split()
    need = [c for c in ("cpu", "cpuset") if c not in have]
    if need:
        ctl.write_text(" ".join("+" + c for c in need))
    if cpus:
        (group / "cpu.max").write_text(f"{max(1000, int(cpus * PERIOD_US))} {PERIOD_US}")
    (group / "cpuset.cpus").write_text(format_cpulist(cores))


def read_quota(dirs: dict[str, Path], v2: bool) -> float | None:
    """The CPU quota the group holds, in CPUs (None: none)."""
    try:
        if v2:
            quota, period = (dirs["pids"] / "cpu.max").read_text().split()
            return None if quota == "max" else int(quota) / int(period)
        d = dirs.get("cpu")
        if d is None:
            return None
        q = int((d / "cpu.cfs_quota_us").read_text())
        return None if q < 0 else q / int((d / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError, KeyError):
        return None


def read_cores(dirs: dict[str, Path], v2: bool) -> list[int] | None:
    d = dirs["pids"] if v2 else dirs.get("cpuset")
    try:
        return parse_cpulist((d / "cpuset.cpus").read_text()) if d is not None else None
    except (OSError, ValueError):
        return None


def bwrap_args(cores: list[int] | None) -> tuple[list[str], list[int]]:
    """bwrap arguments that show the limit inside, and the fds they read (pass them to the
    child, close them after it started).  ``cores`` None: only the cpu folder (for lscpu)."""
    if not Path("/sys/devices/system/cpu").is_dir():
        return [], []
    # parents made 0755 explicitly (bwrap makes them 0700, root-owned), the data file 0444
    # (bwrap's default for --ro-bind-data is 0600: unreadable for the sandbox uid)
    args = [x for d in ("/sys", "/sys/devices", "/sys/devices/system") for x in ("--perms", "0755", "--dir", d)]
    args += ["--ro-bind", "/sys/devices/system/cpu", "/sys/devices/system/cpu"]
    if cores is None:
        return args, []
    r, w = os.pipe()
    os.write(w, (format_cpulist(cores) + "\n").encode())  # a few bytes: fits the pipe buffer
    os.close(w)
    return args + ["--perms", "0444", "--ro-bind-data", str(r), "/sys/devices/system/cpu/online"], [r]
