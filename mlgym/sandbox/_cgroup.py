"""Optional cgroup (v1 or v2) confinement for local sandboxes: pids, memory, tree kill.

Used when the host lets us create cgroups (root with a writable cgroup fs); otherwise
the local backend falls back to rlimits and process-group kills.
"""

from __future__ import annotations

import logging
import os
import signal
import uuid
from pathlib import Path

log = logging.getLogger(__name__)
ROOT = Path(os.environ.get("MLGYM_CGROUP_ROOT", "/sys/fs/cgroup"))


class Cgroup:
    """One group per sandbox.  ``None`` from :meth:`create` when cgroups are unusable."""

    def __init__(self, dirs: dict[str, Path], v2: bool) -> None:
        self.dirs = dirs
        self.v2 = v2
        self._oom_base = 0

    @classmethod
    def create(cls, memory_mb: int, max_processes: int) -> "Cgroup | None":
        if os.environ.get("MLGYM_NO_CGROUP"):
            return None
        name = f"mlgym-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        remove_stale()
        try:
            if (ROOT / "pids").is_dir() and (ROOT / "memory").is_dir():
                dirs = {"pids": ROOT / "pids" / name, "memory": ROOT / "memory" / name}
                for d in dirs.values():
                    d.mkdir()
                (dirs["pids"] / "pids.max").write_text(str(max_processes))
                (dirs["memory"] / "memory.limit_in_bytes").write_text(str(memory_mb * 1024 * 1024))
                try:  # no swap either, when the kernel accounts it
                    (dirs["memory"] / "memory.memsw.limit_in_bytes").write_text(str(memory_mb * 1024 * 1024))
                except OSError:
                    pass
                return cls(dirs, v2=False)
            if (ROOT / "cgroup.controllers").exists():
                d = ROOT / name
                d.mkdir()
                (d / "pids.max").write_text(str(max_processes))
                (d / "memory.max").write_text(str(memory_mb * 1024 * 1024))
                (d / "memory.swap.max").write_text("0")
                return cls({"pids": d, "memory": d}, v2=True)
        except OSError as e:
            log.debug("cgroups unavailable: %s", e)
            for d in locals().get("dirs", {}).values():
                try:
                    d.rmdir()
                except OSError:
                    pass
        return None

    def preexec_join(self) -> None:
        """Called in the child before exec: move it into the group(s)."""
        pid = str(os.getpid())
        for d in set(self.dirs.values()):
            with open(d / "cgroup.procs", "w") as f:
                f.write(pid)

    def pids(self) -> list[int]:
        try:
            text = (self.dirs["pids"] / "cgroup.procs").read_text()
        except OSError:
            return []
        return [int(p) for p in text.split()]

    def kill_all(self, _pid: int = 0) -> None:
        for _ in range(20):
            pids = self.pids()
            if not pids:
                return
            for p in pids:
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass

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

    def remove(self) -> None:
        self.kill_all()
        for d in set(self.dirs.values()):
            try:
                d.rmdir()
            except OSError:
                pass


def remove_stale() -> int:
    """Remove groups left by mlgym processes that died without cleaning up (e.g. SIGKILL)."""
    removed = 0
    for parent in (ROOT / "pids", ROOT / "memory", ROOT):
        if not parent.is_dir():
            continue
        try:
            entries = list(parent.glob("mlgym-*-*"))
        except OSError:
            continue
        for d in entries:
            try:
                owner = int(d.name.split("-")[1])
            except (IndexError, ValueError):
                continue
            if owner != os.getpid() and not _alive(owner):
                try:
                    d.rmdir()
                    removed += 1
                except OSError:
                    pass
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
