"""The trivial policy: run the starter ``train.py`` as it is, then submit (MLAgentBench's baseline)."""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from mlgym.agents.base import Agent


class BaselineAgent(Agent):
    name = "baseline"
    script = "train.py"

    def run(self, env: gym.Env, obs: str, info: dict[str, Any]) -> dict[str, Any] | None:  # type: ignore[type-arg]
        plan = [
            {"name": "List Files", "arguments": {"dir_path": "."}},
            {"name": "Execute Script", "arguments": {"script_name": self.script}},
            {"name": "Final Answer", "arguments": {"final_answer": f"Ran the starter {self.script} unchanged."}},
        ]
        for action in plan:
            obs, _reward, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        return info.get("result")
