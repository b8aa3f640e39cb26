"""Groups of episodes (GRPO): one task reset K times from the same seed; statistics per group.

A rollout with ``group_size=K`` (:func:`mlgym.rollout.rollout`) gives episode ``i`` the seed
``seed + i // K`` and records ``group`` (``i // K``) and ``group_size`` in its ``run_info``, so
``result.json`` and the trace's reset record carry them and :mod:`mlgym.analysis.export` can
group exported rows again.  :func:`group_stats` is the one definition of the statistics (also
what TRL's GRPO computes: the advantage is the reward minus its group's mean; ``std`` is the
population standard deviation, 0 for a group of one).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from typing import Any

__all__ = ["GROUP_KEYS", "group_stats"]

# Per-row keys :func:`group_stats` adds (exports carry them next to ``group``).
GROUP_KEYS = ("group_mean", "group_std", "advantage")


def group_stats(keys: Sequence[Hashable], rewards: Sequence[float | None]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``keys[i]``: row i's group (any hashable, e.g. ``(task, seed)``); ``rewards[i]``: its reward
    (None: unfinished, left out of its group's statistics).  Returns (per row ``group_mean``,
    ``group_std``, ``advantage``; per group in first-seen order ``group``, ``n``, ``finished``,
    ``mean``, ``std``, ``min``, ``max``)."""
    if len(keys) != len(rewards):
        raise ValueError(f"{len(keys)} group keys for {len(rewards)} rewards")
    members: dict[Hashable, list[float]] = {}
    sizes: dict[Hashable, int] = {}
    for key, reward in zip(keys, rewards):
        sizes[key] = sizes.get(key, 0) + 1
        members.setdefault(key, [])
        if reward is not None:
            members[key].append(float(reward))
    groups: list[dict[str, Any]] = []
    stats: dict[Hashable, tuple[float | None, float | None]] = {}
    for key, values in members.items():
        mean = sum(values) / len(values) if values else None
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values)) if mean is not None else None
        stats[key] = (mean, std)
        groups.append({"group": key, "n": sizes[key], "finished": len(values), "mean": mean, "std": std,
                       "min": min(values) if values else None, "max": max(values) if values else None})
    rows = []
    for key, reward in zip(keys, rewards):
        mean, std = stats[key]
        rows.append({"group_mean": mean, "group_std": std,
                     "advantage": None if reward is None or mean is None else float(reward) - mean})
    return rows, groups
