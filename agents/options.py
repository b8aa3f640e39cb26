"""Runner flags the agents declare themselves, so ``mlgym/runs/runner.py`` only calls two hooks; the typed options.

:func:`add_options` adds MLAgentBench's research-agent and langchain flags (same names,
same defaults as its ``runner.py``) and our ``--profile``; :func:`agent_tools` asks an agent
class which tools the env should offer for these flags (``tools_for(args)``), falling back
to its ``tools`` attribute.  See docs/research_agent.md.
"""

from __future__ import annotations

import argparse
import dataclasses
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PROFILES = ("mlagentbench", "mlgym")
LANGCHAIN_MODES = ("zero-shot-react-description", "tool-calling")
# MLAgentBench's --agent-type values that have an mlgym agent.
AGENT_TYPES = {"ResearchAgent": "research", "LangChainAgent": "langchain", "Agent": "baseline"}


class _AgentType(argparse.Action):
    """``--agent-type ResearchAgent`` is ``--agent research`` (MLAgentBench's spelling)."""

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option_string: str | None = None) -> None:
        name = str(values)
        if name not in AGENT_TYPES:
            parser.error(f"--agent-type {name!r} has no mlgym counterpart; choose one of: {', '.join(AGENT_TYPES)}")
        setattr(namespace, self.dest, name)
        namespace.agent = AGENT_TYPES[name]


def _non_negative_int(s: str) -> int:
    try:
        v = int(s)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {s!r}") from None
    if v < 0:
        raise argparse.ArgumentTypeError(f"expected an integer >= 0, got {s!r}")
    return v


def _positive_int(s: str) -> int:
    v = _non_negative_int(s)
    if v == 0:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {s!r}")
    return v


def add_options(parser: argparse.ArgumentParser) -> None:
    """MLAgentBench's agent flags with its defaults, plus ``--profile``."""
    g = parser.add_argument_group("research / langchain agents (MLAgentBench's flags; see docs/research_agent.md)")
    g.add_argument("--profile", choices=PROFILES, default="mlagentbench",
                   help="mlagentbench: reproduce MLAgentBench's agent (default); mlgym: our bounded-prompt variant")
    g.add_argument("--agent-type", action=_AgentType, default="ResearchAgent",
                   help="MLAgentBench's agent class name; ResearchAgent = --agent research, LangChainAgent = --agent langchain")
    g.add_argument("--resume-step", type=_non_negative_int, default=0,
                   help="accepted for MLAgentBench; mlgym resumes after the last recorded step (see --resume)")
    g.add_argument("--edit-script-llm-max-tokens", type=_positive_int, default=4000, help="output limit of Edit Script (AI)")
    g.add_argument("--agent-max-steps", type=_positive_int, default=50, help="agent iterations at most")
    g.add_argument("--actions-remove-from-prompt", nargs="+", default=[], metavar="ACTION",
                   help="tools to hide from the prompt besides the default ones")
    g.add_argument("--actions-add-to-prompt", nargs="+", default=[], metavar="ACTION", help="tools to list in the prompt")
    g.add_argument("--retrieval", action="store_true", help="research log + retrieval summary in the prompt")
    g.add_argument("--valid-format-entires", nargs="+", default=None, metavar="ENTRY",
                   help="response entries (MLAgentBench's spelling); default all six")
    g.add_argument("--max-steps-in-context", type=_positive_int, default=3, help="steps shown verbatim in the prompt")
    g.add_argument("--max-observation-steps-in-context", type=_non_negative_int, default=3,
                   help="of those, steps whose observation is shown (older ones show <Done>)")
    g.add_argument("--max-retries", type=_positive_int, default=5, help="malformed responses per step before giving up")
    g.add_argument("--langchain-agent", choices=LANGCHAIN_MODES, default=None,
                   help="langchain agent kind (default: zero-shot-react-description with --profile mlagentbench, "
                        "tool-calling with --profile mlgym)")
    g.add_argument("--temperature", type=float, default=None, help="main model temperature (default: the profile's)")
    g.add_argument("--max-output-tokens", type=_positive_int, default=None,
                   help="main model output limit (default: the profile's)")
    a = parser.add_argument_group("automl agent (see agents/automl.py)")
    a.add_argument("--framework", choices=("sklearn", "flaml", "autogluon", "constantpredictor", "randomforest"), default="sklearn",
                   help="the AutoML framework --agent automl fits within the task's constraint")
    a.add_argument("--framework-params", default=None, metavar="JSON",
                   help="the framework's own arguments as a JSON object (AMLB frameworks.yaml params, e.g. AutoGluon presets)")


@dataclasses.dataclass
class AgentOptions:
    """What an agent is told: the runner's flags as typed fields (same names and defaults as the runner's
    ``--flags``), instead of its ``argparse.Namespace``.  ``extra``: flags of the user's own parser (read as
    attributes too)."""

    agent: str = "baseline"
    seed: int = 0
    task: str | None = None
    resume: Path | None = None
    # LLM agents
    llm_name: str | None = None
    fast_llm_name: str | None = None
    edit_script_llm_name: str | None = None
    llm_base_url: str | None = None
    max_cost: float | None = None
    max_tokens: int | None = None
    llm_cache: Path | None = None
    small_trace: bool = False
    # research / langchain agents (MLAgentBench's flags)
    profile: str = "mlagentbench"
    agent_type: str = "ResearchAgent"
    resume_step: int = 0
    edit_script_llm_max_tokens: int = 4000
    agent_max_steps: int = 50
    actions_remove_from_prompt: list[str] = dataclasses.field(default_factory=list)
    actions_add_to_prompt: list[str] = dataclasses.field(default_factory=list)
    retrieval: bool = False
    valid_format_entires: list[str] | None = None
    max_steps_in_context: int = 3
    max_observation_steps_in_context: int = 3
    max_retries: int = 5
    langchain_agent: str | None = None
    temperature: float | None = None
    max_output_tokens: int | None = None
    # automl agent
    framework: str = "sklearn"
    framework_params: str | None = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)

    @classmethod
    def from_namespace(cls, ns: argparse.Namespace | dict[str, Any]) -> AgentOptions:
        """The options in a runner namespace (or a mapping); names that are no field go to ``extra``."""
        values = dict(vars(ns) if isinstance(ns, argparse.Namespace) else ns)
        names = {f.name for f in dataclasses.fields(cls) if f.name != "extra"}
        return cls(**{k: v for k, v in values.items() if k in names},
                   extra={k: v for k, v in values.items() if k not in names and k != "extra"})

    def __getattr__(self, name: str) -> Any:  # only called for names that are no field: the user's own flags
        extra = self.__dict__.get("extra") or {}
        if name in extra:
            return extra[name]
        raise AttributeError(name)


def agent_tools(agent_cls: Any, args: AgentOptions | argparse.Namespace) -> Sequence[str] | None:
    """The env's tools for ``agent_cls`` under these flags (None: the env's core tools)."""
    pick = getattr(agent_cls, "tools_for", None)
    if callable(pick):
        return pick(args)  # type: ignore[no-any-return]
    return getattr(agent_cls, "tools", None)
