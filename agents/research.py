"""MLAgentBench's research agent (``--agent research``) on mlgym's LLM client.

Each response has six entries: Reflection, Research Plan and Status, Fact Check,
Thought, Action, Action Input.  The prompt is bounded: the task and tools, a
retrieval summary of the research log (once there are more than ``keep_steps``
steps), and the last ``keep_steps`` steps verbatim with observations cut to
``obs_tokens``; the whole is held under ``prompt_token_cap`` by dropping the oldest
verbatim steps first.  After every step the fast model summarises it into
``research_log.log`` in the workspace.

A malformed response is answered with a correction prompt (not a step); after
``max_format_errors`` in a row the agent gives up.  The agent's state is saved to
``agent_state.json`` in the run's log folder after every step, and ``--resume``
continues from it (steps the state missed are taken from the trace).
"""

from __future__ import annotations

import json
import logging
import os
import re
from pathlib import Path
from typing import Any

import gymnasium as gym
from mlgym.agents.base import Agent

from mlgym.actions import parse_action
from mlgym.errors import (
    ActionError,
    AgentError,
    BudgetExceededError,
    LLMError,
    MLGymError,
)
from mlgym.llm import RunLLMs, count_tokens, truncate_tokens
from mlgym.tools import REGISTRY, llm_tools, lookup

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
- When you believe the problem is solved, use the Final Answer action. You can submit only once, so check first."""
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
        self.llms = RunLLMs.from_args(args, needs="--agent research")
        self.state: dict[str, Any] = {"version": 1, "steps": [], "retrieval": "", "format_errors": 0, "consecutive_errors": 0}
        self.prompt_tokens: list[int] = []  # tokens of each main prompt (for benches)

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
        from mlgym.trace import load

        path = self._state_path()
        if path.is_file():
            self.state = json.loads(path.read_text())
        trace_steps = load(Path(self._log_dir)).steps
        for rec in trace_steps[len(self.state["steps"]) :]:  # crashed between the step and the save
            act = rec.get("action") or {}
            response = rec.get("raw_action") or f"Action: {act.get('name')}\nAction Input: {json.dumps(act.get('arguments'))}"
            obs = truncate_tokens(rec.get("observation") or "", self.obs_tokens, self.llms.main.model)
            self.state["steps"].append({"step": rec["step"], "response": response, "observation": obs})
        log.info("resumed the research agent at step %d", len(self.state["steps"]))

    # ------------------------------------------------------------ loop
    def run(self, env: gym.Env, obs: str, info: dict[str, Any]) -> dict[str, Any] | None:  # type: ignore[type-arg]
        base: Any = env.unwrapped
        self._log_dir = info["log_dir"]
        self.llms.attach(env)
        tool_names = list(info["tool_names"])
        problem = obs.split("\n\nYou have access to the following tools:")[0].removeprefix("Research Problem: ")
        self._initial = self.initial_prompt(problem, tool_names)
        if getattr(self.args, "resume", None):
            self.load(env)
        try:
            return self._loop(env, tool_names)
        except BudgetExceededError as e:
            log.warning("research agent: %s", e)
            self.save()
            base.run_info.update(self.llms.usage(), format_errors=self.state["format_errors"])
            base.finish("budget")
            return base.result  # type: ignore[no-any-return]
        except MLGymError:
            self.save()
            raise

    def _loop(self, env: gym.Env, tool_names: list[str]) -> dict[str, Any] | None:  # type: ignore[type-arg]
        base: Any = env.unwrapped
        while True:
            steps = self.state["steps"]
            if len(steps) > self.keep_steps:
                plan = parse_entries(steps[-1]["response"]).get("Research Plan and Status", "")
                try:
                    self.state["retrieval"] = llm_tools.retrieve(base.ctx, plan)
                except ActionError as e:  # keep the previous summary
                    log.warning("retrieval from the research log failed: %s", e)
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
                log.warning("malformed response (%d in a row): %s", self.state["consecutive_errors"], problem)
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
            base.run_info.update(self.llms.usage(), format_errors=self.state["format_errors"])
            obs, _reward, terminated, truncated, info = env.step(text)
            step = {"step": info["step"], "response": text, "observation": obs}
            self._summarise(base, step)
            # Only the cut observation is ever shown again: keep the state file small.
            steps.append({**step, "observation": truncate_tokens(obs, self.obs_tokens, self.llms.main.model)})
            self.save()
            if terminated or truncated:
                return info.get("result")

    def _summarise(self, base: Any, step: dict[str, Any]) -> None:
        if base.ctx is None or base.result is not None:
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
        llm_tools.append_research_log(base.ctx, f"\nStep {step['step']}:\n{summary}\n")
