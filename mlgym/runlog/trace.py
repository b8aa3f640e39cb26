"""Append-only JSONL traces and content-addressed workspace snapshots.

A run's log folder::

    trace.jsonl          one JSON record per line, written as appended, fsynced right after
    objects/ab/abcd...   file contents by SHA-256, each stored once
    result.json          the score (written by scoring)
    env.log              the library's log for the run
    trace.json           MLAgentBench-layout export (written at the end)
    trace.jsonl.torn     a line cut by a kill, moved aside when the trace is reopened (rare)

Records have a ``type``: ``reset`` (task, seed, the initial files), ``step`` (action,
observation, duration, error, reward, ``files``), ``llm`` (one model call),
``result``; each is defined once in :mod:`mlgym.runlog.records`.  A step record's ``reward``
is what ``env.step`` returned for it.  ``files`` maps workspace paths to the SHA-256 of their new content, or to
``null`` when a file was deleted; it holds only what changed since the previous
record, so a step that changed nothing stores nothing.  The full state after step *n*
is the replay of every ``files`` map up to *n* (:meth:`Trace.files_at`).

Lines are strict JSON (no ``NaN``; lone surrogates from agent text as ``\\udXXX``
escapes), one per record; step records carry ``elapsed`` (episode seconds so far,
continued by a resume).  A run is finished when its trace holds a ``result`` record.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from mlgym.runlog.jsonio import to_json, to_utf8, write_json  # re-exported: callers import them from here
from mlgym.runlog.records import SCHEMA_VERSION, LLMRecord, Record, ResetRecord, ResultRecord, ResumeRecord, StepRecord, parse_record
from mlgym.runlog.snapshot import OBJECTS, Snapshotter, restore_workspace  # re-exported: callers import them from here

__all__ = ["OBJECTS", "SCHEMA_VERSION", "LLMRecord", "Record", "ResetRecord", "ResultRecord", "ResumeRecord", "Snapshotter", "StepRecord", "Trace",
           "TraceWriter", "load", "restore_workspace", "to_json", "to_utf8", "write_json"]

TRACE = "trace.jsonl"
TORN = "trace.jsonl.torn"  # bytes of a line cut by a kill, moved aside when the trace is reopened


def repair(path: Path) -> int:
    """Cut a partial last line off ``path`` (a kill mid-write), appending it to ``trace.jsonl.torn``.

    Returns how many bytes were moved.  Without this, the next record would be glued to
    the torn one and both lost to every reader.
    """
    try:
        fh = open(path, "r+b")
    except FileNotFoundError:
        return 0
    with fh:
        size = fh.seek(0, os.SEEK_END)
        if size == 0:
            return 0
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return 0
        pos, keep = size, 0
        while pos > 0 and not keep:
            step = min(pos, 1 << 16)
            pos -= step
            fh.seek(pos)
            block = fh.read(step)
            nl = block.rfind(b"\n")
            if nl >= 0:
                keep = pos + nl + 1
        fh.seek(keep)
        torn = fh.read()
        with open(path.with_name(TORN), "ab") as side:
            side.write(torn + b"\n")
            side.flush()
            os.fsync(side.fileno())
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
        return len(torn)


class TraceWriter:
    """Appends records to ``trace.jsonl``.

    Every record is written (one unbuffered ``write(2)``) before ``append`` returns, so a
    killed process leaves every record it appended; with ``fsync`` a background thread
    also forces it to the disk right after (an operating-system crash then loses at most
    the last few milliseconds), off the step's critical path.  ``close`` waits for that.

    Opening repairs a torn last line first (:func:`repair`), so an append never lands
    after a partial one.  Any record can be written: see :func:`to_json`.
    """

    def __init__(self, log_dir: Path, *, fsync: bool = True) -> None:
        self.log_dir = Path(log_dir)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.log_dir / TRACE
        self.repaired_bytes = repair(self.path)
        self._fh = open(self.path, "ab", buffering=0)
        try:  # "being written": readers (mlgym.runlog.status.lock_held) see the lock; the kernel drops it on any death
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            pass  # another writer (or a filesystem without locks): readers fall back to the trace's age
        self.fsync = fsync
        self._dirty = threading.Event()
        self._closing = False
        self._syncer: threading.Thread | None = None
        if fsync:
            self._syncer = threading.Thread(target=self._sync_loop, name="mlgym-trace-fsync", daemon=True)
            self._syncer.start()

    def append(self, record: Record | dict[str, Any]) -> None:
        if isinstance(record, Record):
            record = record.to_dict()
        record.setdefault("time", time.time())
        line = to_utf8(to_json(record)) + b"\n"
        self._fh.write(line)  # unbuffered: one write(2) per record, so a crash leaves whole lines
        if self.fsync:
            self._dirty.set()

    def _sync_loop(self) -> None:
        while True:
            self._dirty.wait()
            self._dirty.clear()
            try:
                os.fsync(self._fh.fileno())
            except (OSError, ValueError):  # closed under us: close() syncs itself
                pass
            if self._closing:
                return

    def close(self) -> None:
        if self._syncer is not None:
            self._closing = True
            self._dirty.set()
            self._syncer.join(timeout=30)
            self._syncer = None
        if not self._fh.closed:
            if self.fsync:
                try:
                    os.fsync(self._fh.fileno())
                except OSError:
                    pass
            self._fh.close()


@dataclasses.dataclass
class Trace:
    log_dir: Path
    records: list[dict[str, Any]]
    complete_lines: int
    cut_short: bool  # the last line was partial (the writer was killed mid-write), or a line unreadable
    bad_lines: int = 0  # complete lines that are not a JSON record (skipped)

    @property
    def steps(self) -> list[dict[str, Any]]:
        return [r for r in self.records if r.get("type") == "step"]

    @property
    def reset(self) -> dict[str, Any] | None:
        return next((r for r in self.records if r.get("type") == "reset"), None)

    @property
    def last_step(self) -> int:
        """The number of the last recorded step (0 before any)."""
        return max((int(r.get("step") or 0) for r in self.steps), default=0)

    @property
    def elapsed(self) -> float:
        """Episode seconds used so far, as recorded (resume continues the clock from here)."""
        for r in reversed(self.records):
            if isinstance(r.get("elapsed"), (int, float)):
                return float(r["elapsed"])
        return float(sum(float(s.get("duration") or 0.0) for s in self.steps))

    @property
    def finished(self) -> bool:
        """The episode ended (a ``result`` record); a result scored later from a snapshot does not count."""
        return self.result is not None

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

    @property
    def version(self) -> int:
        """The schema version the trace was written with (0: before versions existed)."""
        reset = self.reset
        v = reset.get("version") if reset is not None else None
        return int(v) if isinstance(v, int) else 0

    def typed(self) -> list[Record]:
        """Every record as its typed model (:func:`mlgym.runlog.records.parse_record`); lines that are no valid
        record of their type are left out."""
        out: list[Record] = []
        for r in self.records:
            try:
                out.append(parse_record(r))
            except TypeError:
                continue
        return out


def load(log_dir: str | Path) -> Trace:
    """Read a trace back.  A final partial line (a crash mid-write) and unreadable lines
    are skipped, not fatal: everything readable after them is still returned."""
    log_dir = Path(log_dir)
    path = log_dir / TRACE
    if not path.is_file():
        raise FileNotFoundError(f"{log_dir}: no {TRACE} here")
    records: list[dict[str, Any]] = []
    cut, bad = False, 0
    with open(path, "rb") as f:
        for raw in f:
            if not raw.endswith(b"\n"):
                cut = True
                break
            try:
                rec = json.loads(raw)
            except (ValueError, RecursionError):
                rec = None
            if isinstance(rec, dict):
                records.append(rec)
            elif raw.strip():
                bad += 1
    return Trace(log_dir, records, len(records), cut or bad > 0, bad)
