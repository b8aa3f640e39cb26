"""An mlgym task as a ``verifiers`` environment (verifiers 0.3, its ``MultiTurnEnv``), for
``vf-eval``, prime-rl and anything else that loads an environment module.

    from mlgym.integrations.verifiers import load_environment
    env = load_environment(task="digits", seeds=[0, 1], max_turns=30)
    out = env.evaluate_sync(client=vf.ClientConfig(api_base_url=URL, api_key_var="OPENAI_API_KEY"),
                            model="m", num_examples=-1, rollouts_per_example=4)   # 4 rollouts = a GRPO group

* one dataset row per seed: ``prompt`` = the task text from ``reset`` (after verifiers' system
  prompt), ``info`` = ``{"mlgym_task", "seed"}`` (``info["task"]`` is verifiers' own routing key);
  ``rollouts_per_example=K`` gives K episodes reset from the same seed: a group;
* tools = mlgym's function-calling schemas (``info["tools"]`` at reset) as ``vf.Tool`` s; each
  tool call of the model is one ``env.step({"name": <function name>, "arguments": {...}})``;
* the episode ends when the env says so (``final_answer``, the step limit); a turn without a
  tool call or the turn limit ends it too, and the cleanup scores it with ``finish`` (result.json
  is written either way);
* the rubric is mlgym's reward: the final reward (``reward_mode="final"``) or the sum of the step
  rewards (``"dense"``), with mlgym's ``score`` and ``success`` as zero-weight metrics.

Each rollout's run goes to ``<log_dir>/r<NNNN>``; ``pool`` (an :class:`~mlgym.runs.envpool.EnvPool`)
puts the envs on a Ray cluster instead of this process's threads.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import tempfile
import threading
from pathlib import Path
from typing import Any, Awaitable, Callable

import verifiers as vf
from datasets import Dataset  # type: ignore[import-untyped]
from verifiers.types import ToolMessage

from mlgym.integrations.openenv import env_maker

__all__ = ["MLGymToolEnv", "load_environment"]

SYSTEM = ("You are an ML engineer working in a sandboxed workspace. Use the tools to inspect files, write and run "
          "scripts, and produce the submission; call final_answer when done.")


class MLGymToolEnv(vf.MultiTurnEnv):  # type: ignore[misc]
    """verifiers' multi-turn env over mlgym episodes: ``make_env()`` gives a fresh gym env per rollout."""

    def __init__(self, make_env: Callable[[], Any], tool_schemas: list[dict[str, Any]], **kwargs: Any) -> None:
        tools = [vf.Tool(name=s["function"]["name"], description=s["function"]["description"],
                         parameters=s["function"]["parameters"]) for s in tool_schemas]
        super().__init__(tool_defs=tools, **kwargs)
        self.make_env = make_env

    async def setup_state(self, state: Any) -> Any:
        info = state["info"] if isinstance(state.get("info"), dict) else json.loads(state.get("info") or "{}")
        env = await asyncio.to_thread(self.make_env)
        await asyncio.to_thread(env.reset, seed=info.get("seed"), options={"run_info": {"seed": info.get("seed")}})
        state["mlgym_env"] = env
        state["mlgym_rewards"] = []
        state["mlgym_result"] = None
        return state

    @vf.stop  # type: ignore[untyped-decorator]
    async def no_tools_called(self, state: Any) -> bool:
        if not state["trajectory"]:
            return False
        last = state["trajectory"][-1]["completion"][-1]
        return bool(last.role == "assistant" and not getattr(last, "tool_calls", None))

    async def env_response(self, messages: Any, state: Any, **kwargs: Any) -> Any:
        env = state["mlgym_env"]
        out = []
        for call in messages[-1].tool_calls or []:
            try:
                args = json.loads(call.arguments) if call.arguments else {}
            except ValueError as e:
                args = {"_unparsed": str(e)}  # mlgym answers with an ActionError observation
            obs, reward, term, trunc, info = await asyncio.to_thread(env.step, {"name": call.name, "arguments": args})
            state["mlgym_rewards"].append(float(reward))
            out.append(ToolMessage(role="tool", content=obs, tool_call_id=call.id))
            if term or trunc:
                state["mlgym_result"] = info.get("result")
                state["final_env_response"] = out
                break
        return out

    @vf.cleanup  # type: ignore[untyped-decorator]
    async def finish_episode(self, state: Any) -> None:
        env = state.pop("mlgym_env", None)
        if env is None:
            return
        if state.get("mlgym_result") is None:  # the model stopped or ran out of turns: score what is there
            reward = await asyncio.to_thread(env.finish, "agent_stopped")
            state["mlgym_rewards"].append(float(reward))
            state["mlgym_result"] = env.result
        await asyncio.to_thread(env.close)


def _reward(mode: str) -> Callable[..., Awaitable[float]]:
    async def mlgym_reward(state: Any, **kwargs: Any) -> float:
        rewards = state.get("mlgym_rewards") or [0.0]
        return float(sum(rewards)) if mode == "dense" else float(rewards[-1])

    return mlgym_reward


async def mlgym_score(state: Any, **kwargs: Any) -> float:
    return float((state.get("mlgym_result") or {}).get("score") or 0.0)


async def mlgym_success(state: Any, **kwargs: Any) -> float:
    return float(bool((state.get("mlgym_result") or {}).get("success")))


def load_environment(task: str = "digits", seeds: list[int] | None = None, max_turns: int = 30, reward_mode: str = "final",
                     log_dir: str | None = None, work_dir: str | None = None, system_prompt: str = SYSTEM,
                     pool: Any = None, **env_kwargs: Any) -> Any:
    """The verifiers environment for ``task`` (see the module doc); ``env_kwargs`` as for ``MLGymEnv``."""
    from mlgym.runs import baseline

    root = Path(log_dir or tempfile.mkdtemp(prefix=f"vf-{task}-")).resolve()
    if baseline.missing(task):
        baseline.measure(task, sandbox=env_kwargs.get("sandbox", "local"), python=env_kwargs.get("python"))
    make = env_maker(task, work_dir=work_dir or root / "ws", pool=pool, reward_mode=reward_mode, **env_kwargs)
    probe = make(root / "probe")
    try:
        text, info = probe.reset(seed=0)
        schemas = info["tools"]
    finally:
        probe.close()
    counter, lock = itertools.count(), threading.Lock()

    def make_rollout_env() -> Any:
        with lock:
            k = next(counter)
        return make(root / f"r{k:04d}")

    rows = [{"prompt": [{"role": "user", "content": text}], "info": {"mlgym_task": task, "seed": s}, "answer": ""}
            for s in (seeds if seeds is not None else [0])]
    ds = Dataset.from_list(rows)
    rubric = vf.Rubric(funcs=[_reward(reward_mode), mlgym_score, mlgym_success], weights=[1.0, 0.0, 0.0])
    return MLGymToolEnv(make_rollout_env, schemas, dataset=ds, eval_dataset=ds, rubric=rubric, max_turns=max_turns,
                        system_prompt=system_prompt, env_id=f"mlgym-{task}")
