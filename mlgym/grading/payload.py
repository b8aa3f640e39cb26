"""Files copied into an eval sandbox as they are: self-contained, they never import mlgym there."""

from __future__ import annotations

from pathlib import Path

GRADER = Path(__file__).resolve().with_name("grader.py")  # the generic table grader
METRICS = Path(__file__).resolve().parents[1] / "core" / "metrics.py"  # loaded by the graders beside them

__all__ = ["GRADER", "METRICS"]
