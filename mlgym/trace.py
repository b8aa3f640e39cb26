"""Append-only JSONL traces and content-addressed workspace snapshots.

A run's log folder::

    trace.jsonl          one JSON record per line, flushed + fsynced as written
    objects/ab/abcd...   file contents by SHA-256, each stored once
    result.json          the score (written by scoring)
    env.log              the library's log for the run
    trace.json           MLAgentBench-layout export (written at the end)

Records have a ``type``: ``reset`` (task, seed, the initial files), ``step`` (action,
observation, duration, error, reward, ``files``), ``llm`` (one model call),
``result``.  ``files`` maps workspace paths to the SHA-256 of their new content, or to
``null`` when a file was deleted; it holds only what changed since the previous
record, so a step that changed nothing stores nothing.  The full state after step *n*
is the replay of every ``files`` map up to *n* (:meth:`Trace.files_at`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import stat
import time
from pathlib import Path
from typing import Any, Iterator, Mapping

__all__ = ["Snapshotter", "Trace", "TraceWriter", "load", "restore_workspace"]

TRACE = "trace.jsonl"
OBJECTS = "objects"


class TraceWriter:
    """Appends records to ``trace.jsonl``; every record is on disk when ``append`` returns."""

    def __init__(self, log_dir: Path, *, fsync: bool = True) -> None:
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.log_dir / TRACE
        self._fh = open(self.path, "ab", buffering=0)
        self.fsync = fsync

    def append(self, record: dict[str, Any]) -> None:
        record.setdefault("time", time.time())
        line = json.dumps(record, ensure_ascii=False, default=str).encode() + b"\n"
        self._fh.write(line)  # unbuffered: one write(2) per record, so a crash leaves whole lines
        if self.fsync:
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()


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


@dataclasses.dataclass
class Trace:
    log_dir: Path
    records: list[dict[str, Any]]
    complete_lines: int
    cut_short: bool  # the last line was partial (the writer was killed mid-write)

    @property
    def steps(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("type") == "step"]

    @property
    def reset(self) -> dict[str, Any] | None:
        return next((r for r in self.records if r.get("type") == "reset"), None)

    @property
    def result(self) -> dict[str, Any] | None:
        found = [r for r in self.records if r.get("type") == "result"]
        return found[-1] if found else None

    def files_at(self, step: int | None = None) -> dict[str, str]:
        """Workspace path -> digest after ``step`` (the last one when None)."""
        state: dict[str, str] = {}
        for r in self.records:
            if r.get("type") not in ("reset", "step"):
                continue
            if step is not None and r.get("type") == "step" and r.get("step", 0) > step:
                break
            for path, digest in (r.get("files") or {}).items():
                if digest is None:
                    state.pop(path, None)
                else:
                    state[path] = digest
        return state

    def object_path(self, digest: str) -> Path:
        return self.log_dir / OBJECTS / digest[:2] / digest


def load(log_dir: str | Path) -> Trace:
    """Read a trace back; a final partial line (a crash mid-write) is ignored."""
    log_dir = Path(log_dir)
    path = log_dir / TRACE
    if not path.is_file():
        raise FileNotFoundError(f"{log_dir}: no {TRACE} here")
    records: list[dict[str, Any]] = []
    cut = False
    with open(path, "rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                cut = True
                break
            try:
                records.append(json.loads(raw))
            except json.JSONDecodeError:
                cut = True
                break
    return Trace(log_dir, records, len(records), cut)


def restore_workspace(trace: Trace, dest: Path, step: int | None = None, only: tuple[str, ...] | None = None) -> list[str]:
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

