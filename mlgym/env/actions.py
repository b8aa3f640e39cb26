"""Turning what an agent sends into a :class:`ToolCall`.

Accepted forms:
* ``{"name": "List Files", "arguments": {"dir_path": "."}}`` (``arguments`` may also be
  a JSON string, as function-calling APIs return it);
* text with ``Action: <name>`` and ``Action Input: <json>`` lines, anywhere in a longer
  LLM response.  The JSON may sit in a code fence, have trailing commas, single
  quotes, raw newlines inside strings, or be followed by an ``Observation:`` the model
  hallucinated.

Whatever an agent sends, parsing either returns plain JSON arguments (str keys; str,
finite numbers, bools, None, lists, dicts; bounded depth and integer size) or raises
:class:`ActionError`; nothing else escapes.  Parsing is linear in the action's length:
every pattern is anchored to one line and never lets ``\\s`` run across lines, because
an action is agent-controlled text of up to the action space's length (200k characters).
"""

from __future__ import annotations

import ast
import json
import math
import re
from typing import Any, NamedTuple

from mlgym.core.errors import ActionError

__all__ = ["MAX_DEPTH", "ToolCall", "parse_action", "parse_json_loose", "plain_json"]

MAX_DEPTH = 32  # nesting of the arguments; tools take flat objects
MAX_INT_BITS = 256  # larger integers are no line number, count or size any tool takes


class ToolCall(NamedTuple):
    name: str
    arguments: dict[str, Any]


# "[^\S\n]" is whitespace except a newline: no pattern may scan past its own line.
_WS = r"[^\S\n]*"
_ACTION_RE = re.compile(rf"^{_WS}\**Action\**{_WS}:\**(.*)$", re.M | re.I)
_INPUT_RE = re.compile(rf"^{_WS}\**Action Input\**{_WS}:\**", re.M | re.I)
_OBSERVATION_RE = re.compile(rf"^{_WS}Observation{_WS}:", re.M)
_FENCE_RE = re.compile(r"^```[\w-]*\s*\n?|\n?```\s*$")
_TRAILING_COMMA_RE = re.compile(r",(\s*[}\]])")
_BRACES_RE = re.compile(r"""[{}"'\\]""")


def plain_json(value: Any, depth: int = 0) -> Any:
    """``value`` as plain JSON data, or :class:`ActionError` saying what is not.

    Tuples become lists; bytes, sets, non-string keys, NaN/Infinity, huge integers and
    deep nesting are refused, so every later step (validation, the trace, result.json)
    only ever sees data that ``json.dumps(allow_nan=False)`` writes.
    """
    if depth > MAX_DEPTH:
        raise ActionError(f"Action Input is nested more than {MAX_DEPTH} levels deep")
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, int):
        if value.bit_length() > MAX_INT_BITS:
            raise ActionError("Action Input holds an integer too large to be a valid argument")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ActionError("Action Input holds NaN or Infinity, which JSON has not")
        return value
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if not isinstance(k, str):
                raise ActionError(f"Action Input keys must be strings, got a {type(k).__name__}")
            out[k] = plain_json(v, depth + 1)
        return out
    if isinstance(value, (list, tuple)):
        return [plain_json(v, depth + 1) for v in value]
    raise ActionError(f"Action Input holds a {type(value).__name__}; use JSON values (strings, numbers, lists, objects)")


def parse_json_loose(text: str) -> Any:
    """Parse JSON the way LLMs write it; raise ActionError with the parser's complaint."""
    s = text.strip()
    s = _FENCE_RE.sub("", s).strip()
    # Cut anything after the object ends (e.g. a hallucinated "Observation:").
    if s.startswith("{"):
        end = _matching_brace(s)
        if end is not None:
            s = s[: end + 1]
    errors: list[ValueError | RecursionError] = []
    for candidate in (s, _TRAILING_COMMA_RE.sub(r"\1", s)):
        try:
            return plain_json(json.loads(candidate, strict=False))
        except (ValueError, RecursionError) as e:  # also: 4,300-digit numbers, deep nesting
            if isinstance(e, ActionError):
                raise
            errors.append(e)
    try:
        value = ast.literal_eval(_TRAILING_COMMA_RE.sub(r"\1", s))
    except Exception:  # noqa: BLE001 - a fallback parser of agent text: any failure means "not a literal"
        value = None
    if isinstance(value, dict):
        return plain_json(value)
    first = errors[0]
    if isinstance(first, json.JSONDecodeError):
        why = f"{first.msg} at line {first.lineno} column {first.colno}"
    elif isinstance(first, RecursionError):
        why = "nested too deeply"
    else:
        why = str(first)[:200]
    raise ActionError(f'Action Input is not valid JSON ({why}); write it as a JSON object, e.g. {{"dir_path": "."}}')


def _matching_brace(s: str) -> int | None:
    """Index of the ``}`` closing the object ``s`` starts with (quotes respected), or None.

    Visits only braces, quotes and backslashes (found by one regex scan), not every character.
    """
    depth, quote, esc_at = 0, "", -1
    for m in _BRACES_RE.finditer(s):
        ch, i = m.group(), m.start()
        if quote:
            if i == esc_at:  # this character is escaped by the backslash before it
                continue
            if ch == "\\":
                esc_at = i + 1
            elif ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return i
    return None


def parse_action(action: Any, max_length: int | None = None) -> ToolCall:
    """Parse one action.  Raises :class:`ActionError` (shown to the agent) when it cannot.

    ``max_length``: the action space's limit; a longer text action (or arguments whose
    JSON is longer) is refused before any parsing.
    """
    if isinstance(action, ToolCall):
        action = {"name": action.name, "arguments": action.arguments}
    if isinstance(action, dict):
        return _parse_dict(action, max_length)
    if not isinstance(action, str):
        raise ActionError(f"an action must be a dict or a string, not {type(action).__name__}")
    if max_length is not None and len(action) > max_length:
        raise ActionError(f"the action is {len(action)} characters long; the limit is {max_length}")
    names = [m.group(1).strip() for m in _ACTION_RE.finditer(action)]
    names = [n for n in names if n and not n.lower().startswith("input")]
    if not names:
        raise ActionError(
            "no action found; end your response with two lines:\n"
            "Action: <tool name>\nAction Input: <JSON object with the arguments>"
        )
    name = names[-1].strip("`*").strip()
    last_input = None
    for last_input in _INPUT_RE.finditer(action):
        pass
    if last_input is None:
        raise ActionError(f"found 'Action: {name[:60]}' but no 'Action Input:' line after it")
    raw = action[last_input.end() :]
    raw = _OBSERVATION_RE.split(raw, maxsplit=1)[0]
    parsed: Any = parse_json_loose(raw) if raw.strip() else {}
    if not isinstance(parsed, dict):
        raise ActionError("Action Input must be a JSON object, e.g. {\"script_name\": \"train.py\"}")
    return ToolCall(name, parsed)


def _parse_dict(action: dict[Any, Any], max_length: int | None) -> ToolCall:
    if "name" not in action:
        raise ActionError('an action dict needs a "name" and an "arguments" object')
    name = action["name"]
    if not isinstance(name, str):
        raise ActionError(f'the action "name" must be a string, not {type(name).__name__}')
    args = action.get("arguments", action.get("args", {}))
    if isinstance(args, str):
        if max_length is not None and len(args) > max_length:
            raise ActionError(f"the arguments are {len(args)} characters long; the limit is {max_length}")
        args = parse_json_loose(args) if args.strip() else {}
    if not isinstance(args, dict):
        raise ActionError('"arguments" must be a JSON object')
    args = plain_json(args)
    if max_length is not None and len(name) + _json_length(args) > max_length:
        raise ActionError(f"the action is longer than the limit of {max_length} characters")
    return ToolCall(name.strip(), args)


def _json_length(value: Any) -> int:
    return len(json.dumps(value, ensure_ascii=False))
