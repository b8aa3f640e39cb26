"""The action tools.  Importing this package registers the core tools in ``REGISTRY``."""

from __future__ import annotations

from mlgym.env.tools import execute, files  # noqa: F401  (registration)
from mlgym.env.tools.base import REGISTRY, Tool, ToolContext, function_name, lookup, tool

CORE_TOOLS = (
    "List Files",
    "Read File",
    "Write File",
    "Append File",
    "Copy File",
    "Undo Edit Script",
    "Execute Script",
    "Inspect Script Lines",
    "Final Answer",
)

__all__ = ["CORE_TOOLS", "REGISTRY", "Tool", "ToolContext", "function_name", "lookup", "tool"]
