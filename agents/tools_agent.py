"""``--agent tools``: the env's tool schemas (``info["tools"]``) with the provider's native tool calling.

The conversation is the task, then one *turn* per model reply (the assistant message with
its tool calls, then one tool message per call).  It is bounded: tool outputs are cut to
``obs_tokens``, outputs older than ``keep_turns`` turns are replaced by a stub, and the
oldest turns are dropped while the prompt is over ``prompt_token_cap`` (a turn is dropped
whole, so every tool call keeps its result).  A reply with no tool call gets a reminder;
``max_no_tool`` of them in a row end the run.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any, Generic, TypeVar

import gymnasium as gym
from mlgym.agents.base import Agent, end_episode, hand_over

from mlgym.core.errors import AgentError, BudgetExceededError
from mlgym.llm.client import RunLLMs, count_message_tokens, truncate_tokens

log = logging.getLogger(__name__)  # mlgym.agents.tools_agent

SYSTEM = (
    "You are a machine learning engineer working in a sandboxed folder. Solve the research problem by calling "
    "the tools: inspect the files, measure the baseline, improve the solution, run it, and check the output. "
    "Call final_answer once the submission file is written and better than the baseline; you can submit only once."
)
NUDGE = "Please continue by calling one of the tools; call final_answer when you are done."
M = TypeVar("M")


def task_text(obs: str) -> str:
    """The first observation without its text-format tool list (the schemas carry the tools)."""
    return obs.split("\n\nYou have access to the following tools:")[0]


class Turns(Generic[M]):
    """Bounded history: whole turns, old outputs stubbed, oldest turns dropped under a token cap."""

    def __init__(self, *, keep: int, cap: int, count: Callable[[list[M]], int], stub: Callable[[M], M]) -> None:
        self.turns: list[list[M]] = []
        self.dropped = 0
        self.keep, self.cap, self.count, self.stub = keep, cap, count, stub

    def add(self, turn: list[M]) -> None:
        self.turns.append(turn)

    def messages(self, head: list[M], note: Callable[[int], M]) -> list[M]:
        while True:
            body: list[M] = []
            n = len(self.turns)
            for i, turn in enumerate(self.turns):
                body.extend(turn if n - i <= self.keep else [self.stub(m) for m in turn])
            msgs = head + ([note(self.dropped)] if self.dropped else []) + body
            if self.count(msgs) <= self.cap or len(self.turns) <= 1:
                return msgs
            self.turns.pop(0)
            self.dropped += 1


class ToolsAgent(Agent):
    name = "tools"
    keep_turns = 4  # turns whose tool outputs stay verbatim
    obs_tokens = 2000
    prompt_token_cap = 16000
    max_no_tool = 3

    def __init__(self, args: Any = None) -> None:
        super().__init__(args)
        self.llms = RunLLMs.from_args(args, needs="--agent tools")
        self.prompt_tokens: list[int] = []

    def run(self, env: gym.Env, obs: str, info: dict[str, Any]) -> dict[str, Any] | None:  # type: ignore[type-arg]
        # Only the public API: LLM records and usage travel with each step (RunLLMs.notes), so the
        # env may live in another process (mlgym.runs.rollout).
        self.llms.collect()
        model = self.llms.main.model
        schemas = info["tools"]
        head = [{"role": "system", "content": SYSTEM}, {"role": "user", "content": info.get("task_description") or task_text(obs)}]
        turns: Turns[dict[str, Any]] = Turns(
            keep=self.keep_turns, cap=self.prompt_token_cap,
            count=lambda msgs: count_message_tokens(msgs, model, schemas), stub=_stub,
        )
        no_tool = 0
        try:
            while True:
                messages = turns.messages(head, lambda k: {"role": "user", "content": f"({k} earlier turns were dropped to keep the prompt short.)"})
                self.prompt_tokens.append(count_message_tokens(messages, model, schemas))
                reply = self.llms.main.complete(messages, tools=schemas, purpose="tools agent")
                if not reply.tool_calls:
                    no_tool += 1
                    if no_tool >= self.max_no_tool:
                        end_episode(env, "no_tool_call", self.llms)  # the ending reason in result.json, eval, report, view
                        raise AgentError(f"the model answered {no_tool} times in a row without calling a tool")
                    turns.add([{"role": "assistant", "content": reply.content}, {"role": "user", "content": NUDGE}])
                    continue
                no_tool = 0
                turn: list[dict[str, Any]] = [{
                    "role": "assistant", "content": reply.content or None,
                    "tool_calls": [
                        {"id": tc["id"], "type": "function", "function": {"name": tc["name"], "arguments": tc["arguments"]}}
                        for tc in reply.tool_calls
                    ],
                }]
                done, result = False, None
                for tc in reply.tool_calls:
                    if done:
                        out = "Not run: the episode has ended."
                    else:
                        hand_over(env, self.llms)
                        out, _r, term, trunc, step_info = env.step({"name": tc["name"], "arguments": tc["arguments"]})
                        done, result = term or trunc, step_info.get("result")
                    turn.append({"role": "tool", "tool_call_id": tc["id"], "content": truncate_tokens(out, self.obs_tokens, model)})
                turns.add(turn)
                if done:
                    return result
        except BudgetExceededError as e:
            log.warning("tools agent: %s", e)
            *_, end_info = end_episode(env, "budget", self.llms)
            return end_info.get("result")  # type: ignore[no-any-return]


def _stub(m: dict[str, Any]) -> dict[str, Any]:
    if m.get("role") == "tool":
        return {**m, "content": "(output of an earlier step, elided)"}
    if m.get("role") == "assistant" and m.get("tool_calls"):
        calls = [{**c, "function": {**c["function"], "arguments": _short_args(c["function"]["arguments"])}} for c in m["tool_calls"]]
        return {**m, "tool_calls": calls}
    return m


def _short_args(arguments: str) -> str:
    """Long argument values (file contents) of old calls are cut; the JSON stays valid."""
    try:
        args = json.loads(arguments)
    except ValueError:
        return arguments[:200]
    if not isinstance(args, dict):
        return arguments[:200]
    return json.dumps({k: (v[:200] + "...") if isinstance(v, str) and len(v) > 200 else v for k, v in args.items()})
