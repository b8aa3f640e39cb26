"""Resolving agent-supplied paths safely inside a workspace."""

from __future__ import annotations

import os
from pathlib import Path

from mlgym.errors import PathEscapeError


def resolve_in(root: Path, rel: str, *, must_exist: bool = False) -> Path:
    """Return ``root/rel`` with symlinks resolved, or raise :class:`PathEscapeError`.

    Absolute paths, ``..`` that climbs out, and symlinks (anywhere on the path) that
    point outside ``root`` are all refused.  ``must_exist`` raises FileNotFoundError.
    """
    if not isinstance(rel, str):
        raise PathEscapeError(f"path must be a string, got {type(rel).__name__}")
    if "\x00" in rel:
        raise PathEscapeError("path contains a NUL byte")
    rel = rel.strip() or "."
    if os.path.isabs(rel) or rel.startswith("~"):
        raise PathEscapeError(f"{rel!r} is absolute; give a path relative to the workspace")
    base = root.resolve()
    target = (base / rel).resolve()
    if target != base and base not in target.parents:
        raise PathEscapeError(f"{rel!r} is outside the workspace")
    if must_exist and not target.exists():
        raise FileNotFoundError(f"{rel!r} does not exist")
    return target


def display(root: Path, path: Path) -> str:
    """The workspace-relative name of ``path`` for observations."""
    rel = path.resolve().relative_to(root.resolve())
    return str(rel) if str(rel) != "." else "."
