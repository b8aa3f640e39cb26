"""Run one MLAgentBench task folder's own ``scripts/prepare.py`` as MLAgentBench does, unattended.

MLAgentBench (``prepare_task.prepare_task`` @5d71205): when ``scripts/prepare.py`` exists and
``scripts/prepared`` does not, run ``python prepare.py`` with cwd ``scripts/``; exit 0 writes
``scripts/prepared`` ("success").  Here:

* the user's folder is never written to: a folder the user already prepared (the marker is
  there) or one without prepare.py is copied as it is; otherwise prepare.py runs in a fresh copy
  ``<work>.attempt-N``, which becomes ``<work>`` (with the marker) only when it succeeds; a
  failed attempt is kept (``.failed``) with its log; nothing anyone placed is deleted;
* consent (prepare.py's ``input()``): answered when the user said so (``MLGYM_ASSUME_YES=1`` or
  ``mlgym prepare --yes``), asked on a terminal, otherwise one line saying how to give it;
* its ``kaggle`` calls reach :mod:`kaggle_shim` first on PATH: ``$MLGYM_KAGGLE_DIR/<slug>/``
  (the zip Kaggle serves, or its files), then the real client, then one line naming the folder;
* feedback's and fathomnet's prepare.py write to ``benchmarks/<name>/env`` relative to
  ``scripts/`` (broken in MLAgentBench itself): the copy gets that path as a link to its env/.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Callable

from mlgym.core.errors import DataError

__all__ = ["ASSUME_YES", "MARKER", "assume_yes", "diagnose", "install_shim", "prepare_folder"]

SHIM = Path(__file__).with_name("kaggle_shim.py")
MARKER = "prepared"
ASSUME_YES = "MLGYM_ASSUME_YES"
LOG_NAME = ".mlgym-prepare.log"
KAGGLE_LOG = ".mlgym-kaggle.jsonl"


def assume_yes() -> bool:
    """Whether the user gave consent in advance (``MLGYM_ASSUME_YES=1``; ``mlgym prepare --yes`` sets it)."""
    return os.environ.get(ASSUME_YES, "").strip().lower() in ("1", "yes", "true", "y")


def install_shim(bin_dir: Path, python: str = sys.executable) -> Path:
    """Write an executable ``kaggle`` into ``bin_dir`` that runs the stand-in client."""
    bin_dir.mkdir(parents=True, exist_ok=True)
    exe = bin_dir / "kaggle"
    exe.write_text(f'#!/bin/sh\nexec "{python}" "{SHIM}" "$@"\n')
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return exe


def _copy_task(src: Path, dest: Path) -> None:
    dest.mkdir(parents=True)
    for sub in ("env", "scripts"):
        if (src / sub).is_dir():
            shutil.copytree(src / sub, dest / sub, symlinks=True, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            (dest / sub).mkdir()


def _compat_links(attempt: Path) -> None:
    """A prepare.py writing to ``benchmarks/<taskname>/env`` (relative to scripts/): link it to env/."""
    text = (attempt / "scripts" / "prepare.py").read_text(errors="replace")
    m = re.search(r'download_dir\s*=\s*"benchmarks/"\s*\+\s*taskname\s*\+\s*"/env"', text)
    t = re.search(r'^taskname\s*=\s*"([^"/]+)"', text, re.M)
    if m and t:
        link = attempt / "scripts" / "benchmarks" / t.group(1) / "env"
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(attempt / "env", link.parent))


def _next(work: Path, what: str) -> Path:
    n = 1
    while any(work.with_name(f"{work.name}.{what}-{n}{s}").exists() for s in ("", ".failed")):
        n += 1
    return work.with_name(f"{work.name}.{what}-{n}")


def _tail(path: Path, limit: int = 64 * 1024) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, f.seek(0, os.SEEK_END) - limit))
            return f.read().decode(errors="replace")
    except OSError:
        return ""


def _kaggle_failed(kaggle_log: Path) -> bool:
    try:
        return any('"ok": false' in line for line in kaggle_log.read_text().splitlines())
    except OSError:
        return False


_DOWNLOAD_FAILED = re.compile(r"(unable to resolve host address|Name or service not known|Temporary failure in name resolution|"
                              r"Connection refused|Network is unreachable|ERROR \d{3}:|Could not resolve host)")


def _download_failed(out: str) -> str | None:
    """The URL a wget/curl in prepare.py failed to fetch (its output says so), if any."""
    if not _DOWNLOAD_FAILED.search(out):
        return None
    urls: list[str] = re.findall(r"https?://[^\s'\"]+", out)
    if urls:
        return urls[0]
    line = next(ln.strip() for ln in reversed(out.splitlines()) if _DOWNLOAD_FAILED.search(ln))
    return f"its data ({line[:160]})"


def diagnose(name: str, out: str, kaggle_log: Path, consent: bool) -> str:
    """The one line saying why prepare.py failed."""
    try:
        lines = kaggle_log.read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if isinstance(rec, dict) and not rec.get("ok"):
            return f"{name}: {rec.get('why')}"
    if "EOFError" in out and not consent:
        prompt = next((ln.split("Traceback")[0].strip() for ln in out.splitlines() if "onsent" in ln or "Press any key" in ln), "")
        return (f"{name}: MLAgentBench's prepare.py asks for consent ({prompt[:160]}); accept the competition's rules, "
                f"then run `mlgym prepare {name} --yes` or set {ASSUME_YES}=1")
    url = _download_failed(out)
    if url:
        return (f"{name}: MLAgentBench's prepare.py could not download {url} (no network here?); download it where there "
                f"is, then give the prepared folder (MLAgentBench's own `python -m MLAgentBench.prepare_task {name}` "
                f"writes scripts/prepared) or run again with network")
    missing = re.findall(r"ModuleNotFoundError: No module named '([^']+)'", out)
    if missing:
        return f"{name}: MLAgentBench's prepare.py needs the package {missing[-1].split('.')[0]}, which is not in its environment"
    last = next((ln for ln in reversed(out.strip().splitlines()) if ln.strip()), "no output")
    return f"{name}: MLAgentBench's prepare.py failed: {last.strip()[:240]}"


def prepare_folder(task_dir: Path, work: Path, *, consent: bool | None = None, force: bool = False,
                   python: str | Callable[[], str] = sys.executable, say: Callable[[str], None] = lambda m: None,
                   timeout: float | None = None) -> Path:
    """Return ``work``: a prepared copy of ``task_dir`` (env/ and scripts/, with the marker).
    Raises :class:`DataError` (one line, with the log's path) when prepare.py fails.  ``python``:
    the interpreter prepare.py runs with, or a function giving it (called only when it runs)."""
    task_dir, work = Path(task_dir).resolve(), Path(work).resolve()
    name = task_dir.name
    consent = assume_yes() if consent is None else consent
    if (work / "scripts" / MARKER).is_file() and not force:
        return work
    work.parent.mkdir(parents=True, exist_ok=True)
    user_prepared = (task_dir / "scripts" / MARKER).is_file()
    script = task_dir / "scripts" / "prepare.py"
    attempt = _next(work, "attempt")
    _copy_task(task_dir, attempt)
    if user_prepared or not script.is_file():
        say(f"{name}: using the folder as it is ("
            f"{'prepared by MLAgentBench: scripts/prepared' if user_prepared else 'it has no scripts/prepare.py'})")
    else:
        _compat_links(attempt)
        try:
            interpreter = python() if callable(python) else python
        except BaseException:
            attempt.rename(attempt.with_name(attempt.name + ".failed"))
            raise
        bin_dir = attempt / ".mlgym-bin"
        install_shim(bin_dir, python=sys.executable)
        env = dict(os.environ)
        env["MLGYM_KAGGLE_REAL_PATH"] = env.get("PATH", "")
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
        env["MLGYM_KAGGLE_LOG"] = str(attempt / KAGGLE_LOG)
        env["PYTHONUNBUFFERED"] = "1"
        say(f"{name}: running MLAgentBench's prepare.py (cwd {attempt / 'scripts'})")
        log_path = attempt / LOG_NAME
        with open(log_path, "wb") as log:
            try:
                if consent:  # every input() answered; EOF after that
                    proc = subprocess.run([interpreter, "prepare.py"], cwd=attempt / "scripts", env=env, input=b"\n" * 64,
                                          stdout=log, stderr=subprocess.STDOUT, timeout=timeout)
                else:  # a person at a terminal is asked, as in MLAgentBench; otherwise EOF
                    tty = sys.stdin is not None and sys.stdin.isatty()
                    proc = subprocess.run([interpreter, "prepare.py"], cwd=attempt / "scripts", env=env,
                                          stdin=None if tty else subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                          timeout=timeout)
                code = proc.returncode
            except subprocess.TimeoutExpired:
                code = -1
                log.write(f"\nprepare.py took longer than {timeout}s\n".encode())
        # prepare.py never checks its downloads' exit status: a failed one is a failure here, even when it exits 0
        if code == 0 and (_kaggle_failed(attempt / KAGGLE_LOG) or _download_failed(_tail(log_path))):
            code = 1
        if code != 0:
            failed = attempt.with_name(attempt.name + ".failed")
            attempt.rename(failed)
            raise DataError(diagnose(name, _tail(failed / LOG_NAME), failed / KAGGLE_LOG, consent)
                            + f" (log: {failed / LOG_NAME})")
    (attempt / "scripts" / MARKER).write_text("success")
    if work.exists():  # --force: the earlier copy (ours, in the data folder) is kept beside it
        work.rename(_next(work, "earlier"))
    attempt.rename(work)
    return work
