"""``--agent langchain``: the env's tools as langchain-core ``StructuredTool``s, driven by a
langchain chat model bound with them, in the standard tool-calling loop.

:class:`MLGymChatModel` is a small ``BaseChatModel`` over mlgym's litellm client, so the
agent gets mlgym's retries, budget, cache and trace records, works against any litellm
provider or OpenAI-compatible server, and needs nothing beyond langchain-core.  Any other
langchain chat model with ``bind_tools`` can be passed to :class:`LangChainAgent` instead.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from typing import Any

import gymnasium as gym
from langchain_core.language_models.chat_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    convert_to_openai_messages,
)
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import BaseTool, StructuredTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from mlgym.agents.base import Agent
from mlgym.agents.tools_agent import NUDGE, SYSTEM, Turns, task_text
from pydantic import ConfigDict

from mlgym.errors import AgentError, BudgetExceededError
from mlgym.llm import LLMClient, RunLLMs, count_message_tokens, truncate_tokens

log = logging.getLogger("mlgym.agents.langchain")


class MLGymChatModel(BaseChatModel):
    """A langchain chat model that calls :class:`mlgym.llm.LLMClient`."""

    model_config = ConfigDict(arbitrary_types_allowed=True)
    client: Any  # LLMClient

    @property
    def _llm_type(self) -> str:
        return "mlgym-litellm"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model": self.client.model}

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None, **kwargs: Any) -> Any:
        params = {"tools": [convert_to_openai_tool(t) for t in tools], **kwargs}
        if tool_choice is not None:
            params["tool_choice"] = tool_choice
        return self.bind(**params)

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None, **kwargs: Any) -> ChatResult:
        reply = self.client.complete(
            _openai(messages), tools=kwargs.get("tools"), tool_choice=kwargs.get("tool_choice"),
            stop=stop, purpose="langchain agent",
        )
        calls, invalid = [], []
        for tc in reply.tool_calls:
            try:
                args = json.loads(tc["arguments"] or "{}")
                if not isinstance(args, dict):
                    raise ValueError("arguments are not a JSON object")
                calls.append({"name": tc["name"], "args": args, "id": tc["id"], "type": "tool_call"})
            except ValueError as e:
                invalid.append({"name": tc["name"], "args": tc["arguments"], "id": tc["id"], "error": str(e), "type": "invalid_tool_call"})
        message = AIMessage(
            content=reply.content, tool_calls=calls, invalid_tool_calls=invalid,
            usage_metadata={"input_tokens": reply.prompt_tokens, "output_tokens": reply.completion_tokens,
                            "total_tokens": reply.prompt_tokens + reply.completion_tokens},
            response_metadata={"model_name": reply.model, "cost": reply.cost, "cached": reply.cached, "finish_reason": reply.finish_reason},
        )
        return ChatResult(generations=[ChatGeneration(message=message)])


def env_tools(env: gym.Env, schemas: list[dict[str, Any]], state: dict[str, Any]) -> list[BaseTool]:  # type: ignore[type-arg]
    """One StructuredTool per env tool, its args schema the env's JSON schema; calling it steps ``env``."""
    tools: list[BaseTool] = []
    for schema in schemas:
        fn = schema["function"]

        def call(_name: str = fn["name"], **arguments: Any) -> str:
            if state.get("done"):
                return "Not run: the episode has ended."
            obs, _r, term, trunc, info = env.step({"name": _name, "arguments": arguments})
            if term or trunc:
                state.update(done=True, result=info.get("result"))
            return str(obs)

        tools.append(StructuredTool(name=fn["name"], description=fn["description"], args_schema=fn["parameters"], func=call))
    return tools


class LangChainAgent(Agent):
    name = "langchain"
    keep_turns = 4
    obs_tokens = 2000
    prompt_token_cap = 16000
    max_no_tool = 3

    def __init__(self, args: Any = None, chat_model: BaseChatModel | None = None) -> None:
        super().__init__(args)
        self.llms = RunLLMs.from_args(args, needs="--agent langchain")
        self.chat_model = chat_model or MLGymChatModel(client=self.llms.main)

    def run(self, env: gym.Env, obs: str, info: dict[str, Any]) -> dict[str, Any] | None:  # type: ignore[type-arg]
        base: Any = env.unwrapped
        self.llms.attach(env)
        client: LLMClient = self.llms.main
        state: dict[str, Any] = {}
        tools = env_tools(env, info["tools"], state)
        by_name = {t.name: t for t in tools}
        model = self.chat_model.bind_tools(tools)
        head: list[BaseMessage] = [SystemMessage(SYSTEM), HumanMessage(task_text(obs))]
        turns: Turns[BaseMessage] = Turns(
            keep=self.keep_turns, cap=self.prompt_token_cap, stub=_stub,
            count=lambda msgs: count_message_tokens(_openai(msgs), client.model, info["tools"]),
        )
        no_tool = 0
        try:
            while not state.get("done"):
                messages = turns.messages(head, lambda k: HumanMessage(f"({k} earlier turns were dropped to keep the prompt short.)"))
                ai = model.invoke(messages)
                if not ai.tool_calls and not ai.invalid_tool_calls:
                    no_tool += 1
                    if no_tool >= self.max_no_tool:
                        raise AgentError(f"the model answered {no_tool} times in a row without calling a tool")
                    turns.add([ai, HumanMessage(NUDGE)])
                    continue
                no_tool = 0
                turn: list[BaseMessage] = [ai]
                for bad in ai.invalid_tool_calls:
                    turn.append(ToolMessage(f"Error: the arguments are not a JSON object ({bad.get('error')})", tool_call_id=bad["id"] or ""))
                for tc in ai.tool_calls:
                    base.run_info.update(self.llms.usage())
                    tool = by_name.get(tc["name"])
                    if tool is None:
                        out: BaseMessage = ToolMessage(f"Error: unknown tool {tc['name']!r}; valid: {', '.join(by_name)}", tool_call_id=tc["id"] or "")
                    else:
                        out = tool.invoke(tc)
                    out.content = truncate_tokens(str(out.content), self.obs_tokens, client.model)
                    turn.append(out)
                turns.add(turn)
            return state.get("result")  # type: ignore[no-any-return]
        except BudgetExceededError as e:
            log.warning("langchain agent: %s", e)
            base.run_info.update(self.llms.usage())
            base.finish("budget")
            return base.result  # type: ignore[no-any-return]


def _openai(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    out = convert_to_openai_messages(list(messages))
    return out if isinstance(out, list) else [out]


def _stub(m: BaseMessage) -> BaseMessage:
    if isinstance(m, ToolMessage):
        return m.model_copy(update={"content": "(output of an earlier step, elided)"})
    return m
