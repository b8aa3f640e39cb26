"""Per-episode workspace size quota: a size-limited file system mounted on the workspace.

Without it one step can fill the host's disk (issue 8: 6 GiB in one step).  Three kinds,
best first:

* ``loop-ext4`` (root): a sparse ext4 image ``.<workspace>.img`` in the workspace's parent
  folder (outside every sandbox), loop-mounted ``nosuid,nodev`` on the workspace and
  deleted at :meth:`Quota.release`.  Writes past the quota fail with ENOSPC inside the
  sandbox.  It only occupies what is written (sparse), plus a few MiB of metadata.
* ``tmpfs`` (root, when loop devices or ``mkfs.ext4`` are missing): ``size=``,
  ``nosuid,nodev``; the files live in memory (and swap).
* ``soft`` (not root, or mounting failed): nothing stops a write; :meth:`Quota.exceeded`
  measures allocated blocks after each step and the env refuses to run scripts while over.

The mount is root-owned: the sandbox backend hands the workspace over to its uid at start.
Mount plus unmount of a 4 GiB quota cost ~80 ms + ~90 ms once per episode (loop-ext4, measured here).
"""

from __future__ import annotations

import logging
import os
import re
import stat
import subprocess
from pathlib import Path

from mlgym.sandbox._cgroup import _alive
from mlgym.sandbox import mountns

__all__ = ["Quota", "mounted", "remove_stale"]

log = logging.getLogger(__name__)
MiB = 1024 * 1024
_MKFS = ["mkfs.ext4", "-q", "-F", "-m", "0", "-O", "^has_journal", "-E", "lazy_itable_init=1,nodiscard"]
_FULL = MiB  # a mounted quota counts as exceeded below this much free space
# The owner's pid is in the image's file name / the tmpfs source, so that quotas left by a
# runner that was killed before release() can be found and collected (remove_stale).
_IMAGE_RE = re.compile(r"\.mlgym-(\d+)\.img(?: \(deleted\))?$")
_TMPFS_RE = re.compile(r"^mlgym-quota-(\d+)$")


def mounted(path: Path) -> bool:
    """True when ``path`` is a mount point in this process's mount namespace."""
    target = os.path.realpath(path)
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                fields = line.split()
                if len(fields) > 4 and _unescape(fields[4]) == target:
                    return True
    except OSError:
        pass
    return False


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes."""
    for code, ch in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        field = field.replace(code, ch)
    return field


def _run(argv: list[str]) -> None:
    subprocess.run(argv, check=True, capture_output=True, timeout=120)


class Quota:
    """A workspace size limit; see the module docstring.  Build with :meth:`mount`."""

    def __init__(self, workspace: Path, size_mb: int, kind: str, image: Path | None = None) -> None:
        self.workspace = workspace
        self.size_mb = size_mb
        self.kind = kind  # "loop-ext4", "tmpfs" or "soft"
        self.image = image
        self._mounted = kind != "soft"

    @classmethod
    def mount(cls, workspace: Path, size_mb: int) -> "Quota":
        """Limit ``workspace`` (an empty, just-created folder) to ``size_mb`` MiB."""
        workspace = Path(os.path.realpath(workspace))
        if os.geteuid() == 0 and not os.environ.get("MLGYM_QUOTA_SOFT"):
            remove_stale()
            if any(workspace.iterdir()):
                raise ValueError(f"{workspace} is not empty: mount the quota before laying out files")
            try:
                return cls._loop_ext4(workspace, size_mb)
            except (OSError, subprocess.SubprocessError) as e:
                log.info("workspace quota: no loop-mounted ext4 (%s); trying tmpfs", _why(e))
            try:
                _run(["mount", "-t", "tmpfs", "-o", f"size={size_mb}m,nosuid,nodev,mode=0700", f"mlgym-quota-{os.getpid()}", str(workspace)])
                return cls(workspace, size_mb, "tmpfs")
            except (OSError, subprocess.SubprocessError) as e:
                log.warning("workspace quota: cannot mount a size-limited file system (%s); soft quota", _why(e))
        return cls(workspace, size_mb, "soft")

    @classmethod
    def _loop_ext4(cls, workspace: Path, size_mb: int) -> "Quota":
        image = workspace.parent / f".{workspace.name}.mlgym-{os.getpid()}.img"
        fd = os.open(image, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            os.ftruncate(fd, size_mb * MiB)  # sparse: blocks are allocated as the agent writes
        finally:
            os.close(fd)
        try:
            _run([*_MKFS, str(image)])
            _run(["mount", "-t", "ext4", "-o", "loop,nosuid,nodev", str(image), str(workspace)])
        except BaseException:
            image.unlink(missing_ok=True)
            raise
        try:
            (workspace / "lost+found").rmdir()  # not the agent's; e2fsck would recreate it
        except OSError:
            pass
        os.chmod(workspace, 0o700)
        if mountns.private():  # the mount dies with this namespace: the loop device holds the image till then
            image.unlink(missing_ok=True)
            return cls(workspace, size_mb, "loop-ext4", None)
        return cls(workspace, size_mb, "loop-ext4", image)

    def usage(self) -> int:
        """Bytes allocated in the workspace (st_blocks: a sparse file counts what it occupies)."""
        if self._mounted:
            st = os.statvfs(self.workspace)
            return (st.f_blocks - st.f_bfree) * st.f_frsize
        return _allocated(self.workspace)

    def exceeded(self) -> str | None:
        """A one-line message for the agent when the workspace is (nearly) full, else None."""
        used = self.usage()
        if self._mounted:
            st = os.statvfs(self.workspace)
            full = st.f_bavail * st.f_frsize < _FULL
        else:
            full = used > self.size_mb * MiB
        if not full:
            return None
        return (f"workspace quota exceeded: {used / MiB:.0f} MiB used of {self.size_mb} MiB; "
                "delete files before running scripts (writes fail with 'No space left on device')")

    def release(self) -> None:
        """Unmount (the files on it are gone: the trace keeps them) and delete the image.
        Idempotent."""
        if self._mounted:
            if mounted(self.workspace):
                try:
                    _run(["umount", str(self.workspace)])
                except (OSError, subprocess.SubprocessError):
                    _run(["umount", "-l", str(self.workspace)])  # still busy: detach now, freed when unused
            self._mounted = False
        if self.image is not None:
            self.image.unlink(missing_ok=True)
            self.image = None


def remove_stale() -> int:
    """Unmount (lazily) the quotas of mlgym processes that are gone (a SIGKILLed runner never
    ran release()) and delete their images; returns how many.  Root only; cheap (one read
    of mountinfo) when there is nothing to collect."""
    if os.geteuid() != 0:
        return 0
    removed = 0
    for target, source in _mounts():
        image: str | None = None
        m = _TMPFS_RE.match(source)
        if m is None and source.startswith("/dev/loop"):
            try:
                with open(f"/sys/block/{os.path.basename(source)}/loop/backing_file", encoding="utf-8") as f:
                    image = f.read().strip()
            except OSError:
                continue
            m = _IMAGE_RE.search(image)
        if m is None or _alive(int(m.group(1))):
            continue
        try:
            _run(["umount", "-l", target])
            removed += 1
        except (OSError, subprocess.SubprocessError) as e:
            log.debug("cannot collect the stale quota on %s: %s", target, _why(e))
            continue
        if image is not None:
            try:
                os.unlink(image.removesuffix(" (deleted)"))
            except OSError:
                pass
    return removed


def _mounts() -> list[tuple[str, str]]:
    """(mount point, source) of every mount in this namespace."""
    out = []
    try:
        with open("/proc/self/mountinfo", encoding="utf-8", errors="surrogateescape") as f:
            for line in f:
                head, _, tail = line.partition(" - ")
                fields, rest = head.split(), tail.split()
                if len(fields) > 4 and len(rest) > 1:
                    out.append((_unescape(fields[4]), _unescape(rest[1])))
    except OSError:
        pass
    return out


def _why(e: BaseException) -> str:
    if isinstance(e, subprocess.CalledProcessError):
        return (e.stderr or b"").decode(errors="replace").strip()[-300:] or f"exit {e.returncode}"
    return str(e)


def _allocated(root: Path, max_depth: int = 512) -> int:
    """Sum of st_blocks under ``root``, walked by dir fds without following links; each
    inode counted once."""
    seen: set[tuple[int, int]] = set()
    total = 0

    def walk(dfd: int, depth: int) -> None:
        nonlocal total
        with os.scandir(dfd) as it:
            entries = list(it)
        for e in entries:
            try:
                st = e.stat(follow_symlinks=False)
            except OSError:
                continue
            if st.st_nlink > 1:
                if (st.st_dev, st.st_ino) in seen:
                    continue
                seen.add((st.st_dev, st.st_ino))
            total += st.st_blocks * 512
            if stat.S_ISDIR(st.st_mode) and depth < max_depth:
                try:
                    sub = os.open(e.name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dfd)
                except OSError:
                    continue
                try:
                    walk(sub, depth + 1)
                finally:
                    os.close(sub)

    try:
        top = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return 0
    try:
        walk(top, 0)
    finally:
        os.close(top)
    return total
