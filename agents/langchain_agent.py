"""``--agent langchain``: the env's tools driven by a langchain chat model, in one of two modes.

* ``--langchain-agent zero-shot-react-description`` (the default with ``--profile
  mlagentbench``): MLAgentBench's LangChain agent, langchain's text ReAct ("MRKL") prompt
  over the same 8 tools the research agent lists, one prompt per step with the whole
  Thought/Action/Observation scratchpad, stopping at "Observation:", at temperature 0.5
  and 2,000 output tokens.
* ``--langchain-agent tool-calling`` (the default with ``--profile mlgym``): the env's tools
  as langchain-core ``StructuredTool``s bound to the chat model, in the standard
  tool-calling loop.

:class:`MLGymChatModel` is a small ``BaseChatModel`` over mlgym's litellm client, so the
agent gets mlgym's retries, budget, cache and trace records, works against any litellm
provider or OpenAI-compatible server, and needs nothing beyond langchain-core.  Any other
langchain chat model (with ``bind_tools`` for tool calling) can be passed to
:class:`LangChainAgent` instead.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Sequence
from typing import Any

import gymnasium as gym
from langchain_core.agents import AgentAction, AgentFinish
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
from mlgym.agents.base import Agent, end_episode, env_method, hand_over
from mlgym.agents.research import MLAB_ALL_TOOLS, mlab_prompt_tools, mlab_tool_text, profile_sampling
from mlgym.agents.tools_agent import NUDGE, SYSTEM, Turns, task_text
from pydantic import ConfigDict

from mlgym.env.actions import parse_json_loose
from mlgym.core.errors import ActionError, AgentError, BudgetExceededError
from mlgym.llm.client import LLMClient, RunLLMs, count_message_tokens, truncate_tokens

log = logging.getLogger(__name__)  # mlgym.agents.langchain_agent


class MLGymChatModel(BaseChatModel):
    """A langchain chat model that calls :class:`mlgym.llm.client.LLMClient`."""

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


def env_tools(env: gym.Env, schemas: list[dict[str, Any]], state: dict[str, Any],  # type: ignore[type-arg]
              before: Callable[[], None] = lambda: None) -> list[BaseTool]:
    """One StructuredTool per env tool, its args schema the env's JSON schema; calling it steps ``env``
    (after ``before()``: e.g. handing the LLM records and usage to the env, :func:`mlgym.agents.base.hand_over`)."""
    tools: list[BaseTool] = []
    for schema in schemas:
        fn = schema["function"]

        def call(_name: str = fn["name"], **arguments: Any) -> str:
            if state.get("done"):
                return "Not run: the episode has ended."
            before()
            obs, _r, term, trunc, info = env.step({"name": _name, "arguments": arguments})
            if term or trunc:
                state.update(done=True, result=info.get("result"))
            return str(obs)

        tools.append(StructuredTool(name=fn["name"], description=fn["description"], args_schema=fn["parameters"], func=call))
    return tools


# langchain's zero-shot-react-description ("MRKL") prompt, verbatim: its wording is what the
# mode measures (langchain, MIT licence, langchain/agents/mrkl/prompt.py).
REACT_PREFIX = "Answer the following questions as best you can. You have access to the following tools:"
REACT_FORMAT = """Use the following format:

Question: the input question you must answer
Thought: you should always think about what to do
Action: the action to take, should be one of [{tool_names}]
Action Input: the input to the action
Observation: the result of the action
... (this Thought/Action/Action Input/Observation can repeat N times)
Thought: I now know the final answer
Final Answer: the final answer to the original input question"""
REACT_SUFFIX = "Begin!\n\nQuestion: {input}\nThought:{agent_scratchpad}"
REACT_STOP = ["\nObservation:", "\n\tObservation:"]
_REACT_ACTION = re.compile(r"Action\s*\d*\s*:[\s]*(.*?)[\s]*Action\s*\d*\s*Input\s*\d*\s*:[\s]*(.*)", re.DOTALL)


def react_mode(args: Any) -> str:
    mode = getattr(args, "langchain_agent", None)
    if mode:
        return str(mode)
    return "zero-shot-react-description" if getattr(args, "profile", "mlagentbench") == "mlagentbench" else "tool-calling"


def react_parse(text: str) -> AgentAction | AgentFinish:
    """langchain's MRKL output parser behind MLAgentBench's tweak (only the text after the
    last "Thought:" counts).  A malformed reply is an ``_Exception`` action whose input is the
    observation the model gets, as with ``handle_parsing_errors=True``."""
    text = text.split("Thought:")[-1]
    m = _REACT_ACTION.search(text)
    final = "Final Answer:" in text
    if m and not final:
        return AgentAction(m.group(1).strip(), m.group(2).strip().strip(" ").strip('"'), text)
    if final and not m:
        return AgentFinish({"output": text.split("Final Answer:")[-1].strip()}, text)
    if not m and not re.search(r"Action\s*\d*\s*:", text):
        why = "Invalid Format: Missing 'Action:' after 'Thought:'"
    elif not m:
        why = "Invalid Format: Missing 'Action Input:' after 'Action:'"
    else:
        why = "Invalid or incomplete response"
    return AgentAction("_Exception", why, text)


class LangChainAgent(Agent):
    name = "langchain"
    keep_turns = 4
    obs_tokens = 2000
    prompt_token_cap = 16000
    max_no_tool = 3

    def __init__(self, args: Any = None, chat_model: BaseChatModel | None = None) -> None:
        super().__init__(args)
        self.mode = react_mode(args)
        sampling = None
        if self.mode == "zero-shot-react-description":  # MLAgentBench: 0.5 and 2,000 tokens for its LangChain agent
            sampling = profile_sampling(args) or {}
            sampling["main"] = {"temperature": 0.5 if getattr(args, "temperature", None) is None else args.temperature,
                                "max_output_tokens": getattr(args, "max_output_tokens", None) or 2000}
        self.llms = RunLLMs.from_args(args, needs="--agent langchain", sampling=sampling)
        self.chat_model = chat_model or MLGymChatModel(client=self.llms.main)

    @classmethod
    def tools_for(cls, args: Any) -> tuple[str, ...] | None:
        """ReAct mode: MLAgentBench's tools (8 listed); tool calling: the env's core tools."""
        return MLAB_ALL_TOOLS if react_mode(args) == "zero-shot-react-description" else None

    def run(self, env: gym.Env, obs: str, info: dict[str, Any]) -> dict[str, Any] | None:  # type: ignore[type-arg]
        if self.mode == "zero-shot-react-description":
            return self.run_react(env, info)
        return self.run_tools(env, obs, info)

    def react_prompt(self, problem: str, names: list[str], steps: list[tuple[AgentAction, str]]) -> str:
        """The whole ReAct prompt for the next step: tools, format, question, scratchpad."""
        tools = "\n".join(f"{n}: {mlab_tool_text(n)}" for n in names)
        template = "\n\n".join([REACT_PREFIX, tools, REACT_FORMAT.format(tool_names=", ".join(names)), REACT_SUFFIX])
        pad = "".join(f"{a.log}\nObservation: {o}\nThought:" for a, o in steps)
        return template.replace("{input}", problem).replace("{agent_scratchpad}", pad)

    def run_react(self, env: gym.Env, info: dict[str, Any]) -> dict[str, Any] | None:  # type: ignore[type-arg]
        # Only the public API: the LLM tools' models are built in the env's process (configure_llm_tools),
        # this agent's model calls and usage are handed over before each action.
        self.llms.collect()
        problem = env_method(env, "configure_llm_tools")(self.llms.tool_options())
        if problem:  # the LLM-backed tools then say they have no model
            log.warning("langchain agent: %s", problem)
        state: dict[str, Any] = {}

        def act(action: dict[str, Any]) -> str:
            hand_over(env, self.llms)
            env_method(env, "report_llm_usage")(self.llms.budget.own())
            if "end" in action:
                out, _r, term, trunc, step_info = end_episode(env, action["end"])
            else:
                out, _reward, term, trunc, step_info = env.step(action)
            self.llms.budget.set_outside(step_info.get("tool_llm_usage"))
            if term or trunc:
                state.update(done=True, result=step_info.get("result"))
            return str(out)

        names = mlab_prompt_tools(self.args)
        problem = str(info.get("research_problem") or info["task_description"])
        steps: list[tuple[AgentAction, str]] = []
        try:
            for _ in range(int(getattr(self.args, "agent_max_steps", None) or 50)):
                prompt = self.react_prompt(problem, names, steps)
                reply = self.chat_model.invoke([HumanMessage(prompt)], stop=REACT_STOP)
                step = react_parse(str(reply.content))
                if isinstance(step, AgentFinish):  # the answer is the env's Final Answer step
                    act({"name": "Final Answer", "arguments": {"final_answer": str(step.return_values["output"])}})
                    if not state.get("done"):  # an env without Final Answer
                        act({"end": "final_answer"})
                    return state.get("result")
                if step.tool == "_Exception":
                    steps.append((step, str(step.tool_input)))
                    continue
                if step.tool not in names and step.tool not in info["tool_names"]:
                    steps.append((step, f"{step.tool} is not a valid tool, try one of [{', '.join(names)}]."))
                    continue
                try:
                    arguments = parse_json_loose(str(step.tool_input))
                    if not isinstance(arguments, dict):
                        raise ActionError("Action Input is not a JSON object")
                except ActionError as e:  # not an env step, as in MLAgentBench
                    steps.append((step, f"ActionInputParsingError: {e}"))
                    continue
                out = act({"name": step.tool, "arguments": arguments})
                if state.get("done"):
                    return state.get("result")
                steps.append((step, out))
            act({"end": "agent_max_steps"})
            return state.get("result")
        except BudgetExceededError as e:
            log.warning("langchain agent: %s", e)
            if not state.get("done"):
                act({"end": "budget"})
            return state.get("result")

    def run_tools(self, env: gym.Env, obs: str, info: dict[str, Any]) -> dict[str, Any] | None:  # type: ignore[type-arg]
        # Only the public API (the env may live in another process): LLM records and usage travel with each step.
        self.llms.collect()
        client: LLMClient = self.llms.main
        state: dict[str, Any] = {}
        tools = env_tools(env, info["tools"], state, lambda: hand_over(env, self.llms))
        by_name = {t.name: t for t in tools}
        model = self.chat_model.bind_tools(tools)
        head: list[BaseMessage] = [SystemMessage(SYSTEM), HumanMessage(info.get("task_description") or task_text(obs))]
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
                        end_episode(env, "no_tool_call", self.llms)  # the ending reason in result.json, eval, report, view
                        raise AgentError(f"the model answered {no_tool} times in a row without calling a tool")
                    turns.add([ai, HumanMessage(NUDGE)])
                    continue
                no_tool = 0
                turn: list[BaseMessage] = [ai]
                for bad in ai.invalid_tool_calls:
                    turn.append(ToolMessage(f"Error: the arguments are not a JSON object ({bad.get('error')})", tool_call_id=bad["id"] or ""))
                for tc in ai.tool_calls:
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
            *_, end_info = end_episode(env, "budget", self.llms)
            return end_info.get("result")  # type: ignore[no-any-return]


def _openai(messages: Sequence[BaseMessage]) -> list[dict[str, Any]]:
    out = convert_to_openai_messages(list(messages))
    return out if isinstance(out, list) else [out]


def _stub(m: BaseMessage) -> BaseMessage:
    if isinstance(m, ToolMessage):
        return m.model_copy(update={"content": "(output of an earlier step, elided)"})
    return m
