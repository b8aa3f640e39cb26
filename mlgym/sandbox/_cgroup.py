"""Optional cgroup (v1 or v2) confinement for local sandboxes: pids, memory, freeze, tree kill.

Used when the host lets us create cgroups (root with a writable cgroup fs); otherwise
the local backend falls back to rlimits and process-group kills.

The host does not trust anything inside the sandbox to clean up: :meth:`Cgroup.sweep`
kills every process of the group except the few it was told to keep (the bwrap and
process-server pids recorded at start), with the group frozen while it reads and kills
so that a fork loop cannot outrun it.  Groups are named ``mlgym-<owner pid>-<random>``
so that :func:`remove_stale` can collect the groups of a runner that died (SIGKILL).
"""

from __future__ import annotations

import errno
import logging
import os
import signal
import time
import uuid
from pathlib import Path
from functools import partial
from typing import Callable, Iterable

import mlgym.sandbox.cpu as cpu

log = logging.getLogger(__name__)
ROOT = Path(os.environ.get("MLGYM_CGROUP_ROOT", "/sys/fs/cgroup"))
_REMOVE_WAIT = 5.0  # seconds remove() keeps killing and retrying rmdir (EBUSY) before giving up


class Cgroup:
    """One group per sandbox.  ``None`` from :meth:`create` when cgroups are unusable."""

    def __init__(self, dirs: dict[str, Path], v2: bool) -> None:
        self.dirs = dirs  # controller -> directory ("pids", "memory", optionally "freezer", "cpu", "cpuset")
        self.v2 = v2
        self._oom_base = 0
        self.cores: list[int] | None = None  # the cpuset, when CPU limits were asked for

    @classmethod
    def create(cls, memory_mb: int, max_processes: int, cpus: float | None = None,
               cores: int | None = None) -> "Cgroup | None":
        """``cpus`` (a CFS quota) and ``cores`` (a cpuset of that many cores; default ceil(cpus)):
        see :mod:`mlgym.sandbox.cpu`."""
        if os.environ.get("MLGYM_NO_CGROUP"):
            return None
        want = cpu.choose_cores(cpus, cores, cpu.host_cpus()) if cpu.limited(cpus, cores) else None
        name = f"mlgym-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        remove_stale()
        made: list[Path] = []
        try:
            if (ROOT / "pids").is_dir() and (ROOT / "memory").is_dir():
                dirs = {"pids": ROOT / "pids" / name, "memory": ROOT / "memory" / name}
                if (ROOT / "freezer").is_dir():
                    dirs["freezer"] = ROOT / "freezer" / name
                for d in dirs.values():
                    d.mkdir()
                    made.append(d)
                (dirs["pids"] / "pids.max").write_text(str(max_processes))
                (dirs["memory"] / "memory.limit_in_bytes").write_text(str(memory_mb * 1024 * 1024))
                try:  # no swap either, when the kernel accounts it
                    (dirs["memory"] / "memory.memsw.limit_in_bytes").write_text(str(memory_mb * 1024 * 1024))
                except OSError:
                    pass
                if want is not None:
                    extra = cpu.set_v1(ROOT, name, cpus, want)
                    made += extra.values()
                    dirs.update(extra)
                group = cls(dirs, v2=False)
                group.cores = want
                return group
            if (ROOT / "cgroup.controllers").exists():
                d = ROOT / name
                d.mkdir()
                made.append(d)
                (d / "pids.max").write_text(str(max_processes))
                (d / "memory.max").write_text(str(memory_mb * 1024 * 1024))
                (d / "memory.swap.max").write_text("0")
                if want is not None:
                    cpu.set_v2(ROOT, d, cpus, want)
                group = cls({"pids": d, "memory": d, "freezer": d}, v2=True)
                group.cores = want
                return group
        except OSError as e:
            log.debug("cgroups unavailable: %s", e)
            for d in made:
                _rmdir(d)
        return None

    def preexec_join(self) -> None:
        """Called in the child before exec: move it into the group(s)."""
        pid = str(os.getpid())
        for d in set(self.dirs.values()):
            with open(d / "cgroup.procs", "w") as f:
                f.write(pid)

    def pids(self) -> list[int]:
        return _procs(self.dirs["pids"])

    def _freeze(self, frozen: bool) -> bool:
        """Freeze (or thaw) the group; True when it is frozen on return.  Bounded wait."""
        d = self.dirs.get("freezer")
        if d is None:
            return False
        return _set_frozen(d, frozen, self.v2)

    def sweep(self, keep: Iterable[int] = ()) -> int:
        """Kill every process in the group but ``keep``; returns how many were killed.

        Nothing of the group needs to cooperate: processes are read from the group,
        frozen (so a fork loop cannot add one between the read and the kill), killed,
        thawed (frozen processes die when thawed).  The common case, nothing left, costs
        one read of ``cgroup.procs``."""
        spare = set(keep)
        killed = 0
        for attempt in range(200):
            victims = [p for p in self.pids() if p not in spare]
            if not victims:
                return killed
            frozen = self._freeze(True)
            try:
                for p in [p for p in self.pids() if p not in spare] if frozen else victims:
                    try:
                        os.kill(p, signal.SIGKILL)
                        killed += 1
                    except ProcessLookupError:
                        pass
            finally:
                if frozen:
                    self._freeze(False)
            time.sleep(0.001 * min(attempt, 20))
        log.warning("processes survive in %s after 200 sweeps", self.dirs["pids"])
        return killed

    def kill_all(self, _pid: int = 0) -> None:
        self.sweep(())

    def _oom_kills(self) -> int:
        """Cumulative OOM kills in the group (v1 ``memory.oom_control``, v2 ``memory.events``)."""
        d = self.dirs["memory"]
        try:
            text = (d / ("memory.events" if self.v2 else "memory.oom_control")).read_text()
            return int(dict(line.split() for line in text.splitlines()).get("oom_kill", 0))
        except (OSError, ValueError):
            return 0

    def oom_killed(self) -> bool:
        """True when the memory limit killed a process since the last :meth:`reset_oom`."""
        if self._oom_kills() > self._oom_base:
            return True
        if self.v2:
            return False
        try:  # v1 kernels that do not report oom_kill: the limit was hit
            return int((self.dirs["memory"] / "memory.failcnt").read_text()) > 0
        except (OSError, ValueError):
            return False

    def reset_oom(self) -> None:
        self._oom_base = self._oom_kills()  # the counters only grow
        if not self.v2:
            try:
                (self.dirs["memory"] / "memory.failcnt").write_text("0")
            except OSError:
                pass

    def remove(self) -> bool:
        """Kill everything in the group and remove its directories; True when all are gone.

        A group only disappears once its last process is reaped, and ``rmdir`` says EBUSY
        until then: keep killing and retrying for a bounded time instead of leaving an
        empty group behind.  What is still left then is collected by :func:`remove_stale`."""
        if self.v2:
            _write(self.dirs["pids"] / "cgroup.kill", "1")
        return _remove_dirs(list(dict.fromkeys(self.dirs.values())), self.kill_all)


def _procs(d: Path) -> list[int]:
    try:
        text = (d / "cgroup.procs").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def _write(path: Path, value: str) -> bool:
    try:
        path.write_text(value)
        return True
    except OSError:
        return False


def _set_frozen(d: Path, frozen: bool, v2: bool) -> bool:
    if v2:
        if not _write(d / "cgroup.freeze", "1" if frozen else "0"):
            return False
        want, probe = ("frozen 1" if frozen else "frozen 0"), d / "cgroup.events"
    else:
        if not _write(d / "freezer.state", "FROZEN" if frozen else "THAWED"):
            return False
        want, probe = ("FROZEN" if frozen else "THAWED"), d / "freezer.state"
    until = time.monotonic() + 1.0
    while time.monotonic() < until:
        try:
            if want in probe.read_text():
                return frozen
        except OSError:
            return False
        time.sleep(0.0005)
    return False


def _rmdir(d: Path) -> bool:
    """True when ``d`` is gone; False while the kernel still says EBUSY (or anything else)."""
    try:
        d.rmdir()
    except FileNotFoundError:
        return True
    except OSError as e:
        if e.errno != errno.EBUSY:
            log.debug("cannot remove cgroup %s: %s", d, e)
        return False
    return True


def _remove_dirs(dirs: list[Path], kill: Callable[[], object]) -> bool:
    until = time.monotonic() + _REMOVE_WAIT
    pause = 0.001
    while True:
        kill()
        left = [d for d in dirs if not _rmdir(d)]
        if not left:
            return True
        if time.monotonic() >= until:
            log.warning("cgroup(s) still busy after %.0f s: %s", _REMOVE_WAIT, ", ".join(map(str, left)))
            return False
        dirs = left
        time.sleep(pause)
        pause = min(pause * 2, 0.1)


def _kill_dirs(dirs: list[Path], v2: bool) -> None:
    """Kill what is in one group (its directories under each controller) and thaw it:
    killed frozen processes only die once thawed."""
    for _ in range(50):
        pids = {p for d in dirs for p in _procs(d)}
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for d in dirs:
            if d.parent.name == "freezer" or v2:
                _set_frozen(d, False, v2)
        if not pids:
            return
        time.sleep(0.002)


def remove_stale() -> int:
    """Remove groups left by mlgym processes that died without cleaning up (e.g. SIGKILL):
    their processes are killed (a frozen group is thawed) and the directories removed.
    Returns the number of directories removed."""
    groups: dict[str, list[Path]] = {}
    for parent in (ROOT / "pids", ROOT / "memory", ROOT / "freezer", ROOT / "cpu", ROOT / "cpuset", ROOT):
        try:
            entries = list(parent.glob("mlgym-*-*")) if parent.is_dir() else []
        except OSError:
            continue
        for d in entries:
            try:
                owner = int(d.name.split("-")[1])
            except (IndexError, ValueError):
                continue
            if owner != os.getpid() and d.is_dir() and not _alive(owner):
                groups.setdefault(d.name, []).append(d)
    removed = 0
    for dirs in groups.values():
        v2 = dirs[0].parent == ROOT
        if v2:
            _write(dirs[0] / "cgroup.kill", "1")
        _remove_dirs(dirs, partial(_kill_dirs, dirs, v2))
        removed += sum(not d.exists() for d in dirs)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
