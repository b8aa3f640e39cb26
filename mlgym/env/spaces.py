"""The env's spaces: text observations, and actions that are tool calls or text.

:class:`ActionSpace` says what :meth:`mlgym.env.core.MLGymEnv.step` accepts::

    space.contains({"name": "List Files", "arguments": {"dir_path": "."}})   # True
    space.contains({"name": "Execute Script", "arguments": '{"script_name": "a.py"}'})  # True (JSON text)
    space.contains("Action: List Files\\nAction Input: {}")                  # True
    space.contains({"name": "List Files", "llm_calls": []})                   # False: not a tool call

``contains`` checks the shape (a name and an arguments object or its JSON text, or a string
within ``max_length``), not whether the tool exists: an unknown tool is still an action, and
``step`` answers it with an ``ActionError`` observation.
"""

from __future__ import annotations

import string
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium import spaces

__all__ = ["CHARSET", "ActionSpace", "UnicodeText"]

# Wide charset for sampling; ``UnicodeText.contains`` accepts any string anyway, since
# script output can hold any character.
CHARSET = string.printable + "äöüßéèàçñ€—–“”‘’…→←✓✗αβγλμσπ中文日本語"
CALL_KEYS = frozenset({"name", "arguments"})


class UnicodeText(spaces.Text):
    """A Text space that contains every ``str`` up to ``max_length`` characters."""

    def contains(self, x: Any) -> bool:
        return isinstance(x, str) and self.min_length <= len(x) <= self.max_length


class ActionSpace(spaces.Space[Any]):
    """Tool calls ``{"name": str, "arguments": dict | JSON text}`` or text (``Action: ...`` / ``Action Input: ...``).

    ``sample()`` gives text half of the time, else a tool call with empty arguments naming
    one of ``sample_names`` (tools harmless to call at random) or a random name.
    """

    def __init__(self, max_length: int = 200_000, *, charset: str = CHARSET, sample_names: Sequence[str] = (),
                 seed: int | np.random.Generator | None = None) -> None:
        super().__init__(shape=None, dtype=None, seed=seed)
        self.max_length = max_length
        self.text = UnicodeText(max_length=max_length, charset=charset, seed=seed if isinstance(seed, int) else None)
        self.sample_names = tuple(sample_names)

    @property
    def is_np_flattenable(self) -> bool:
        return False

    def contains(self, x: Any) -> bool:
        if isinstance(x, str):
            return len(x) <= self.max_length
        if not isinstance(x, dict) or not set(x) <= CALL_KEYS or not isinstance(x.get("name"), str):
            return False
        args = x.get("arguments", {})
        if isinstance(args, str):
            return len(x["name"]) + len(args) <= self.max_length
        return isinstance(args, dict) and all(isinstance(k, str) for k in args)

    def seed(self, seed: int | None = None) -> int | list[int] | dict[str, int]:
        seeds = super().seed(seed)
        self.text.seed(int(self.np_random.integers(2**31)))
        return seeds

    def sample(self, mask: Any = None, probability: Any = None) -> Any:
        if self.np_random.random() < 0.5:
            return self.text.sample()
        if self.sample_names:
            name = str(self.sample_names[int(self.np_random.integers(len(self.sample_names)))])
        else:
            name = self.text.sample()[:40]
        return {"name": name, "arguments": {}}

    def __eq__(self, other: object) -> bool:
        return (isinstance(other, ActionSpace) and other.max_length == self.max_length
                and other.text.character_set == self.text.character_set and other.sample_names == self.sample_names)

    def __hash__(self) -> int:
        return hash((type(self), self.max_length, self.sample_names))

    def __repr__(self) -> str:
        return f"ActionSpace(tool calls | text, max_length={self.max_length})"
