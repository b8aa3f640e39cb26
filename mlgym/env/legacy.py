"""The old dict side channel of ``step``, still accepted (deprecated; see docs/rl.md).

Before the env had public methods, an agent in another process put its notes into dict
actions: ``llm_calls``, ``run_info``, ``llm_usage``, ``llm_tools``, ``{"end": reason}`` and
``{"aside": {"name", "arguments"}}``.  They now map onto the public methods
(:meth:`~mlgym.env.core.MLGymEnv.record_llm_calls`, ``set_run_info``, ``report_llm_usage``,
``configure_llm_tools``, ``end_episode``, ``aside``), with the same trace as before; the first
such action of an env issues a :class:`DeprecationWarning`.  ``env.action_space`` does not
contain these dicts: the contract is tool calls and text.
"""

from __future__ import annotations

import warnings
from typing import Any

from mlgym.core.safetext import printable

__all__ = ["NOTE_KEYS", "legacy_notes"]

NOTE_KEYS = frozenset({"llm_calls", "run_info", "llm_usage", "llm_tools"})  # what a dict action carried besides its call


def legacy_notes(env: Any, action: dict[Any, Any]) -> tuple[str, float, bool, bool, dict[str, Any]]:
    """A dict action with side-channel keys: apply them through the public methods, then step (or aside)."""
    if not getattr(env, "_warned_legacy", False):
        env._warned_legacy = True
        warnings.warn("notes inside step actions (llm_calls, run_info, llm_usage, llm_tools, end, aside) are deprecated; "
                      "call the env's public methods instead (docs/rl.md)", DeprecationWarning, stacklevel=3)
    problem = env.configure_llm_tools(action.get("llm_tools")) if action.get("llm_tools") else None
    env.record_llm_calls(action.get("llm_calls"))
    env.set_run_info(action.get("run_info"))
    env.report_llm_usage(action.get("llm_usage"))
    if "name" not in action and isinstance(action.get("aside"), dict):
        call = action["aside"]
        if not call and problem is None:  # notes only (an agent that stops hands over its last calls this way)
            return "", 0.0, False, False, env._info(error=None, duration=0.0, aside=True)
        obs, info = env._aside(call.get("name"), call.get("arguments"), problem)
        return obs, 0.0, False, False, info
    end = action.get("end")
    ending = printable(end.strip(), 60) if "name" not in action and isinstance(end, str) and end.strip() else None
    rest: Any = {k: v for k, v in action.items() if k not in NOTE_KEYS}
    if "name" not in rest and isinstance(rest.get("text"), str):
        rest = rest["text"]  # a text action with notes: {"text": ..., "llm_calls": ...}
    out: tuple[str, float, bool, bool, dict[str, Any]] = env._step(rest, ending=ending, problem=problem if ending is None else None)
    return out
