"""Sandbox backends behind one protocol.  ``make_sandbox("local" | "docker", ...)``.

The public names, re-exported: inside the package, import them from their modules
(:mod:`mlgym.sandbox.base`, :mod:`mlgym.sandbox.backends`).
"""

from __future__ import annotations

from mlgym.sandbox.backends import BACKENDS, make_sandbox
from mlgym.sandbox.base import EnvLayer, ExecResult, Limits, Mount, Sandbox

__all__ = ["BACKENDS", "EnvLayer", "ExecResult", "Limits", "Mount", "Sandbox", "make_sandbox"]
