"""Host uids for agent code: a dedicated, unprivileged uid per sandbox that owns nothing else.

As root, every backend runs the agent's commands as a uid taken from a reserved range
(``MLGYM_SANDBOX_UID_BASE``, default 2,000,000,000, ``MLGYM_SANDBOX_UID_SPAN`` ids): no
account has it, no process runs as it when it is handed out, and the workspace (chmod
0700) is the only thing it owns.  A setuid file planted there is setuid to that uid,
which can do nothing, and no other host user can reach it anyway.  As a normal user the
agent's commands run as that user (inside a user namespace); there is nothing lower.
"""

from __future__ import annotations

import os
import pwd
import random
import stat
from pathlib import Path
from typing import Iterable

__all__ = ["UID_BASE", "UID_SPAN", "allocate", "hand_over", "in_range"]

UID_BASE = int(os.environ.get("MLGYM_SANDBOX_UID_BASE", "2000000000"))
UID_SPAN = int(os.environ.get("MLGYM_SANDBOX_UID_SPAN", "1000000"))


def in_range(uid: int) -> bool:
    return UID_BASE <= uid < UID_BASE + UID_SPAN


def _live_uids() -> set[int]:
    uids: set[int] = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                uids.add(os.stat(f"/proc/{entry}").st_uid)
            except OSError:
                pass
    return uids


def allocate(rng: random.Random | None = None) -> int:
    """An unused uid of the reserved range: no passwd entry, no live process."""
    rng = rng or random.SystemRandom()
    live = _live_uids()
    for _ in range(1000):
        uid = UID_BASE + rng.randrange(UID_SPAN)
        if uid in live:
            continue
        try:
            pwd.getpwuid(uid)
        except KeyError:
            return uid
    raise RuntimeError(f"no free sandbox uid in [{UID_BASE}, {UID_BASE + UID_SPAN})")


def hand_over(root: Path, uid: int, gid: int, *, skip: Iterable[Path] = (), mode: int = 0o700) -> None:
    """Give ``root`` and everything under it to ``uid:gid`` without following symlinks;
    ``root`` itself gets ``mode`` (not world-accessible).  ``skip``: folders left alone
    (e.g. hard-linked read-only data).  Walks with directory fds, so a concurrent rename
    cannot send it outside ``root``."""
    skipped = {os.path.realpath(p) for p in skip}
    top = os.open(root, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        os.fchown(top, uid, gid)
        os.fchmod(top, mode)
        _chown_below(top, str(os.path.realpath(root)), uid, gid, skipped, depth=0)
    finally:
        os.close(top)


def _chown_below(dfd: int, path: str, uid: int, gid: int, skipped: set[str], depth: int) -> None:
    if depth > 256:
        return
    for name in os.listdir(dfd):
        child = os.path.join(path, name)
        if child in skipped:
            continue
        try:
            st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
            os.chown(name, uid, gid, dir_fd=dfd, follow_symlinks=False)
        except OSError:
            continue
        if stat.S_ISDIR(st.st_mode):
            try:
                sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=dfd)
            except OSError:
                continue
            try:
                _chown_below(sub, child, uid, gid, skipped, depth + 1)
            finally:
                os.close(sub)
