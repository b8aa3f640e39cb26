"""Strict JSON for logs: :func:`to_json` / :func:`to_utf8` for any agent data, :func:`write_json` atomically."""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any

__all__ = ["to_json", "to_utf8", "write_json"]

_SURROGATE_RE = re.compile("[\\ud800-\\udfff]")
_MAX_DEPTH = 200


def to_json(obj: Any, *, indent: int | None = None, ensure_ascii: bool = False) -> str:
    """``obj`` as strict JSON text, whatever agent data it carries.

    No ``NaN``/``Infinity`` (many readers reject them: they become null), no failure on
    non-string keys, odd objects, huge integers or deep nesting (:func:`_plain` makes
    them plain first).  The text may hold lone surrogates (from agent text or file
    names); :func:`to_utf8` escapes them when writing.
    """
    try:
        return json.dumps(obj, ensure_ascii=ensure_ascii, allow_nan=False, indent=indent)
    except (TypeError, ValueError, RecursionError):
        return json.dumps(_plain(obj, 0), ensure_ascii=ensure_ascii, allow_nan=False, indent=indent)


def to_utf8(text: str) -> bytes:
    """UTF-8 bytes of JSON text; a lone surrogate becomes its ``\\udXXX`` JSON escape.

    In text from :func:`to_json` a surrogate can only sit inside a string literal,
    where the escape denotes the same character: ``json.loads`` gives it back.
    """
    try:
        return text.encode()
    except UnicodeEncodeError:
        return _SURROGATE_RE.sub(lambda m: f"\\u{ord(m.group()):04x}", text).encode()


def _plain(obj: Any, depth: int) -> Any:
    if depth > _MAX_DEPTH:
        return "<nested too deeply>"
    if obj is None or isinstance(obj, (str, bool)):
        return obj
    if isinstance(obj, int):
        return obj if obj.bit_length() < 10_000 else f"<integer of {obj.bit_length()} bits>"
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {_key(k): _plain(v, depth + 1) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [_plain(v, depth + 1) for v in obj]
    return _key(obj)


def _key(obj: Any) -> str:
    if isinstance(obj, str):
        return obj
    try:
        return str(obj)
    except Exception:  # noqa: BLE001 - any object's __str__ may fail; the record must still be written
        return f"<{type(obj).__name__}>"


def write_json(path: Path, obj: Any) -> None:
    """Write atomically: a crash leaves the old file or the new one, never half of one.

    Strict JSON whatever the data holds (agent text with lone surrogates, NaN): see :func:`to_json`.
    """
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(to_utf8(to_json(obj, indent=2, ensure_ascii=True)))
    os.replace(tmp, path)
