"""The `Sandbox` protocol every backend implements, and the records it returns.

A sandbox owns one *workspace* directory on the host (``Sandbox.workspace``) that
the agent's code sees as its current directory, plus optional read-only mounts
(task data).  Everything else on the host is either read-only (system, Python) or
not there at all (task scripts, answers, the user's home) depending on the backend.

Contract (checked by ``tests/integration/test_sandbox_conformance.py`` on every backend):

* ``exec(argv, timeout=...)`` never raises for a failing or misbehaving command: a
  non-zero exit, a timeout (``timed_out=True``, the whole process tree is killed) or
  too much output (kept head and tail, ``truncated_bytes`` > 0) are all reported in
  the returned :class:`ExecResult`.  It raises :class:`SandboxError` only when the
  sandbox itself is broken (not started, backend gone).
* ``argv`` is never interpreted by a shell.
* ``read_file`` / ``write_file`` take paths relative to the workspace and refuse
  anything that resolves outside it (``PermissionError``).
* ``stop()`` is idempotent and leaves no process (or container) behind.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Callable, Iterable, Mapping, Protocol, Sequence, runtime_checkable

from mlgym.core.errors import SandboxError

__all__ = ["CAPABILITIES", "Capabilities", "EnvLayer", "ExecResult", "Limits", "Mount", "Sandbox", "SandboxError", "capabilities",
           "check_writable", "hidden_roots", "hide_roots"]

MiB = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Limits:
    """Resource limits for every command run in a sandbox."""

    timeout: float = 600.0  # wall-clock seconds per exec
    memory_mb: int = 8192  # address space / container memory
    cpu_seconds: int | None = None  # CPU time per exec (None: wall clock only)
    file_size_mb: int = 2048  # largest file a command may write
    max_processes: int = 256  # processes / threads per sandbox
    output_bytes: int = 64 * 1024  # per stream kept in ExecResult (head + tail)
    cpus: float | None = None  # CPU share (a CFS quota on every backend); None = all
    cores: int | None = None  # how many cores (a cpuset; a constraint that names cores); None = ceil(cpus)
    network: bool = False  # allow network access


@dataclasses.dataclass(frozen=True)
class Mount:
    """A host path made visible inside the sandbox at ``target``.

    A relative ``target`` is inside the workspace (``"data"`` -> ``<workdir>/data``);
    the env lays out a real ``data/`` folder on the host too (hard links or copies of
    the task's public data) so the host-side file tools see what the sandbox sees.
    """

    source: Path
    target: str
    read_only: bool = True
    # False: bound only, no host copy (a folder of 100k images must not cost 100k links per
    # reset); the host-side file tools see an empty folder there.  local-plain still copies.
    mirror: bool = True


@dataclasses.dataclass(frozen=True)
class EnvLayer:
    """Python requirements a container needs on top of its image (the Docker backend's
    ``env_layer`` option), with the pins they install at; ``key`` names the content (the
    task environment's key, :func:`mlgym.tasks.taskenv.plan_for`)."""

    key: str
    requirements: tuple[str, ...]
    constraints: tuple[str, ...] = ()
    local: tuple[str, ...] = ()  # host folders installed as packages after them (pip install --no-deps)


# Host folders no sandbox may see even when they sit inside a bound tree (the harness's
# task folders: scripts, answers).  The layers above register where they are.
_HIDDEN_ROOTS: list[Callable[[], Iterable[Path]]] = []


def hide_roots(provider: Callable[[], Iterable[Path]]) -> None:
    """Register ``provider``: called at each sandbox start, it names host folders to hide."""
    if provider not in _HIDDEN_ROOTS:
        _HIDDEN_ROOTS.append(provider)


def hidden_roots() -> list[Path]:
    """Every folder the registered providers name now."""
    return [p for provider in _HIDDEN_ROOTS for p in provider()]


def check_writable(workspace: Path, workdir: str, mounts: Sequence[Mount], target: Path, path: str) -> None:
    """Raise PermissionError when ``target`` (a resolved host path in ``workspace``) lies on a
    read-only mount.  Mount targets are relative to ``workdir`` or absolute in-sandbox paths."""
    for m in mounts:
        if not m.read_only:
            continue
        rel = os.path.relpath(m.target, workdir) if os.path.isabs(m.target) else m.target
        if rel.startswith(".."):
            continue  # mounted outside the workspace: no host path in it
        where = (workspace / rel).resolve()
        if where == target or where in target.parents:
            raise PermissionError(f"{path!r} is on a read-only mount")


@dataclasses.dataclass
class ExecResult:
    """What one command did.  ``stdout``/``stderr`` are decoded, possibly clipped."""

    returncode: int
    stdout: str
    stderr: str
    duration: float
    timed_out: bool = False
    truncated_bytes: int = 0  # bytes dropped from the middle of stdout + stderr
    killed_reason: str | None = None  # "timeout", "memory", "signal N", ...

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


@dataclasses.dataclass(frozen=True)
class Capabilities:
    """What a backend does, so callers ask for a capability instead of comparing backend names."""

    host_python: bool = True  # commands run the host's interpreters: callers pass a ``python=`` option
    labels: bool = False  # takes ``run_id`` / ``task`` options (labels of its containers, for clean-up)
    protected_links: bool = True  # files hard-linked into the workspace under a read-only mount cannot be written through
    isolated: bool = True  # commands run isolated and its ``Mount``s are applied; without it, callers copy what a mount would show
    images: bool = False  # runs commands in a container image: takes ``image`` / ``env_layer`` options instead of ``python``
    daemon: bool = False  # a daemon binds its mounts from the host's mount namespace (a private namespace would hide ours from it)
    own_uid: bool = True  # its ``uid``/``gid`` say who runs agent code (as root: a uid of its own); False: root's workspace is opened to all


# backend name (a ``make_sandbox`` kind or a built sandbox's ``name``) -> what it does
CAPABILITIES: dict[str, Capabilities] = {
    "local": Capabilities(),
    "local-bwrap": Capabilities(),
    "local-plain": Capabilities(protected_links=False, isolated=False),  # a plain subprocess (maybe root) could write through a link
    "docker": Capabilities(host_python=False, labels=True, images=True, daemon=True),
}


def capabilities(kind: str) -> Capabilities:
    """The capabilities of backend ``kind`` (an unknown one: the defaults)."""
    return CAPABILITIES.get(kind, Capabilities())


@runtime_checkable
class Sandbox(Protocol):
    """A place to run the agent's commands.  See the module docstring."""

    name: str  # backend name: "local-plain", "local-bwrap", "docker"
    workspace: Path  # host directory the commands see as their cwd
    workdir: str  # the same directory as seen from inside the sandbox

    def start(self) -> None: ...

    def exec(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
    ) -> ExecResult: ...

    def read_file(self, path: str) -> bytes: ...

    def write_file(self, path: str, data: bytes) -> None: ...

    def stop(self) -> None: ...

    def __enter__(self) -> "Sandbox": ...

    def __exit__(self, *exc: object) -> None: ...
