"""Tools are plain typed functions; their JSON schema and prompt text come from one definition.

    @tool("List Files")
    def list_files(ctx: ToolContext, dir_path: str = ".") -> str:
        '''Use this to list files in a directory.

        Args:
            dir_path: a valid relative path to a directory, such as "." or "folder1/folder2"
        '''

The first parameter is always the :class:`ToolContext`; every other parameter becomes a
JSON-schema property (type from the annotation, description from the docstring's
``Args:`` section, required unless it has a default).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import math
import re
import typing
from pathlib import Path
from typing import Any, Callable

from mlgym.core.errors import ActionError
from mlgym.core.safetext import function_name as function_name  # re-exported (its home is core)
from mlgym.core.safetext import printable

if typing.TYPE_CHECKING:
    from mlgym.sandbox.base import Sandbox

_JSON_TYPES = {str: "string", int: "integer", float: "number", bool: "boolean"}
_INT_RE = re.compile(r"[ \t]*[+-]?[0-9]{1,18}[ \t]*")  # ASCII digits only: int() also takes "²"-like digits
MAX_INT = 2**63 - 1


def _show(value: Any, limit: int = 80) -> str:
    """A short, always-printable rendering of an agent's value for an error message."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 200:
        return f"an integer of about {int(value.bit_length() * 0.30103)} digits"
    try:
        text = json.dumps(value, ensure_ascii=True, allow_nan=True)
    except (TypeError, ValueError, RecursionError):
        text = f"a {type(value).__name__}"
    return text if len(text) <= limit else text[: limit - 3] + "..."


@dataclasses.dataclass
class ToolContext:
    """What tools may touch: the sandbox (and its workspace) and per-episode state."""

    sandbox: "Sandbox"
    python: str = "python"
    exec_timeout: float = 600.0
    observation_chars: int = 20_000
    inspect_max_lines: int = 100  # lines Inspect Script Lines shows at most (MLAgentBench's check lets 101 through)
    read_only: tuple[str, ...] = ("data",)  # workspace-relative folders tools must not write
    # undo: old contents, None = did not exist, int = size of a version too big to keep
    history: dict[str, list[bytes | None | int]] = dataclasses.field(default_factory=dict)
    final_answer: str | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)  # e.g. the LLM client

    @property
    def workspace(self) -> Path:
        return self.sandbox.workspace


@dataclasses.dataclass(frozen=True)
class Tool:
    name: str
    fn: Callable[..., str]
    description: str
    params: dict[str, dict[str, Any]]  # name -> JSON schema of the argument
    required: tuple[str, ...]
    ends_episode: bool = False

    def json_schema(self) -> dict[str, Any]:
        """The OpenAI / litellm function-calling schema."""
        return {
            "type": "function",
            "function": {
                "name": function_name(self.name),
                "description": self.description,
                "parameters": {
                    "type": "object",
                    "properties": self.params,
                    "required": list(self.required),
                    "additionalProperties": False,
                },
            },
        }

    def prompt_text(self) -> str:
        """The MLAgentBench-style description for prompt-based agents."""
        lines = [f"- {self.name}:", f"    {self.description}", "    Usage:", "    ```", "    Action: " + self.name, "    Action Input: {"]
        items = list(self.params.items())
        for i, (arg, schema) in enumerate(items):
            comma = "," if i < len(items) - 1 else ""
            lines.append(f'        "{arg}": [{schema["description"]}]{comma}')
        lines += ["    }", "    Observation: [" + self._returns + "]", "    ```"]
        return "\n".join(lines)

    @property
    def _returns(self) -> str:
        doc = inspect.getdoc(self.fn) or ""
        m = re.search(r"Returns:\s*\n\s+(.+?)(?:\n\s*\n|$)", doc, re.S)
        return " ".join(m.group(1).split()) if m else "the result of the tool"

    def validate(self, arguments: Any) -> dict[str, Any]:
        """Check names and types; raise :class:`ActionError` saying what to fix.

        Never raises anything else, whatever ``arguments`` holds: integers given as text
        must be plain ASCII digits (not "--5", "²" or 5,000 digits), and values are shown
        in messages through :func:`_show`, which cannot fail on odd or huge values.
        """
        if not isinstance(arguments, dict):
            raise ActionError(f"{self.name}: Action Input must be a JSON object with keys {list(self.params)}")
        extra = [k for k in arguments if k not in self.params]
        missing = [k for k in self.required if k not in arguments]
        if extra or missing:
            parts = []
            if missing:
                parts.append(f"missing {', '.join(missing)}")
            if extra:
                parts.append(f"unexpected {', '.join(printable(k, 40) for k in extra[:10])}")
            raise ActionError(f"{self.name}: {'; '.join(parts)}. Valid arguments: {', '.join(self.params)}")
        clean: dict[str, Any] = {}
        for key, value in arguments.items():
            want = self.params[key]["type"]
            if want == "integer":
                if isinstance(value, str) and _INT_RE.fullmatch(value):
                    value = int(value)
                if isinstance(value, bool) or not isinstance(value, int):
                    raise ActionError(f"{self.name}: {key} must be an integer, got {_show(value)}")
                if not -MAX_INT <= value <= MAX_INT:
                    raise ActionError(f"{self.name}: {key} is out of range (at most {MAX_INT} in size)")
            elif want == "number":
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    raise ActionError(f"{self.name}: {key} must be a finite number, got {_show(value)}")
            elif want == "string":
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    value = _show(value, 400)
                if not isinstance(value, str):
                    raise ActionError(f"{self.name}: {key} must be a string, got {_show(value)}")
            elif want == "boolean" and not isinstance(value, bool):
                raise ActionError(f"{self.name}: {key} must be true or false, got {_show(value)}")
            clean[key] = value
        return clean

    def __call__(self, ctx: ToolContext, arguments: Any) -> str:
        return self.fn(ctx, **self.validate(arguments))


REGISTRY: dict[str, Tool] = {}


def _arg_docs(doc: str) -> dict[str, str]:
    m = re.search(r"Args:\s*\n(.*?)(?:\n\s*\n|\n\s*Returns:|$)", doc, re.S)
    out: dict[str, str] = {}
    if not m:
        return out
    current = None
    for line in m.group(1).splitlines():
        hit = re.match(r"\s*(\w+)\s*:\s*(.*)", line)
        if hit and hit.group(1).isidentifier() and not line.startswith(" " * 12):
            current = hit.group(1)
            out[current] = hit.group(2).strip()
        elif current:
            out[current] += " " + line.strip()
    return out


def tool(name: str, *, ends_episode: bool = False) -> Callable[[Callable[..., str]], Callable[..., str]]:
    """Register ``fn`` as the tool ``name`` (MLAgentBench's display name)."""

    def register(fn: Callable[..., str]) -> Callable[..., str]:
        doc = inspect.getdoc(fn) or ""
        summary = doc.split("\n\n")[0].replace("\n", " ").strip()
        hints = typing.get_type_hints(fn)
        arg_docs = _arg_docs(doc)
        params: dict[str, dict[str, Any]] = {}
        required = []
        for i, (pname, param) in enumerate(inspect.signature(fn).parameters.items()):
            if i == 0:
                continue  # the ToolContext
            typ = hints.get(pname, str)
            if typ not in _JSON_TYPES:
                raise TypeError(f"tool {name}: argument {pname} has unsupported type {typ}")
            if pname not in arg_docs:
                raise TypeError(f"tool {name}: argument {pname} is not documented under Args:")
            params[pname] = {"type": _JSON_TYPES[typ], "description": arg_docs[pname]}
            if param.default is inspect.Parameter.empty:
                required.append(pname)
        if name in REGISTRY:
            raise ValueError(f"tool {name!r} registered twice")
        REGISTRY[name] = Tool(name, fn, summary, params, tuple(required), ends_episode)
        return fn

    return register


def lookup(name: str, names: typing.Iterable[str]) -> Tool:
    """Find a tool by display name or function name, case- and space-insensitively."""
    allowed = list(names)
    key = function_name(str(name))
    for n in allowed:
        if function_name(n) == key:
            return REGISTRY[n]
    raise ActionError(f"unknown action {str(name)[:60]!r}; valid actions: {', '.join(allowed)}")
