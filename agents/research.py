"""MLAgentBench's research agent (``--agent research``) on mlgym's LLM client, in two profiles.

``--profile mlagentbench`` (the default) reproduces MLAgentBench's ``ResearchAgent``: its
prompt text, the initial prompt plus the last ``--max-steps-in-context`` steps, the retry
note appended to the prompt, the 8 tools it lists, observations over 5,000 characters
summarised by the fast model in 10,000-character blocks, the stop sequence
"Observation:", its temperatures and output limits, retrieval only with ``--retrieval``
(then Retrieval / Append Summary are env steps, as there).  ``--profile mlgym`` is our
bounded variant (below).  docs/research_agent.md lists every difference.

mlgym profile: each response has six entries: Reflection, Research Plan and Status, Fact
Check, Thought, Action, Action Input.  The prompt is bounded: the task and tools, a
retrieval summary of the research log (once there are more than ``keep_steps`` steps),
and the last ``keep_steps`` steps verbatim with observations cut to ``obs_tokens``; the
whole is held under ``prompt_token_cap`` by dropping the oldest verbatim steps first.
After every step the fast model summarises it into ``research_log.log`` in the workspace.
A malformed response is answered with a correction prompt (not a step); after
``max_format_errors`` in a row the agent gives up.

Both profiles save the agent's state to ``agent_state.json`` in the run's log folder after
every step, and ``--resume`` continues from it (steps the state missed are taken from the
trace).
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any, SupportsFloat

import gymnasium as gym
from mlgym.agents.base import Agent, end_episode, env_method, hand_over

from mlgym.env.actions import parse_action, parse_json_loose
from mlgym.core.safetext import printable
from mlgym.core.errors import (
    ActionError,
    AgentError,
    BudgetExceededError,
    LLMError,
    MLGymError,
)
from mlgym.llm.client import RunLLMs, count_tokens, truncate_tokens
from mlgym.env.tools import REGISTRY, llm_tools, lookup  # noqa: F401  (llm_tools: registers the LLM tools in REGISTRY)

log = logging.getLogger("mlgym.agents.research")

STATE_FILE = "agent_state.json"
ENTRIES = ("Reflection", "Research Plan and Status", "Fact Check", "Thought", "Action", "Action Input")
ENTRY_HELP = {
    "Reflection": "What does the observation mean? If there is an error, what caused it and how would you debug it?",
    "Research Plan and Status": (
        "The full high level research plan, with the current status and the confirmed results of each step "
        "briefly noted. Only include progress made by previous steps. Mark updates with **double asterisks**; "
        "if nothing changed, repeat the previous plan and status."
    ),
    "Fact Check": (
        "List each objective statement in the updates to Research Plan and Status and say whether it is guessed "
        "or directly confirmed by the observation above. Performance numbers are confirmed only by running code."
    ),
    "Thought": "What you are doing now, which action to take and why.",
    "Action": "the action to take, exactly one of the tool names",
    "Action Input": "the input to the action as a valid JSON object",
}
INSTRUCTIONS = """\
You know nothing about this problem yet. Follow these instructions and do not forget them:
- First make a high level plan from your understanding of the problem and the tools, and record it in Research Plan and Status. You can revise it later.
- Research Plan and Status keeps track, briefly, of 1) the high level plan, 2) which steps are done and which are in progress, 3) the short results and conclusions of each step.
- Research Plan and Status only holds progress confirmed by previous observations; performance numbers only after running the code and seeing its output.
- Measure the baseline before trying improvements, design experiments that answer the question, and go for the goal as directly as possible.
- Show the supporting results and reasoning before you draw a conclusion.
- Do not install new packages or libraries.
- When you believe the problem is solved, use the Final Answer action. You can submit only once, so check first."""  # noqa: E501 (prompt text)
# ---------------------------------------------------------------- the mlagentbench profile
# The main model's prompt text below is MLAgentBench's own wording (MIT licence,
# snap-stanford/MLAgentBench, MLAgentBench/agents/agent_research.py): it is what the
# profile measures, so it is reproduced, including its typos.  The fast model's prompts
# (observation and step summaries) are in our words; their output markers are MLAgentBench's.
MLAB_PROMPT = """You are a helpful research assistant. You have access to the following tools:
{tools_prompt}

Research Problem: {task_description}

You do not know anything about this problem so far. \n\

Follow these instructions and do not forget them:
- First, come up with a high level plan based on your understanding of the problem and available tools and record it in the Research Plan and Status. You can revise the plan later.
- Research Plan and Status should well organized and succinctly keep track of 1) high level plan (can be revised), 2) what steps have been done and what steps are in progress, 3) short results and conclusions of each step after it has been performed. \n\
- Research Plan and Status must only include progress that has been made by previous steps. It should not include results not directly confirmed by the previous observation. \n\
- Performance numbers and estimates can only be confirmed and included in the status by running the code and observing the output.
- You should come up with a good experiment design that addresses the problem, and whenever applicable, define and measure the baseline performance of the relevant system or model before attempting any improvements.
- Follow the plan and try to achieve the goal as straightforwardly as possible.
- Highlight the supporting experiment results and reasoning before drawing any conclusions. \n\
- Do not try installing any new packages or libraries.
- If you believe you have solved the problem, you can use the Final Answer action to submit your answer. You can only submit once, so double check that you have achieved the goal before submitting.

Always respond in this format exactly:
{format_prompt}
Observation: \n\
```
the result of the action
```

"""  # noqa: E501 (MLAgentBench's prompt, verbatim)
MLAB_FORMAT = {
    "Reflection": "What does the observation mean? If there is an error, what caused the error and how to debug?",
    "Research Plan and Status": (
        "The full high level research plan, with current status and confirmed results of each step briefly annotated. "
        "It must only include progress that has been made by previous steps. If there is any update, enclose the new "
        "update text in double asterisks **like this**. If there is no update, just copy the previous step Research "
        "Plan and Status. The high level plan from the previous step should be fully retained, unless it is "
        "intentionally revised."
    ),
    "Fact Check": (
        "List all objective statements in the updates to Research Plan and Status one by one and point out whether it "
        "is guessed versus directly confirmed by the previous observation directly above. Performance numbers can only "
        "be confirmed by running the code and observing the output."
    ),
    "Thought": "What you are currently doing, what actions to perform and why",
    "Action": "the action to take, should be one of the names of the tools",
    "Action Input": "the input to the action as a valid JSON string",
}
MLAB_RETRY_NOTE = "\n\n Your response was in incorrect format. Please provide a valid response with all entries: {entries}\n\n"
MLAB_RETRIEVAL_HEADER = (
    "\n        Here is a summary of relevant actions and observations you have done:\n        ```\n        {summary}\n"
    "        ```\n        Here are the exact several steps you have done most recently (up to 3 steps):\n        "
)
MLAB_START = "\nNow let's start!\n\n"
MLAB_TURN = "\n\nAssistant:"  # anthropic.AI_PROMPT, which MLAgentBench puts before every past response
# Every tool MLAgentBench's env offers (its order; Request Help is interactive only, Python REPL we lack).
MLAB_ALL_TOOLS = (
    "List Files", "Read File", "Write File", "Append File", "Copy File", "Undo Edit Script", "Execute Script",
    "Final Answer", "Understand File", "Append Summary to Research Log", "Inspect Script Lines", "Edit Script (AI)",
    "Edit Script Segment (AI)", "Reflection", "Retrieval from Research Log",
)
MLAB_HIDDEN = ("Read File", "Write File", "Append File", "Retrieval from Research Log", "Append Summary to Research Log",
               "Python REPL", "Edit Script Segment (AI)")
MLAB_HIDDEN_NO_RETRIEVAL = ("Retrieval from Research Log", "Append Summary to Research Log", "Reflection")
MLAB_SUMMARY_CHARS = 5000  # observations longer than this are summarised ...
MLAB_BLOCK_CHARS = 10_000  # ... in blocks of this many characters
PARSE_ERROR = "ActionInputParsingError"


def mlab_prompt_tools(args: Any) -> list[str]:
    """The tools MLAgentBench lists in the prompt for these flags (8 by default)."""
    hidden = list(MLAB_HIDDEN) + list(getattr(args, "actions_remove_from_prompt", None) or [])
    if not getattr(args, "retrieval", False):
        hidden += MLAB_HIDDEN_NO_RETRIEVAL
    names = [n for n in MLAB_ALL_TOOLS if n not in hidden]
    for extra in getattr(args, "actions_add_to_prompt", None) or []:
        if extra not in MLAB_ALL_TOOLS:
            raise AgentError(f"--actions-add-to-prompt: unknown tool {extra!r}; choose from: {', '.join(MLAB_ALL_TOOLS)}")
        names.append(extra)
    return names


def mlab_tool_text(name: str) -> str:
    """One tool as MLAgentBench describes it in the prompt (its layout and indentation)."""
    t = REGISTRY[name]
    usage = ",\n            ".join(f'"{k}": [{v["description"]}]' for k, v in t.params.items())
    body = (
        f"{t.description}\n        Usage:\n        ```\n        Action: {name}\n        Action Input: {{\n            {usage}\n"
        f"        }}\n        Observation: [{t._returns}]\n        ```"
    )
    return body.strip() + "\n\n"


def mlab_tools_prompt(names: list[str]) -> str:
    return "".join(f"- {n}:\n        " + mlab_tool_text(n) for n in names)


def mlab_parse(text: str, entries: list[str]) -> dict[str, str] | None:
    """MLAgentBench's response parse: every entry header, in order, each value running (greedily)
    to the next header; values keep their whitespace.  None when a header is missing."""
    pattern = "".join(re.escape(e.strip()) + r":([\s\S]*)" for e in entries)
    m = re.search(pattern, text, re.MULTILINE)
    return None if m is None else dict(zip(entries, m.groups()))


def mlab_render(entries: dict[str, str], names: list[str]) -> str:
    """A past response as MLAgentBench shows it: ``Name: value`` joined with nothing between."""
    return "".join(f"{k}: {entries.get(k, '')}" for k in names)


def mlab_sampling(model: str) -> dict[str, Any]:
    """MLAgentBench's defaults for ``model``'s backend: Claude 0.5 / 2,000 tokens and stop at
    "\n\nHuman:" too; OpenAI's own API 0.2 / 500 tokens; CRFM, Gemini, Hugging Face 0.5 / 2,000.
    All stop at "Observation:".  litellm names map by provider."""
    provider, _, bare = model.rpartition("/")
    provider = provider.split("/")[0].lower()
    if provider in ("anthropic", "bedrock") and "claude" in bare or (not provider and bare.startswith("claude")):
        return {"temperature": 0.5, "max_output_tokens": 2000, "stop": ["\n\nHuman:", "Observation:"]}
    if provider in ("openai", "azure") or (not provider and bare.startswith(("gpt-", "o1", "o3", "o4"))):
        return {"temperature": 0.2, "max_output_tokens": 500, "stop": ["Observation:"]}
    return {"temperature": 0.5, "max_output_tokens": 2000, "stop": ["Observation:"]}


def profile_sampling(args: Any) -> dict[str, dict[str, Any]] | None:
    """Per-role LLM settings of the chosen profile (None: mlgym's, temperature 0, no stop)."""
    main = getattr(args, "llm_name", None) or ""
    temperature, max_out = getattr(args, "temperature", None), getattr(args, "max_output_tokens", None)
    if getattr(args, "profile", "mlagentbench") != "mlagentbench":
        over = {k: v for k, v in (("temperature", temperature), ("max_output_tokens", max_out)) if v is not None}
        return {"main": over} if over else None
    fast = getattr(args, "fast_llm_name", None) or main
    edit = getattr(args, "edit_script_llm_name", None) or fast
    main_s = mlab_sampling(main)
    if temperature is not None:
        main_s["temperature"] = temperature
    if max_out is not None:
        main_s["max_output_tokens"] = max_out
    return {
        "main": main_s,
        "fast": {**mlab_sampling(fast), "temperature": 0.01},
        "edit": {**mlab_sampling(edit), "max_output_tokens": int(getattr(args, "edit_script_llm_max_tokens", 4000))},
    }


_HEADER_RE = re.compile(r"^\s*[*#]*\s*(" + "|".join(re.escape(e) for e in ENTRIES) + r")\s*[*]*\s*:", re.MULTILINE | re.IGNORECASE)


def parse_entries(text: str) -> dict[str, str]:
    """The six entries of a response (the last occurrence of each header wins)."""
    hits = list(_HEADER_RE.finditer(text))
    out: dict[str, str] = {}
    for i, m in enumerate(hits):
        end = hits[i + 1].start() if i + 1 < len(hits) else len(text)
        name = next(e for e in ENTRIES if e.lower() == m.group(1).lower())
        out[name] = text[m.end() : end].strip()
    return out


class ResearchAgent(Agent):
    name = "research"
    tools = (
        "List Files", "Copy File", "Undo Edit Script", "Execute Script", "Final Answer",
        "Understand File", "Inspect Script Lines", "Edit Script (AI)", "Edit Script Segment (AI)", "Reflection",
    )
    keep_steps = 3  # verbatim steps in the prompt
    obs_tokens = 1500  # per verbatim observation
    prompt_token_cap = 12000  # hard ceiling on one prompt
    summary_obs_tokens = 3000  # observation shown to the step summariser
    max_format_errors = 5  # consecutive malformed responses before giving up

    def __init__(self, args: Any = None) -> None:
        super().__init__(args)
        self.profile = str(getattr(args, "profile", None) or "mlagentbench")
        self.llms = RunLLMs.from_args(args, needs="--agent research", sampling=profile_sampling(args))
        self.state: dict[str, Any] = {
            "version": 1, "profile": self.profile, "steps": [], "retrieval": "", "format_errors": 0, "consecutive_errors": 0,
        }
        self.prompt_tokens: list[int] = []  # tokens of each main prompt (for benches)
        self.entries = list(getattr(args, "valid_format_entires", None) or ENTRIES)
        unknown = [e for e in self.entries if e not in MLAB_FORMAT]
        if unknown:
            raise AgentError(f"--valid-format-entires: unknown entries {unknown}; choose from: {', '.join(MLAB_FORMAT)}")

    @classmethod
    def tools_for(cls, args: Any) -> tuple[str, ...]:
        """The env's tools: all of MLAgentBench's (8 listed in the prompt) or the mlgym profile's 10."""
        if getattr(args, "profile", None) in (None, "mlagentbench"):
            return MLAB_ALL_TOOLS
        return cls.tools

    def _opt(self, name: str, default: Any) -> Any:
        value = getattr(self.args, name, None)
        return default if value is None else value

    # ------------------------------------------------------------ prompt
    def initial_prompt(self, problem: str, tool_names: list[str]) -> str:
        tools = "\n".join(REGISTRY[n].prompt_text() for n in tool_names)
        fmt = "\n".join(f"{e}: {ENTRY_HELP[e]}" for e in ENTRIES)
        return (
            f"You are a helpful research assistant. You have access to the following tools:\n{tools}\n\n"
            f"Research Problem: {problem}\n\n{INSTRUCTIONS}\n\n"
            f"Always respond in exactly this format:\n{fmt}\nObservation:\n```\nthe result of the action\n```\n"
        )

    def build_prompt(self) -> str:
        """The prompt for the next step, never over ``prompt_token_cap`` tokens.

        Over the cap, in this order: fewer verbatim steps (down to one), a shorter retrieval
        summary, shorter observations and responses in the kept step, and at last a cut
        through the middle of the prompt.
        """
        model = self.llms.main.model
        steps = self.state["steps"]
        keep = min(self.keep_steps, len(steps))
        obs_tokens = self.obs_tokens
        resp_tokens: int | None = None
        while True:
            prompt = self._initial
            recent = steps[len(steps) - keep :] if keep else []
            if len(steps) > keep:
                prompt += (
                    "\nHere is a summary of the relevant actions and observations so far:\n```\n"
                    f"{self.state['retrieval']}\n```\nHere are the exact last {keep} steps:\n"
                )
            else:
                prompt += "\nNow let's start!\n"
            for s in recent:
                obs = truncate_tokens(s["observation"], obs_tokens, model)
                resp = s["response"] if resp_tokens is None else truncate_tokens(s["response"], resp_tokens, model)
                prompt += f"\nStep {s['step']}:\n{resp}\nObservation:\n```\n{obs}\n```\n"
            if count_tokens(prompt, model) <= self.prompt_token_cap:
                return prompt
            if keep > 1:
                keep -= 1
                continue
            retrieval = self.state["retrieval"]
            short = truncate_tokens(retrieval, max(self.prompt_token_cap // 4, 200), model) if retrieval else retrieval
            if short != retrieval:
                self.state["retrieval"] = short
                continue
            if recent and obs_tokens > 100:
                obs_tokens //= 2
                continue
            if recent and (resp_tokens is None or resp_tokens > 100):
                resp_tokens = max(100, (resp_tokens or self.prompt_token_cap // 2) // 2)
                continue
            return truncate_tokens(prompt, self.prompt_token_cap, model, note="tokens of the prompt cut")

    def validate(self, text: str, tool_names: list[str]) -> str | None:
        """None when ``text`` is a usable response, else what to fix."""
        entries = parse_entries(text)
        missing = [e for e in ENTRIES if e not in entries]
        if missing:
            return f"the entries {', '.join(missing)} are missing"
        try:
            call = parse_action(text)
            lookup(call.name, tool_names)
        except ActionError as e:
            return str(e)
        return None

    # ------------------------------------------------------------ state
    def _state_path(self) -> Path:
        return Path(self._log_dir) / STATE_FILE

    def save(self) -> None:
        path = self._state_path()
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.state, indent=1, ensure_ascii=False))
        os.replace(tmp, path)

    def load(self, env: Any) -> None:
        from mlgym.runlog.trace import load

        path = self._state_path()
        if path.is_file():
            self.state = json.loads(path.read_text())
        saved = self.state.get("profile", "mlgym")
        if saved != self.profile:
            raise AgentError(f"cannot resume: the run used --profile {saved}, not {self.profile}")
        trace_steps = load(Path(self._log_dir)).steps
        wanted = int(getattr(self.args, "resume_step", 0) or 0)
        if wanted and wanted != len(trace_steps):
            raise AgentError(f"--resume-step {wanted}: mlgym resumes after the last recorded step ({len(trace_steps)})")
        last = int(self.state.get("last_env_step") or max((s.get("step") or 0 for s in self.state["steps"]), default=0))
        for rec in trace_steps:  # crashed between the step and the save
            if rec["step"] <= last:
                continue
            act = rec.get("action") or {}
            if self.profile == "mlagentbench":
                if act.get("name") in ("Retrieval from Research Log", "Append Summary to Research Log"):
                    continue
                entries = {e: "" for e in self.entries}
                entries.update({"Action": f" {act.get('name')}\n", "Action Input": f" {json.dumps(act.get('arguments'))}"})
                self.state["steps"].append({"step": rec["step"], "entries": entries, "observation": rec.get("observation") or ""})
                continue
            response = rec.get("raw_action") or f"Action: {act.get('name')}\nAction Input: {json.dumps(act.get('arguments'))}"
            obs = truncate_tokens(rec.get("observation") or "", self.obs_tokens, self.llms.main.model)
            self.state["steps"].append({"step": rec["step"], "response": response, "observation": obs})
        log.info("resumed the research agent at step %d", len(self.state["steps"]))

    # ------------------------------------------------------------ loop
    def run(self, env: gym.Env, obs: str, info: dict[str, Any]) -> dict[str, Any] | None:  # type: ignore[type-arg]
        # Only the public API (the env may live in another process): the LLM tools' models are built
        # in the env's process (configure_llm_tools), this agent's model calls and usage are handed over
        # before each action, the research log is written and read through the env (aside).
        self._log_dir = info["log_dir"]
        self._done, self._result = False, None
        self.llms.collect()
        tool_names = list(info["tool_names"])
        if self.profile == "mlagentbench":
            self._tool_opts = self.llms.tool_options(profile="mlagentbench", edit_backups=True, inspect_max_lines=101)
            self._prepare_mlab(str(info.get("research_problem") or info["task_description"]), tool_names)
        else:
            self._tool_opts = self.llms.tool_options()
            problem = info.get("task_description") or obs.split("\n\nYou have access to the following tools:")[0]
            self._initial = self.initial_prompt(str(problem).removeprefix("Research Problem: "), tool_names)
        problem = env_method(env, "configure_llm_tools")(self._tool_opts)
        if problem:  # the LLM-backed tools then say they have no model
            log.warning("research agent: %s", printable(problem))
        if getattr(self.args, "resume", None):
            self.load(env)
        try:
            if self.profile == "mlagentbench":
                return self._mlab_loop(env)
            return self._loop(env, tool_names)
        except BudgetExceededError as e:
            log.warning("research agent: %s", printable(e))
            self.save()
            return self._end(env, "budget")
        except MLGymError:  # gave up, or the provider failed: the episode stays open (the caller ends it or resumes)
            self.save()
            if not self._done:
                try:  # the model calls made since the last action still reach the trace
                    self._hand_over(env)
                except MLGymError as e:
                    log.warning("could not hand over the last model calls: %s", printable(e))
            raise

    def _hand_over(self, env: gym.Env) -> None:  # type: ignore[type-arg]
        """Before every env call: the LLM records and usage since the last one, and the agent's own spend
        (for the LLM tools' budget)."""
        hand_over(env, self.llms, format_errors=self.state["format_errors"])
        env_method(env, "report_llm_usage")(self.llms.budget.own())

    def _act(self, env: gym.Env, action: dict[str, Any]) -> tuple[str, float, bool, bool, dict[str, Any]]:  # type: ignore[type-arg]
        """One env call (a step, ``{"end": reason}``, ``{"aside": call}`` or ``{"text": ...}``) after handing over
        the notes; keeps the tools' spend and the result."""
        self._hand_over(env)
        reward: SupportsFloat  # a float from end_episode, what gym.Env.step declares from step
        if "end" in action:
            obs, reward, term, trunc, info = end_episode(env, str(action["end"]))
        elif "aside" in action:
            obs, info = env_method(env, "aside")(action["aside"].get("name"), action["aside"].get("arguments"))
            reward, term, trunc = 0.0, False, False
        else:
            obs, reward, term, trunc, info = env.step(action["text"] if "text" in action else action)
        self.llms.budget.set_outside(info.get("tool_llm_usage"))
        if term or trunc:
            self._done, self._result = True, info.get("result")
        return str(obs), float(reward), bool(term), bool(trunc), info

    def _end(self, env: gym.Env, reason: str) -> dict[str, Any] | None:  # type: ignore[type-arg]
        """End the episode (an ``end`` action) unless it is over; the result."""
        if not self._done:
            self._act(env, {"end": reason})
        return self._result

    def _loop(self, env: gym.Env, tool_names: list[str]) -> dict[str, Any] | None:  # type: ignore[type-arg]
        while True:
            steps = self.state["steps"]
            if len(steps) > self.keep_steps:
                plan = parse_entries(steps[-1]["response"]).get("Research Plan and Status", "")
                aside = {"name": "Retrieval from Research Log", "arguments": {"current_plan": plan}}
                summary, *_, info = self._act(env, {"aside": aside})  # not a step (docs/research_agent.md #2)
                if info.get("error"):  # keep the previous summary
                    log.warning("retrieval from the research log failed: %s", printable(info["error"]))
                else:
                    self.state["retrieval"] = summary
            prompt = self.build_prompt()
            self.prompt_tokens.append(count_tokens(prompt, self.llms.main.model))
            messages: list[dict[str, Any]] = [{"role": "user", "content": prompt}]
            while True:
                reply = self.llms.main.complete(messages, purpose="research agent")
                problem = self.validate(reply.content, tool_names)
                if problem is None:
                    self.state["consecutive_errors"] = 0
                    break
                self.state["format_errors"] += 1
                self.state["consecutive_errors"] += 1
                log.warning("malformed response (%d in a row): %s", self.state["consecutive_errors"], printable(problem))
                if self.state["consecutive_errors"] >= self.max_format_errors:
                    self.save()
                    raise AgentError(f"the model gave {self.max_format_errors} malformed responses in a row; last problem: {problem}")
                messages = [
                    {"role": "user", "content": prompt},
                    {"role": "assistant", "content": reply.content},
                    {"role": "user", "content": (
                        f"Your response was in the wrong format: {problem}.\nRespond again with all the entries "
                        f"({', '.join(ENTRIES)}), ending with the Action and Action Input lines."
                    )},
                ]
            text = reply.content.split("\nObservation:")[0].strip()  # a hallucinated observation is dropped
            obs, _reward, terminated, truncated, info = self._act(env, {"text": text})
            step = {"step": info["step"], "response": text, "observation": obs}
            self._summarise(env, step)
            # Only the cut observation is ever shown again: keep the state file small.
            steps.append({**step, "observation": truncate_tokens(obs, self.obs_tokens, self.llms.main.model)})
            self.save()
            if terminated or truncated:
                return info.get("result")

    def _summarise(self, env: gym.Env, step: dict[str, Any]) -> None:  # type: ignore[type-arg]
        if self._done:
            return
        obs = truncate_tokens(step["observation"], self.summary_obs_tokens, self.llms.fast.model)
        prompt = (
            f"Here is an action you took and its observation.\n{step['response']}\nObservation:\n```\n{obs}\n```\n"
            "Summarise them in this format:\n[Reasoning]: the reasoning behind the action\n"
            "[Action]: the relevant details of the action\n[Observation]: the relevant details of the observation\n"
            "Report only what the observation confirms; add no guesses or suggestions."
        )
        try:
            summary = self.llms.fast.complete([{"role": "user", "content": prompt}], purpose="step summary").content.strip()
        except LLMError as e:
            log.warning("no summary of step %d: %s", step["step"], e)
            summary = f"[Action]: {step['response'].splitlines()[-2:]}\n[Observation]: (not summarised: the model failed)"
        entry = {"name": "Append Summary to Research Log", "arguments": {"content": f"\nStep {step['step']}:\n{summary}\n"}}
        self._act(env, {"aside": entry})  # not a step (docs/research_agent.md #2)

    # ------------------------------------------------------------ the mlagentbench profile
    def _prepare_mlab(self, problem: str, tool_names: list[str]) -> None:
        """The initial prompt, as MLAgentBench makes it (the tools' settings and the ``backup/``
        folder come with ``llm_tools``: 101 Inspect lines, AI-edit backups)."""
        self.prompt_names = mlab_prompt_tools(self.args)
        missing = [n for n in self.prompt_names if n not in tool_names]
        if missing:
            raise AgentError(f"the env does not offer the tools {missing} (run it with ResearchAgent.tools_for(args))")
        self.all_names = tool_names
        self._initial = MLAB_PROMPT.format(
            tools_prompt=mlab_tools_prompt(self.prompt_names), task_description=problem,
            format_prompt="\n".join(f"{k}: {MLAB_FORMAT[k]}" for k in self.entries),
        )

    def mlab_prompt(self) -> str:
        """MLAgentBench's prompt for the next step: the initial prompt, then the last
        ``--max-steps-in-context`` steps (observations older than
        ``--max-observation-steps-in-context`` steps shown as ``<Done>``)."""
        steps = self.state["steps"]
        last_steps = int(self._opt("max_steps_in_context", 3))
        last_obs = int(self._opt("max_observation_steps_in_context", 3))
        curr = len(steps)
        prompt = self._initial
        if curr > last_steps:
            if self._opt("retrieval", False):
                prompt += MLAB_RETRIEVAL_HEADER.format(summary=self.state["retrieval"])
        else:
            prompt += MLAB_START
        for idx in range(max(curr - last_steps, 0), curr):
            prompt += MLAB_TURN + "\n" + mlab_render(steps[idx]["entries"], self.entries) + "\nObservation:"
            if curr - idx > last_obs:
                prompt += "<Done>\n\n"
            else:
                prompt += "\n```\n" + steps[idx]["observation"] + "\n```\n\n"
        return prompt

    def _mlab_valid(self, text: str) -> dict[str, str] | None:
        entries = mlab_parse(text, self.entries)
        if entries is None or entries.get("Action", "").strip() not in self.all_names:
            return None
        return entries

    def _mlab_loop(self, env: gym.Env) -> dict[str, Any] | None:  # type: ignore[type-arg]
        steps: list[dict[str, Any]] = self.state["steps"]
        retrieval = bool(self._opt("retrieval", False))
        max_retries = int(self._opt("max_retries", 5))
        while not self._done and len(steps) < int(self._opt("agent_max_steps", 50)):
            curr = len(steps)
            if retrieval and curr > int(self._opt("max_steps_in_context", 3)):
                obs, _r, term, trunc, info = self._env_step(env, "Retrieval from Research Log", {"current_plan": ""})
                self.state["retrieval"] = obs
                if term or trunc:
                    return info.get("result")  # type: ignore[no-any-return]
            prompt = self.mlab_prompt()
            entries = None
            for _ in range(max_retries):
                self.prompt_tokens.append(count_tokens(prompt, self.llms.main.model))
                completion = self.llms.main.complete([{"role": "user", "content": prompt}], purpose="research agent").content
                entries = self._mlab_valid(completion)
                if entries is not None:
                    break
                self.state["format_errors"] += 1
                log.warning("step %d: response is invalid and discarded", curr)
                prompt += MLAB_RETRY_NOTE.format(entries=", ".join(self.entries))
            if entries is None:
                self.save()
                raise AgentError(f"no valid response after {max_retries} retries (--max-retries)")
            plan = "Research Plan and Status"
            if plan in entries:
                entries[plan] = (entries[plan].strip("`") + "\n\n").replace("**", "")
            action = entries["Action"].strip()
            result, done = None, False
            try:
                arguments = parse_json_loose(entries.get("Action Input", ""))
                if not isinstance(arguments, dict):
                    raise ActionError("Action Input is not a JSON object")
            except ActionError as e:
                obs = f"{PARSE_ERROR}: {e}\n{self._usage_note(action)}"  # not an env step, as in MLAgentBench
                step_no = None
            else:
                obs, _r, term, trunc, info = self._env_step(env, action, arguments)
                step_no, done, result = info["step"], term or trunc, info.get("result")
            if len(obs) > MLAB_SUMMARY_CHARS:
                obs = self.summarise_observation(mlab_render(entries, self.entries), obs)
            steps.append({"step": step_no, "entries": entries, "observation": obs})
            if not obs.startswith(PARSE_ERROR):
                steps[:] = [s for s in steps if not s["observation"].startswith(PARSE_ERROR)]
            if retrieval and not done:
                summary = self._mlab_step_summary(mlab_render(entries, self.entries), obs, max_retries)
                _o, _r, term, trunc, info = self._env_step(env, "Append Summary to Research Log", {"content": f"\n\nStep {curr}:\n{summary}\n"})
                done, result = term or trunc, info.get("result")
            self.save()
            if done:
                return result
        return self._end(env, "agent_max_steps")

    def _env_step(self, env: gym.Env, name: str, arguments: dict[str, Any]) -> tuple[str, float, bool, bool, dict[str, Any]]:  # type: ignore[type-arg]
        out = self._act(env, {"name": name, "arguments": arguments})
        self.state["last_env_step"] = out[4]["step"]
        return out

    @staticmethod
    def _usage_note(action: str) -> str:
        """What the arguments of ``action`` should look like (MLAgentBench's parsing-error hint, our words)."""
        t = REGISTRY.get(action)
        usage = ",\n            ".join(f"{k}: [{v['description']}]" for k, v in (t.params.items() if t else ()))
        return (
            f"The Action Input for {action} must be a valid JSON object with these entries (check the commas between "
            f"entries; JSON has no triple quotes):\n{{\n            {usage}\n}}"
        )

    def summarise_observation(self, action: str, observation: str) -> str:
        """MLAgentBench's long-observation summary: the fast model reads 10,000-character blocks,
        then combines the block summaries; the text after "[Observation]:" is kept."""
        size = MLAB_BLOCK_CHARS
        blocks = [observation[i : i + size] for i in range(0, len(observation), size)]
        fmt = (
            "Summarise the observation concisely in this format:\n[Observation]: all the relevant details of the "
            "observation, stated objectively\n\nInclude only what the observation confirms; no guesses, no suggestions."
        )
        parts = []
        for i, block in enumerate(blocks):
            prompt = (
                f"\n{action}\n\nThe observation is too long to show whole. Here are its characters {size * i + 1} to "
                f"{size * i + 1 + len(block)}:\n```\n{block}\n```\n{fmt}\n"
            )
            parts.append(self._fast(prompt, f"observation summary {i + 1}/{len(blocks)}"))
        text = parts[0]
        if len(parts) > 1:
            joined = "\n\n".join(f"Segment {i + 1}:\n\n{p}" for i, p in enumerate(parts))
            prompt = (
                f"\n{action}\n\nThe observation is too long to show whole. Here are summaries of its consecutive "
                f"segments; combine them into one coherent description of the whole observation.\n{joined}\n\n{fmt}\n"
            )
            text = self._fast(prompt, "observation summary (combine)")
        return text.split("[Observation]:")[1] if "[Observation]:" in text else text

    def _mlab_step_summary(self, action: str, observation: str, tries: int) -> str:
        """The research-log entry of a step (with --retrieval); MLAgentBench keeps the text from
        "[Reasoning]:" on and retries a reply without it."""
        prompt = (
            f"Here is an action you took and its observation:\n{action}\n[Observation]:\n```\n{observation}\n```\n"
            "Summarise them in this format:\n[Reasoning]: the reasoning behind the action\n"
            "[Action]: all the relevant details of the action, objectively\n"
            "[Observation]: all the relevant details of the observation, objectively\n"
            "Include only what the observation confirms; no guesses, no suggestions."
        )
        for _ in range(tries):
            try:
                text = self._fast(prompt, "step summary")
            except ActionError as e:
                log.warning("step summary failed: %s", e)
                continue
            if "[Reasoning]:" in text:
                return "[Reasoning]:" + text.split("[Reasoning]:")[1]
        return "Too long to summarize."

    def _fast(self, prompt: str, purpose: str) -> str:
        try:
            return str(self.llms.fast.complete([{"role": "user", "content": prompt}], purpose=purpose).content)
        except LLMError as e:  # a failed summary is the tool's failure, as in MLAgentBench's env
            raise ActionError(f"LLMError: {e}") from None
