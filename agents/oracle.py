"""The oracle: submit the task's reference answer (ML-Bench's ``output``) through the tools.

It checks the harness, not an agent: the reference answer must pass and the eval must see
it.  The task comes from ``info["task"]``; its family says what the answer is
(the catalog's :class:`~mlgym.tasks.catalog.Oracle` capability:
``family.oracle(task) -> ({workspace path: text}, final answer)``).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from mlgym.agents.base import Agent
from mlgym.core.errors import AgentError


class OracleAgent(Agent):
    name = "oracle"

    def run(self, env: gym.Env, obs: str, info: dict[str, Any]) -> dict[str, Any] | None:  # type: ignore[type-arg]
        from mlgym.tasks.catalog import Oracle
        from mlgym.tasks.spec import TaskSpec

        task = TaskSpec.load(info["task"])
        fam = task.family
        if not isinstance(fam, Oracle):
            raise AgentError(f"task {task.name!r} ({task.kind}) has no reference answer for --agent oracle")
        files, final = fam.oracle(task)
        plan: list[dict[str, Any]] = [{"name": "Write File", "arguments": {"file_name": p, "content": t}} for p, t in files.items()]
        plan.append({"name": "Final Answer", "arguments": {"final_answer": final}})
        for action in plan:
            obs, _reward, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                break
        return info.get("result")
