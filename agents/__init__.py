"""Agents that step through an mlgym environment using only its public API.

Installed as ``mlgym.agents``.  ``AGENTS`` maps the runner's ``--agent`` names to
``"module:Class"`` entry points, imported lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

from mlgym.core.errors import AgentError

AGENTS: dict[str, str] = {
    "baseline": "mlgym.agents.baseline:BaselineAgent",
    "research": "mlgym.agents.research:ResearchAgent",
    "tools": "mlgym.agents.tools_agent:ToolsAgent",
    "langchain": "mlgym.agents.langchain_agent:LangChainAgent",
    "oracle": "mlgym.agents.oracle:OracleAgent",
    "search": "mlgym.agents.search:SearchAgent",
    "aide": "mlgym.agents.aide:AIDEAgent",
    "automl": "mlgym.agents.automl:AutoMLAgent",
}


def load_agent(name: str) -> Any:
    """The agent class for ``--agent name`` (or a ``module:Class`` path of the user's)."""
    target = AGENTS.get(name, name if ":" in name else None)
    if target is None:
        from mlgym.core.parsing import did_you_mean

        raise AgentError(f"unknown agent {name!r}{did_you_mean(name, AGENTS)}; choose one of: {', '.join(AGENTS)} "
                         "(or module:Class; `mlgym agents` describes them)")
    module, _, cls = target.partition(":")
    try:
        return getattr(importlib.import_module(module), cls)
    except (ImportError, AttributeError) as e:
        raise AgentError(f"cannot load agent {name!r} from {target}: {e}") from e
