"""The interface every agent implements."""

from __future__ import annotations

import argparse
from typing import Any

import gymnasium as gym


class Agent:
    """Subclass and implement :meth:`run`; the runner builds the env and calls it once.

    ``args`` is the runner's parsed namespace (llm names, limits, ...).
    """

    name = "agent"

    def __init__(self, args: argparse.Namespace | None = None) -> None:
        self.args = args

    def run(self, env: gym.Env, obs: str, info: dict[str, Any]) -> dict[str, Any] | None:  # type: ignore[type-arg]
        """Step ``env`` until it terminates or truncates; return the final info's result."""
        raise NotImplementedError
