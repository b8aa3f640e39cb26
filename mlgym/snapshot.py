"""Content-addressed workspace snapshots: which files changed since the last step, stored once.

Split from :mod:`mlgym.trace` (records) so the host-side walk of the agent-controlled
workspace lives in one place.  See :mod:`mlgym.trace` for the log folder layout.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Iterator, Mapping

if TYPE_CHECKING:
    from mlgym.trace import Trace

__all__ = ["OBJECTS", "Snapshotter", "restore_workspace"]

OBJECTS = "objects"


class Snapshotter:
    """Finds which workspace files changed since the last call and stores new contents once.

    A file is hashed only when its (size, mtime, inode) changed, so an untouched 50 MB
    file costs one ``stat`` per step.  Files larger than ``max_file_bytes`` are recorded
    as ``"skipped:<size>"`` instead of being stored.
    """

    def __init__(self, workspace: Path, log_dir: Path, *, exclude: tuple[str, ...] = ("data",), max_file_bytes: int = 100 * 2**20) -> None:
        self.workspace = Path(workspace)
        self.objects = Path(log_dir) / OBJECTS
        self.exclude = set(exclude)
        self.max_file_bytes = max_file_bytes
        self._stat: dict[str, tuple[int, int, int]] = {}
        self._hash: dict[str, str] = {}
        self.bytes_stored = 0

    def _walk(self, base: Path, rel: str = "") -> Iterator[tuple[str, os.stat_result, str]]:
        with os.scandir(base) as it:
            for e in it:
                name = f"{rel}{e.name}"
                if not rel and e.name in self.exclude:
                    continue
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    yield from self._walk(Path(e.path), name + "/")
                elif stat.S_ISREG(st.st_mode):
                    yield name, st, e.path
                elif stat.S_ISLNK(st.st_mode):
                    yield name, st, e.path

    def _store(self, path: str, st: os.stat_result) -> str:
        if stat.S_ISLNK(st.st_mode):  # recorded, never stored or restored: it may point anywhere
            return "symlink:" + os.readlink(path)
        if st.st_size > self.max_file_bytes:
            return f"skipped:{st.st_size}"
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
        digest = h.hexdigest()
        self._put(digest, src=path)
        return digest

    def _put(self, digest: str, *, src: str) -> None:
        dest = self.objects / digest[:2] / digest
        if dest.exists():
            return
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_suffix(".tmp")
        shutil.copyfile(src, tmp)
        os.replace(tmp, dest)
        self.bytes_stored += dest.stat().st_size

    def changes(self) -> dict[str, str | None]:
        """Paths whose content changed (new digest) or vanished (None) since last call."""
        seen: set[str] = set()
        changed: dict[str, str | None] = {}
        for name, st, path in self._walk(self.workspace):
            seen.add(name)
            key = (st.st_size, st.st_mtime_ns, st.st_ino)
            if self._stat.get(name) == key:
                continue
            self._stat[name] = key
            digest = self._store(path, st)
            if self._hash.get(name) != digest:
                self._hash[name] = digest
                changed[name] = digest
        for name in list(self._hash):
            if name not in seen:
                del self._hash[name]
                self._stat.pop(name, None)
                changed[name] = None
        return changed

    def prime(self, files: Mapping[str, str | None]) -> None:
        """Start from a known state (resume), so the next ``changes`` is a true diff."""
        self._hash = {k: v for k, v in files.items() if v is not None}
        self._stat = {}


def restore_workspace(trace: "Trace", dest: Path, step: int | None = None, only: tuple[str, ...] | None = None) -> list[str]:
    """Write the files of ``step`` (default: last) into ``dest``; returns the paths written.

    Files recorded as skipped (too large) and symlinks are left out.
    """
    written = []
    for path, digest in trace.files_at(step).items():
        if only is not None and path not in only:
            continue
        if digest.startswith(("skipped:", "symlink:")):
            continue
        target = dest / path
        target.parent.mkdir(parents=True, exist_ok=True)
        src = trace.object_path(digest)
        shutil.copyfile(src, target)
        written.append(path)
    return written

