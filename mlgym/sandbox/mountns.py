"""A private mount namespace for the runner, so that per-episode mounts die with it.

:func:`enter_private` (root, while the process has a single *Python* thread: ``unshare(CLONE_NEWNS)``
moves only the calling thread of a multi-threaded process) gives the process its own mount
namespace with every mount made private (nothing propagates back to the host).  Workspace
quotas mounted afterwards (:mod:`mlgym.sandbox.quota`) exist only there, and their images are
unlinked right after mounting: when the namespace's last process exits (the runner, SIGKILL
included, and its bwrap children, which die with it), the kernel unmounts them, the loop device
(``-o loop``: autoclear) detaches and the image's blocks are freed.  Nothing is left for
:func:`mlgym.sandbox.quota.remove_stale` to collect.

Not entered: when not root, when threads already run (library use inside a bigger program:
then the quota mounts stay in the host namespace and the next mlgym command collects what a
killed runner left), with ``MLGYM_NO_MOUNTNS=1``, and for Docker episodes (the daemon binds
the workspace from the host's namespace, where a private mount would not be seen).
"""

from __future__ import annotations

import ctypes
import logging
import os

log = logging.getLogger(__name__)
CLONE_NEWNS = 0x00020000
MS_REC, MS_PRIVATE = 0x4000, 1 << 18
_entered = False


def private() -> bool:
    """True when this process entered its own mount namespace through :func:`enter_private`."""
    return _entered


def _threads() -> int:
    """Python threads of this process.  Native helper threads (OpenBLAS/OpenMP pools started
    when numpy loads) stay in the old namespace, which is harmless: they neither mount nor
    start processes; every thread and process started later comes from this one."""
    import threading

    return threading.active_count()


def enter_private() -> bool:
    """Enter a private mount namespace now if that is possible (see the module docstring)."""
    global _entered
    if _entered:
        return True
    if os.geteuid() != 0 or os.environ.get("MLGYM_NO_MOUNTNS") or _threads() != 1:
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        log.debug("no private mount namespace: unshare: %s", os.strerror(ctypes.get_errno()))
        return False
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        # still a new namespace, but mounts could propagate back: behave as if not entered
        log.warning("private mount namespace: cannot make / private: %s", os.strerror(ctypes.get_errno()))
        return False
    _entered = True
    return True
