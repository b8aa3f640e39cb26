"""Content-addressed workspace snapshots: which files changed since the last step, stored once.

Split from :mod:`mlgym.runlog.trace` (records) so the host-side walk of the agent-controlled
workspace lives in one place.  See :mod:`mlgym.runlog.trace` for the log folder layout.

The workspace is hostile and may change under the walk (agent processes can outlive a
step on some backends): the walk goes through :func:`mlgym.core.fs.walk` (directory fds, no
symlink followed, FIFOs and devices never opened), each file is opened by fd relative
to its directory with ``O_NOFOLLOW | O_NONBLOCK`` and the digest is of the bytes actually
copied, so a swap after the ``stat`` cannot make it store another file.  Totals are
capped per step and per episode by apparent size (a sparse file costs what it claims);
anything not stored is recorded as ``"skipped:<size>"`` and said in :attr:`Snapshotter.last_notes`.
Nothing in the workspace makes it raise.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import secrets
import stat
from collections import Counter
from pathlib import Path
from typing import Iterator, Mapping, Protocol

from mlgym.core import fs
from mlgym.core.errors import MLGymError

__all__ = ["OBJECTS", "Snapshotter", "restore_workspace"]

log = logging.getLogger("mlgym")
OBJECTS = "objects"
MiB = 2**20
_DIGEST = re.compile(r"[0-9a-f]{64}")
_SUID = stat.S_ISUID | stat.S_ISGID


class Recorded(Protocol):
    """What :func:`restore_workspace` reads: a recorded workspace (a :class:`mlgym.runlog.trace.Trace`)."""

    def files_at(self, step: int | None = None) -> dict[str, str]: ...

    def object_path(self, digest: str) -> Path: ...


class _Skip(Exception):
    """This entry is not recorded this step (changed type under us, vanished...)."""


class Snapshotter:
    """Finds which workspace files changed since the last call and stores new contents once.

    A file is hashed only when its (size, mtime, inode) changed, so an untouched 50 MB
    file costs one ``stat`` per step.  Files larger than ``max_file_bytes``, or past the
    ``step_bytes`` / ``episode_bytes`` caps on bytes read and stored, are recorded as
    ``"skipped:<size>"`` (cap-skipped ones are tried again next step).
    """

    def __init__(self, workspace: Path, log_dir: Path, *, exclude: tuple[str, ...] = ("data",), max_file_bytes: int = 100 * MiB,
                 step_bytes: int = 256 * MiB, episode_bytes: int = 2048 * MiB) -> None:
        self.workspace = Path(workspace)
        self.objects = Path(log_dir) / OBJECTS
        self.exclude = set(exclude)
        self.max_file_bytes = max_file_bytes
        self.step_bytes = step_bytes
        self.episode_bytes = episode_bytes
        self._stat: dict[str, tuple[int, int, int]] = {}
        self._hash: dict[str, str] = {}
        self.bytes_stored = 0  # apparent bytes added to objects/ this episode
        self.last_notes: list[str] = []  # for the observation: what the last changes() left out
        self._step_left = 0
        self._why: Counter[str] = Counter()
        self._unread: list[str] = []

    def changes(self) -> dict[str, str | None]:
        """Paths whose content changed (new digest) or vanished (None) since last call."""
        self._step_left = self.step_bytes
        self._why = Counter()
        self._unread = []
        seen: set[str] = set()
        changed: dict[str, str | None] = {}
        try:
            for e in fs.walk(self.workspace, exclude_top=self.exclude, on_error=self._walk_error):
                try:
                    e.path.encode("utf-8")
                except UnicodeEncodeError:
                    self._why["names that are not UTF-8"] += 1
                    continue
                seen.add(e.path)
                try:
                    digest = self._visit(e)
                except (_Skip, OSError):
                    continue  # keep what we had; it is looked at again next step
                if digest is not None and self._hash.get(e.path) != digest:
                    self._hash[e.path] = digest
                    changed[e.path] = digest
        except OSError as err:  # the workspace itself is gone or unreadable
            self._unread.append(f"the workspace ({err.strerror})")
            seen.update(self._hash)
        for name in list(self._hash):
            if name not in seen:
                del self._hash[name]
                self._stat.pop(name, None)
                changed[name] = None
        self.last_notes = self._notes()
        return changed

    def _walk_error(self, path: str, why: str) -> None:
        self._unread.append(f"{fs.escape(path)} ({why})")

    def _notes(self) -> list[str]:
        notes = []
        step, episode = self._why.pop("step cap", 0), self._why.pop("episode cap", 0)
        if step:
            notes.append(f"{step} files not saved: snapshot cap of {self.step_bytes // MiB} MiB per step reached")
        if episode:
            notes.append(f"{episode} files not saved: snapshot cap of {self.episode_bytes // MiB} MiB per episode reached")
        if self._why.get("over size"):
            notes.append(f"{self._why.pop('over size')} files over {self.max_file_bytes // MiB} MiB not saved in the snapshot")
        if self._why.get("setuid"):
            notes.append(f"setuid/setgid bits cleared on {self._why.pop('setuid')} files")
        notes += [f"{n} files not saved in the snapshot: {why}" for why, n in sorted(self._why.items())]
        if self._unread:
            more = f" and {len(self._unread) - 3} more" if len(self._unread) > 3 else ""
            notes.append("not saved in the snapshot: " + ", ".join(self._unread[:3]) + more)
        return notes

    def _visit(self, e: fs.WalkEntry) -> str | None:
        """The record for one entry, or None when there is nothing new to say."""
        st = e.st
        if stat.S_ISREG(st.st_mode) and st.st_mode & _SUID:
            self._clear_suid(e)
        key = (st.st_size, st.st_mtime_ns, st.st_ino)
        if self._stat.get(e.path) == key:
            return None
        if stat.S_ISLNK(st.st_mode):  # recorded, never stored or restored: it may point anywhere
            self._stat[e.path] = key
            return "symlink:" + fs.escape(os.readlink(e.name, dir_fd=e.dir_fd))
        if not stat.S_ISREG(st.st_mode):
            raise _Skip  # FIFOs, sockets, devices: never opened, never recorded
        if st.st_size > self.max_file_bytes:
            self._stat[e.path] = key
            self._why["over size"] += 1
            return f"skipped:{st.st_size}"
        fd = os.open(e.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY, dir_fd=e.dir_fd)
        try:
            fst = os.fstat(fd)
            if not stat.S_ISREG(fst.st_mode):
                raise _Skip  # swapped for a FIFO or device after the stat
            size = fst.st_size
            if size > self.max_file_bytes:
                return f"skipped:{size}"
            if size > self._step_left:
                self._why["step cap"] += 1
                return f"skipped:{size}"
            if self.bytes_stored + size > self.episode_bytes:
                self._why["episode cap"] += 1
                return f"skipped:{size}"
            self._step_left -= size
            digest = self._store(fd, size)
        finally:
            os.close(fd)
        self._stat[e.path] = (fst.st_size, fst.st_mtime_ns, fst.st_ino)
        return digest

    def _clear_suid(self, e: fs.WalkEntry) -> None:
        """A setuid/setgid file in the workspace is never left so, whoever it would run as."""
        with contextlib.suppress(OSError):
            fd = os.open(e.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY, dir_fd=e.dir_fd)
            try:
                fst = os.fstat(fd)
                if stat.S_ISREG(fst.st_mode) and fst.st_mode & _SUID:
                    os.fchmod(fd, stat.S_IMODE(fst.st_mode) & ~_SUID)
                    self._why["setuid"] += 1
            finally:
                os.close(fd)

    def _store(self, fd: int, size: int) -> str:
        """Hash the first ``size`` bytes of ``fd``; copy them into objects/ unless already there.

        The copy is hashed again as it is written and stored under that digest, so what
        is stored always matches its name even if the file changes meanwhile.  Blocks of
        zeros are skipped with a seek, so a sparse file stays sparse in objects/.
        """
        h = hashlib.sha256()
        for block in _blocks(fd, size):
            h.update(block)
        digest = h.hexdigest()
        if (self.objects / digest[:2] / digest).exists():
            return digest
        self.objects.mkdir(parents=True, exist_ok=True)
        tmp = self.objects / f"tmp-{secrets.token_hex(8)}"
        os.lseek(fd, 0, os.SEEK_SET)
        h, n = hashlib.sha256(), 0
        try:
            with open(tmp, "xb") as out:
                for block in _blocks(fd, size):
                    h.update(block)
                    n += len(block)
                    if block.count(0) == len(block):
                        out.seek(len(block), os.SEEK_CUR)
                    else:
                        out.write(block)
                out.truncate(n)
            digest = h.hexdigest()
            dest = self.objects / digest[:2] / digest
            if not dest.exists():
                dest.parent.mkdir(exist_ok=True)
                os.replace(tmp, dest)
                self.bytes_stored += n
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        return digest

    def prime(self, files: Mapping[str, str | None]) -> None:
        """Start from a known state (resume), so the next ``changes`` is a true diff."""
        self._hash = {k: v for k, v in files.items() if v is not None}
        self._stat = {}


def _blocks(fd: int, size: int) -> Iterator[bytes]:
    """At most ``size`` bytes of ``fd`` from where it is (a growing file is read only so far)."""
    with os.fdopen(fd, "rb", buffering=0, closefd=False) as f:
        yield from fs.iter_chunks(f, size, 1 << 20)


def restore_workspace(trace: Recorded, dest: Path, step: int | None = None, only: tuple[str, ...] | None = None,
                      *, owner: tuple[int, int] | None = None) -> list[str]:
    """Write the files of ``step`` (default: last) into ``dest``; returns the paths written.

    Files recorded as skipped (too large) and symlinks are left out.  ``dest`` may already
    be visible to agent code, so every file goes through :func:`mlgym.core.fs.write_stream`
    (no link followed, temp file + rename); a path that cannot be written is logged and left out.
    """
    written: list[str] = []
    Path(dest).mkdir(parents=True, exist_ok=True)
    for path, digest in trace.files_at(step).items():
        if only is not None and path not in only:
            continue
        if not _DIGEST.fullmatch(digest):
            continue  # "skipped:<size>", "symlink:<target>"
        try:
            with open(trace.object_path(digest), "rb") as src:
                fs.write_stream(Path(dest), path, fs.iter_chunks(src), owner=owner)
        except (OSError, MLGymError) as e:
            log.warning("not restored: %s (%s)", fs.escape(path), fs.escape(str(e)))
            continue
        written.append(path)
    return written
