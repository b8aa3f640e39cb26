"""The data cache: ``$MLGYM_DATA_DIR/<task>/{raw,public,private}`` + ``manifest.json``.

``prepare(task)`` asks the task's family to fill it once; every family goes through
:func:`build`.  A folder task's producer runs its hidden ``scripts/prepare.py``:

    python prepare.py --raw RAW --public PUBLIC.tmp --private PRIVATE.tmp

``raw/`` keeps downloads between attempts (so an interrupted download resumes), the
outputs are written to temporary folders and renamed into place only when the script
succeeds, and ``manifest.json`` records the size and SHA-256 of every output file.
A later call checks the manifest (sizes; hashes with ``verify=True``) and returns at
once.  ``public/`` is what the agent sees under ``data/``; ``private/`` (answers) only
ever reaches the eval sandbox.  A prepare script that cannot download exits with
code 3 and a one-line message on stderr naming where to place the files by hand.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Callable, Protocol, runtime_checkable

from mlgym.core.errors import DataError
from mlgym.tasks.spec import MANIFEST, TaskData, TaskSpec, cache_dir, data_root, sha256_file

__all__ = ["EXIT_NEEDS_FILES", "MANIFEST", "Producer", "Settles", "TaskData", "build", "cache_dir", "data_root", "prepare",
           "link_tree", "run_prepare_script", "settled"]

log = logging.getLogger(__name__)
EXIT_NEEDS_FILES = 3


Producer = Callable[[Path, Path, Path, Callable[[str], None]], None]


def prepare(
    task: TaskSpec,
    *,
    root: Path | None = None,
    force: bool = False,
    verify: bool = False,
    progress: Callable[[str], None] | None = None,
) -> TaskData:
    """Make the task's data ready (idempotent), the way its family does it.  Raises :class:`DataError`."""
    data: TaskData = task.family.prepare(task, root=root, force=force, verify=verify, progress=progress)
    return data


@runtime_checkable
class Settles(Protocol):
    """A family whose tasks are decided by their data (AMLB: the metric comes from the data's type)."""

    def settled(self, task: TaskSpec, data: TaskData) -> TaskSpec:
        """``task`` as its prepared ``data`` decides it (the same spec when nothing changes)."""
        ...


def settled(task: TaskSpec, data: TaskData) -> TaskSpec:
    """The spec to run once the data is prepared: what the family decides from it (see :class:`Settles`)."""
    fam = task.family
    return fam.settled(task, data) if isinstance(fam, Settles) else task


def build(
    task: TaskSpec,
    produce: Producer,
    *,
    root: Path | None = None,
    force: bool = False,
    verify: bool = False,
    progress: Callable[[str], None] | None = None,
) -> TaskData:
    """The bookkeeping every family shares: ``produce(raw, public_tmp, private_tmp, say)``
    writes the outputs; they are renamed into place only when it succeeds, then recorded
    in the manifest.  A ready cache returns at once; ``produce`` raises :class:`DataError`."""
    data = TaskData(task, root)
    if not force and data.is_ready(verify=verify):
        return data
    data.dir.mkdir(parents=True, exist_ok=True)
    # Parallel runs (a bench grid, a rollout) may prepare the same task at once: one does it,
    # the others wait and then find it ready.
    with open(data.dir.parent / f".{data.dir.name}.prepare.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and data.is_ready(verify=verify):
            return data
        return _build_locked(task, data, produce, force=force, verify=verify, progress=progress)


def _build_locked(task: TaskSpec, data: TaskData, produce: Producer, *, force: bool, verify: bool,
                  progress: Callable[[str], None] | None) -> TaskData:
    if verify and data.manifest.exists() and not force:
        log.warning("%s: data failed verification; preparing again", task.name)
    data.raw.mkdir(parents=True, exist_ok=True)
    tmp_pub, tmp_priv = data.dir / "public.tmp", data.dir / "private.tmp"
    for d in (tmp_pub, tmp_priv):
        shutil.rmtree(d, ignore_errors=True)
        d.mkdir(parents=True)
    say = progress or (lambda line: log.info("%s: %s", task.name, line))
    say(f"preparing data in {data.dir}")
    start = time.monotonic()
    try:
        produce(data.raw, tmp_pub, tmp_priv, say)
    except BaseException:
        shutil.rmtree(tmp_pub, ignore_errors=True)
        shutil.rmtree(tmp_priv, ignore_errors=True)
        raise
    for final, tmp in ((data.public, tmp_pub), (data.private, tmp_priv)):
        shutil.rmtree(final, ignore_errors=True)
        tmp.rename(final)
    files = {}
    for sub in (data.public, data.private):
        for p in sorted(sub.rglob("*")):
            if p.is_file():
                p.chmod(0o444)  # hard links into workspaces must not be writable
                files[str(p.relative_to(data.dir))] = {"size": p.stat().st_size, "sha256": sha256_file(p)}
    tmp_manifest = data.manifest.with_suffix(".tmp")
    tmp_manifest.write_text(json.dumps({"task": task.name, "prepared": time.time(), "files": files}, indent=1))
    tmp_manifest.replace(data.manifest)
    say(f"data ready ({len(files)} files, {time.monotonic() - start:.1f}s)")
    return data


def run_prepare_script(task: TaskSpec, raw: Path, public: Path, private: Path, say: Callable[[str], None]) -> None:
    """A folder task's producer: ``python scripts/prepare.py --raw RAW --public PUB --private PRIV``."""
    if not task.prepare_script.is_file():
        raise DataError(f"task {task.name!r} has no scripts/prepare.py")
    env = {**os.environ, **task.data_env, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(task.prepare_script), "--raw", str(raw), "--public", str(public), "--private", str(private)],
        cwd=task.scripts_dir, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    last = ""
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip()
        if line:
            last = line
            say(line)
    rc = proc.wait()
    if rc == EXIT_NEEDS_FILES:
        raise DataError(f"{task.name}: {last}")
    if rc != 0:
        raise DataError(f"{task.name}: prepare.py failed (exit {rc}): {last}")


def link_tree(src: Path, dst: Path, *, copy: bool = False) -> None:
    """Populate ``dst`` with hard links to ``src``'s files (copies when asked or across file systems)."""
    for dirpath, _dirnames, filenames in os.walk(src):
        rel = Path(dirpath).relative_to(src)
        (dst / rel).mkdir(parents=True, exist_ok=True)
        for name in filenames:
            s, d = Path(dirpath, name), dst / rel / name
            if copy:
                shutil.copyfile(s, d)
                continue
            try:
                os.link(s, d)
            except OSError:
                shutil.copyfile(s, d)
