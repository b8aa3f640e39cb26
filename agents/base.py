"""The interface every agent implements, and how an agent reaches the env's public methods."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

import gymnasium as gym

from mlgym.agents.options import AgentOptions

__all__ = ["Agent", "end_episode", "env_method", "hand_over"]


class Agent:
    """Subclass and implement :meth:`run`; the runner builds the env and calls it once.

    ``args``: the agent's typed options (:class:`mlgym.agents.options.AgentOptions`: llm names,
    limits, ...); a runner namespace is converted.
    """

    name = "agent"

    def __init__(self, args: AgentOptions | argparse.Namespace | None = None) -> None:
        self.args = AgentOptions.from_namespace(args) if isinstance(args, argparse.Namespace) else args

    def run(self, env: gym.Env, obs: str, info: dict[str, Any]) -> dict[str, Any] | None:  # type: ignore[type-arg]
        """Step ``env`` until it terminates or truncates; return the final info's result."""
        raise NotImplementedError


def env_method(env: Any, name: str) -> Callable[..., Any]:
    """The env's public method ``name``, through gymnasium wrappers (``gym.make``) or a worker proxy
    (:class:`mlgym.rollout.VectorSlot`, :class:`mlgym.rollout.RemoteEnv`)."""
    getter = getattr(env, "get_wrapper_attr", None)
    method = getter(name) if callable(getter) else getattr(env, name)
    return method  # type: ignore[no-any-return]


def hand_over(env: Any, llms: Any, **run_info: Any) -> None:
    """Give the env this agent's model calls since the last call and its usage
    (:meth:`mlgym.llm.client.RunLLMs.notes`; ``run_info``: more keys for ``result.json``)."""
    notes = llms.notes()
    env_method(env, "record_llm_calls")(notes["llm_calls"])
    env_method(env, "set_run_info")({**notes["run_info"], **run_info})


def end_episode(env: Any, reason: str, llms: Any = None) -> tuple[str, float, bool, bool, dict[str, Any]]:
    """End the episode now (a step that says so, scored as truncated with ``reason``), the model calls handed over first."""
    if llms is not None:
        hand_over(env, llms)
    return env_method(env, "end_episode")(reason)  # type: ignore[no-any-return]
