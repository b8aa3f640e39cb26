"""Turning what an agent sends into a :class:`ToolCall`.

Accepted forms:
* ``{"name": "List Files", "arguments": {"dir_path": "."}}`` (``arguments`` may also be
  a JSON string, as function-calling APIs return it);
* text with ``Action: <name>`` and ``Action Input: <json>`` lines, anywhere in a longer
  LLM response.  The JSON may sit in a code fence, have trailing commas, single
  quotes, raw newlines inside strings, or be followed by an ``Observation:`` the model
  hallucinated.
"""

from __future__ import annotations

import ast
import json
import re
from typing import Any, NamedTuple

from mlgym.errors import ActionError

__all__ = ["ToolCall", "parse_action", "parse_json_loose"]


class ToolCall(NamedTuple):
    name: str
    arguments: dict[str, Any]


_ACTION_RE = re.compile(r"^\s*\**Action\**\s*:\**\s*(.+?)\s*$", re.M | re.I)
_INPUT_RE = re.compile(r"^\s*\**Action Input\**\s*:\**\s*", re.M | re.I)
_FENCE_RE = re.compile(r"^```[\w-]*\s*\n?|\n?```\s*$")
_TRAILING_COMMA_RE = re.compile(r",(\s*[}\]])")


def parse_json_loose(text: str) -> Any:
    """Parse JSON the way LLMs write it; raise ActionError with the parser's complaint."""
    s = text.strip()
    s = _FENCE_RE.sub("", s).strip()
    # Cut anything after the object ends (e.g. a hallucinated "Observation:").
    if s.startswith("{"):
        end = _matching_brace(s)
        if end is not None:
            s = s[: end + 1]
    errors = []
    for candidate in (s, _TRAILING_COMMA_RE.sub(r"\1", s)):
        try:
            return json.loads(candidate, strict=False)
        except json.JSONDecodeError as e:
            errors.append(e)
    try:
        value = ast.literal_eval(_TRAILING_COMMA_RE.sub(r"\1", s))
        if isinstance(value, dict):
            return value
    except (ValueError, SyntaxError, MemoryError, RecursionError):
        pass
    first = errors[0]
    raise ActionError(
        f"Action Input is not valid JSON ({first.msg} at line {first.lineno} column {first.colno}); "
        'write it as a JSON object, e.g. {"dir_path": "."}'
    )


def _matching_brace(s: str) -> int | None:
    depth, in_str, esc, quote = 0, False, False, ""
    for i, ch in enumerate(s):
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == quote:
                in_str = False
        elif ch in "\"'":
            in_str, quote = True, ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
    return None


def parse_action(action: Any) -> ToolCall:
    """Parse one action.  Raises :class:`ActionError` (shown to the agent) when it cannot."""
    if isinstance(action, ToolCall):
        return action
    if isinstance(action, dict):
        if "name" not in action:
            raise ActionError('an action dict needs a "name" and an "arguments" object')
        args = action.get("arguments", action.get("args", {}))
        if isinstance(args, str):
            args = parse_json_loose(args) if args.strip() else {}
        if not isinstance(args, dict):
            raise ActionError('"arguments" must be a JSON object')
        return ToolCall(str(action["name"]).strip(), args)
    if not isinstance(action, str):
        raise ActionError(f"an action must be a dict or a string, not {type(action).__name__}")
    names = _ACTION_RE.findall(action)
    names = [n for n in names if not n.lower().startswith("input")]
    if not names:
        raise ActionError(
            "no action found; end your response with two lines:\n"
            "Action: <tool name>\nAction Input: <JSON object with the arguments>"
        )
    name = names[-1].strip().strip("`*").strip()
    inputs = list(_INPUT_RE.finditer(action))
    if not inputs:
        raise ActionError(f"found 'Action: {name}' but no 'Action Input:' line after it")
    raw = action[inputs[-1].end() :]
    raw = re.split(r"^\s*Observation\s*:", raw, maxsplit=1, flags=re.M)[0]
    parsed: Any = parse_json_loose(raw) if raw.strip() else {}
    if not isinstance(parsed, dict):
        raise ActionError("Action Input must be a JSON object, e.g. {\"script_name\": \"train.py\"}")
    return ToolCall(name, parsed)
