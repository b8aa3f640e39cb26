"""The backends by name, imported lazily: ``make_sandbox("local" | "docker", ...)``."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any, Sequence

from mlgym.core.errors import SandboxError
from mlgym.sandbox.base import Limits, Mount, Sandbox

__all__ = ["BACKENDS", "make_sandbox"]

# name -> ("module:Class", fixed keyword arguments); imported lazily.
BACKENDS: dict[str, tuple[str, dict[str, Any]]] = {
    "local": ("mlgym.sandbox.local:LocalSandbox", {"isolation": "auto"}),
    "local-bwrap": ("mlgym.sandbox.local:LocalSandbox", {"isolation": "bwrap"}),
    "local-plain": ("mlgym.sandbox.local:LocalSandbox", {"isolation": "plain"}),
    "docker": ("mlgym.sandbox.docker:DockerSandbox", {}),
}


def make_sandbox(
    kind: str,
    workspace: Path,
    *,
    limits: Limits = Limits(),
    mounts: Sequence[Mount] = (),
    **options: Any,
) -> Sandbox:
    """Build (not start) a sandbox of backend ``kind`` on ``workspace``."""
    if kind not in BACKENDS:
        raise SandboxError(f"unknown sandbox {kind!r}; choose one of: {', '.join(BACKENDS)}")
    target, fixed = BACKENDS[kind]
    module, cls = target.split(":")
    try:
        factory = getattr(importlib.import_module(module), cls)
    except ImportError as e:
        raise SandboxError(f"sandbox {kind!r} is unavailable: {e}") from e
    return factory(workspace, limits=limits, mounts=mounts, **fixed, **options)  # type: ignore[no-any-return]
