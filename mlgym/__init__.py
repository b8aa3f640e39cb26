"""mlgym: machine-learning engineering tasks as Gymnasium environments.

Importing the package registers one environment per task: ``mlgym/<task>-v0``.
"""

from __future__ import annotations

import os
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

import gymnasium as gym  # noqa: E402

from mlgym.core.errors import MLGymError  # noqa: E402
from mlgym.tasks.catalog import register_family, row_sources  # noqa: E402
from mlgym.tasks.spec import TaskSpec, list_tasks  # noqa: E402

from mlgym.core.version import __version__  # noqa: E402

__all__ = ["MLGymError", "TaskSpec", "__version__", "list_tasks", "make", "register_family", "register_tasks"]


def register_tasks() -> list[str]:
    """Register ``mlgym/<task>-v0`` for every task found (idempotent)."""
    ids = []
    for name in list_tasks():
        env_id = f"mlgym/{name}-v0"
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point="mlgym.env.core:MLGymEnv", kwargs={"task": name}, nondeterministic=True)
        ids.append(env_id)
    for kind in _row_kinds():  # dataset-row families: one id, the row given as task=...
        env_id = f"mlgym/{kind}-v0"
        if env_id not in gym.registry:
            gym.register(id=env_id, entry_point="mlgym.env.core:MLGymEnv", kwargs={"task": kind}, nondeterministic=True)
        ids.append(env_id)
    return ids


def _row_kinds() -> list[str]:
    return [kind for kind, _fam in row_sources()]


def make(task: str, **kwargs: Any) -> gym.Env:
    """``gym.make("mlgym/<task>-v0", **kwargs)``; an unknown task is a :class:`TaskError`."""
    spec = TaskSpec.load(task)
    register_tasks()
    if spec.kind in _row_kinds():  # a dataset row (ML-Bench): its family's one id, the row as task=
        return gym.make(f"mlgym/{spec.kind}-v0", task=spec.name, **kwargs)
    return gym.make(f"mlgym/{task}-v0", **kwargs)


register_tasks()
