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
import json
import os
import time
from pathlib import Path
from typing import Any

from mlgym.snapshot import OBJECTS, Snapshotter, restore_workspace  # re-exported: callers import them from here

__all__ = ["Snapshotter", "Trace", "TraceWriter", "load", "restore_workspace"]

TRACE = "trace.jsonl"


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
