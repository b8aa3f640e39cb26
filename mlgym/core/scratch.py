"""Per-process scratch folders that a killed process cannot leave behind for long.

Scoring copies the submission (and, on ``local-plain``, the hidden answers) into a
temporary folder.  ``tempfile``'s clean-up never runs when the process is SIGKILLed,
so those folders went into the shared ``/tmp`` and stayed.  Instead, every process
makes its temporary folders under ``<base>/<pid>-<start time>/`` (:func:`scratch_dir`),
and every start of an episode, ``mlgym eval`` or ``mlgym score`` first removes the
folders of processes that no longer exist (:func:`collect`).  The start time makes a
reused pid no match for a dead owner.

``base`` is ``$MLGYM_SCRATCH`` or ``<tempdir>/mlgym-scratch-<uid>``.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)

__all__ = ["base_dir", "collect", "scratch_dir"]


def base_dir() -> Path:
    return Path(os.environ.get("MLGYM_SCRATCH") or Path(tempfile.gettempdir()) / f"mlgym-scratch-{os.getuid()}")


def _start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (field 22 of /proc/pid/stat), None if it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[-1].split()[19]


def scratch_dir() -> Path:
    """This process's scratch folder (made on first use; 0711: sandboxes may traverse, not list)."""
    pid = os.getpid()
    d = base_dir() / f"{pid}-{_start_time(pid) or 0}"
    for p in (d.parent, d):
        p.mkdir(mode=0o711, exist_ok=True)
    return d


def collect() -> list[Path]:
    """Remove the scratch folders of processes that are gone; returns what was removed."""
    removed: list[Path] = []
    try:
        entries = list(base_dir().iterdir())
    except OSError:
        return removed
    for d in entries:
        pid, _, start = d.name.partition("-")
        if not pid.isdigit() or (_start_time(int(pid)) == start):
            continue
        shutil.rmtree(d, ignore_errors=True)
        if not d.exists():
            removed.append(d)
            log.info("removed the scratch folder of a process that is gone: %s", d)
    return removed
