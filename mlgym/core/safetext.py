"""Agent-controlled text made safe for a log line, a terminal or a rich console.

An agent chooses action names, arguments, file names and script output.  Written raw
to ``env.log`` or the operator's terminal, escape sequences in them can reset the
terminal, set its title or write the clipboard; rich markup in them would style or hide
text; lone surrogates make the log handler itself fail.  :func:`printable` shows every
control, format (bidi) and surrogate character as a visible ``\\x..``/``\\u....``
escape; :func:`console_text` additionally escapes rich markup.
"""

from __future__ import annotations

import re

__all__ = ["console_text", "function_name", "printable"]

# C0/C1 controls (tab and newline included: a log record stays one line), DEL,
# zero-width and bidi formatting characters, line/paragraph separators, BOM, surrogates.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u206f\ufeff\ud800-\udfff]")


def _escape(m: re.Match[str]) -> str:
    c = ord(m.group())
    return f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"


def printable(text: object, limit: int | None = 300) -> str:
    """``text`` (any object, via ``str``) with unsafe characters escaped, clipped to ``limit``."""
    s = text if isinstance(text, str) else _str(text)
    if limit is not None and len(s) > limit:
        s = s[:limit] + f"...[{len(s) - limit} more characters]"
    return _UNSAFE.sub(_escape, s)


def console_text(text: object, limit: int | None = 300) -> str:
    """:func:`printable`, and rich markup (``[bold]``) escaped for ``console.print``."""
    from rich.markup import escape

    return escape(printable(text, limit))


def _str(obj: object) -> str:
    try:
        return str(obj)
    except Exception:  # noqa: BLE001 - any __str__ may fail; a log line must still be written
        return f"<{type(obj).__name__}>"


def function_name(name: str) -> str:
    """A tool's display name as a function-calling identifier: 'List Files' -> 'list_files'."""
    return re.sub(r"\W+", "_", name.strip()).strip("_").lower()
