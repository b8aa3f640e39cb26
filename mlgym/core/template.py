"""Starter files filled in for a task: one ``CONFIG = {...}`` line rendered as a Python literal.

A family's starter (``train.py`` in the workspace) is a template holding one line
``CONFIG = {...}``; :func:`render_starter` replaces it with the task's settings written by
:func:`py_literal` (``True``/``False``/``None`` as Python spells them, every string quoted, so a
column named ``is_true_positive`` stays itself) and drops the template's own comment lines.
"""

from __future__ import annotations

import json
import math
from typing import Any, Mapping, Sequence

__all__ = ["py_literal", "render_starter"]

CONFIG_PREFIX = "CONFIG = "


def py_literal(value: Any) -> str:
    """``value`` (dicts with string keys, lists, tuples, strings, numbers, bools, None) as Python
    source, spaced like ``json.dumps``; anything else is a ValueError."""
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a JSON string is a Python string literal
    if isinstance(value, int):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{value!r} has no literal")
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(py_literal(v) for v in value) + "]"
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise ValueError("CONFIG keys must be strings")
        return "{" + ", ".join(f"{json.dumps(k)}: {py_literal(v)}" for k, v in value.items()) + "}"
    raise ValueError(f"cannot write {type(value).__name__} into a starter")


def render_starter(template: str, config: Mapping[str, Any] | None = None, *, drop: Sequence[str] = ()) -> str:
    """``template`` with its ``CONFIG = ...`` line replaced by ``config`` (None: left as it is)
    and every line starting with one of ``drop`` removed."""
    lines = template.splitlines()
    if config is not None:
        at = [i for i, line in enumerate(lines) if line.startswith(CONFIG_PREFIX)]
        if len(at) != 1:
            raise ValueError(f"the starter template needs exactly one {CONFIG_PREFIX.strip()!r} line, found {len(at)}")
        lines[at[0]] = CONFIG_PREFIX + py_literal(config)
    return "\n".join(line for line in lines if not line.startswith(tuple(drop))) + "\n"
