"""Naming agent-supplied paths inside a workspace (the checks of :mod:`mlgym.core.fs`).

Only for passing a *name* on (e.g. to a command run inside the sandbox): host-side
reads and writes go through :mod:`mlgym.core.fs`, which opens relative to a directory fd, so
nothing can be swapped between a check here and the open.
"""

from __future__ import annotations

import stat
from pathlib import Path

from mlgym.core import fs
from mlgym.core.errors import PathEscapeError


def resolve_in(root: Path, rel: str, *, must_exist: bool = False) -> Path:
    """Return ``root/rel`` (``..`` applied lexically), or raise :class:`PathEscapeError`.

    Absolute paths, ``..`` that climbs out, and any symlink on the path (wherever it
    points) are refused; links are never followed.  ``must_exist`` raises FileNotFoundError.
    """
    key = fs.normalize(rel)
    try:
        if stat.S_ISLNK(fs.stat(root, key).st_mode):
            raise fs.link_error(rel)
    except (FileNotFoundError, NotADirectoryError):
        if must_exist:
            raise FileNotFoundError(f"{rel!r} does not exist") from None
    base = Path(root).resolve()
    return base if key == "." else base / key


def display(root: Path, path: Path) -> str:
    """The workspace-relative name of ``path`` (as :func:`resolve_in` returns it) for observations."""
    try:
        rel = Path(path).relative_to(Path(root).resolve())
    except ValueError:
        raise PathEscapeError(f"{str(path)!r} is outside the workspace") from None
    return str(rel) if str(rel) != "." else "."
