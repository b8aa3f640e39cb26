"""Leaderboard standing as MLE-bench grades it: the rank a score would take and its medal.

Medal thresholds follow Kaggle's progression rules for the number of teams, as MLE-bench
(``mlebench/grade_helpers.py``) applies them to a competition's public leaderboard:

============  =====================  ==============  ==============
teams         gold                   silver          bronze
============  =====================  ==============  ==============
1-99          top 10%                top 20%         top 40%
100-249       top 10                 top 20%         top 40%
250-999       top 10 + 0.2% teams    top 50          top 100
1000+         top 10 + 0.2% teams    top 5%          top 10%
============  =====================  ==============  ==============

A medal means a score at least as good as the score at that position; "above median"
means strictly better than the leaderboard's median score.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from mlgym.core.errors import TaskError


def read_scores(path: Path) -> list[float]:
    """The ``score`` (or Kaggle's ``Score``) column of a leaderboard CSV."""
    try:
        table = pd.read_csv(path)
    except (OSError, ValueError) as e:
        raise TaskError(f"{path}: cannot read the leaderboard ({str(e).splitlines()[0]})") from None
    col = next((c for c in table.columns if str(c).strip().lower() == "score"), None)
    if col is None:
        raise TaskError(f"{path}: a leaderboard needs a score column; found {', '.join(map(str, table.columns[:8]))}")
    scores = pd.to_numeric(table[col], errors="coerce").dropna()
    if scores.empty:
        raise TaskError(f"{path}: the leaderboard has no numeric scores")
    return [float(s) for s in scores]


def positions(teams: int) -> tuple[int, int, int]:
    """1-based leaderboard positions whose scores are the gold, silver and bronze thresholds."""
    if teams < 1:
        raise ValueError("a leaderboard needs at least one team")
    if teams < 100:
        return max(1, int(teams * 0.1)), max(1, int(teams * 0.2)), max(1, int(teams * 0.4))
    if teams < 250:
        return 10, max(1, int(teams * 0.2)), max(1, int(teams * 0.4))
    if teams < 1000:
        return 10 + int(teams * 0.002), 50, 100
    return 10 + int(teams * 0.002), max(1, int(teams * 0.05)), max(1, int(teams * 0.1))


def standing(score: float, scores: list[float], higher_is_better: bool) -> dict[str, Any]:
    """Rank (1 = best; ties share the better rank), medal and thresholds for ``score``."""
    ordered = sorted(scores, reverse=higher_is_better)  # best first

    def at_least(threshold: float) -> bool:
        return score >= threshold if higher_is_better else score <= threshold

    gold, silver, bronze = (ordered[p - 1] for p in positions(len(ordered)))
    median = float(pd.Series(ordered).median())
    medal = "gold" if at_least(gold) else "silver" if at_least(silver) else "bronze" if at_least(bronze) else None
    better = sum(1 for s in ordered if (s > score if higher_is_better else s < score))
    return {
        "rank": better + 1, "teams": len(ordered), "medal": medal,
        "above_median": score > median if higher_is_better else score < median,
        "thresholds": {"gold": gold, "silver": silver, "bronze": bronze, "median": median},
    }
