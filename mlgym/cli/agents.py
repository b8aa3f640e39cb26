"""``mlgym agents``: the built-in agents, what each needs, and the runner flags that configure them."""

from __future__ import annotations

import argparse
from typing import Sequence

from mlgym.core.parsing import Parser

# name -> what it is (the module docstrings say more; docs/agents.md)
AGENTS = {
    "baseline": "runs the task's starter code unchanged and submits its output (no model)",
    "oracle": "submits the task's reference solution where one exists (no model; checks a task's grading)",
    "search": "hyperparameter search over the starter's model without an LLM",
    "automl": "sklearn / FLAML / AutoGluon AutoML on the task's data (no model)",
    "research": "MLAgentBench's research agent (--profile mlagentbench, default) or our bounded-prompt variant (--profile mlgym)",
    "langchain": "MLAgentBench's LangChain agent (ReAct or tool-calling)",
    "tools": "native tool calling: the model calls the env's tools as functions",
    "aide": "AIDE-style tree search over whole scripts (draft, debug, improve)",
}
NEEDS_LLM = {"research", "langchain", "tools", "aide"}


def main(argv: Sequence[str] | None = None) -> int:
    p = Parser(prog="mlgym agents", description="List the built-in agents and the runner flags that configure them "
               "(use one with `mlgym run --agent NAME`, or your own as --agent module:Class).")
    p.add_argument("--flags", action="store_true", help="also print every agent flag of the runner with its default")
    a = p.parse_args(argv)
    from mlgym.agents import load_agent

    for name, what in AGENTS.items():
        try:
            load_agent(name)
            ok = ""
        except Exception as e:  # noqa: BLE001 - an optional dependency missing: say so, list the rest
            ok = f"  [not available: {str(e).splitlines()[0][:80]}]"
        need = " (needs --llm-name)" if name in NEEDS_LLM else ""
        print(f"{name:10} {what}{need}{ok}")
    if a.flags:
        from mlgym.runs.runner import build_parser

        print("\nagent flags (python -m mlgym.runner / mlgym run):")
        for group in build_parser()._action_groups:
            if group.title in ("LLM agents",) or (group.title or "").startswith("research"):
                for act in group._group_actions:
                    if act.help == argparse.SUPPRESS:
                        continue
                    print(f"  {', '.join(act.option_strings):34} {act.help} (default: {act.default})")
    else:
        print("\n`mlgym agents --flags` lists the runner flags that configure them; a run records the ones you changed "
              "as agent_config in result.json.")
    return 0
