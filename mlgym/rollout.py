"""Public facade of :mod:`mlgym.runs.rollout`: many episodes at once, in worker processes."""

from __future__ import annotations

from mlgym.runs.rollout import Episode, RemoteEnv, VectorSlot, main, rollout, run_agents

__all__ = ["Episode", "RemoteEnv", "VectorSlot", "main", "rollout", "run_agents"]

if __name__ == "__main__":
    raise SystemExit(main())
