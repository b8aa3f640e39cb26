"""What grading passes around: the submission, the result of evaluating it, and the
evaluation half of a family's protocol (the other half is :class:`mlgym.tasks.spec.Family`)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from mlgym.core.errors import TaskError
from mlgym.tasks.spec import TaskData, TaskSpec

__all__ = ["EvalResult", "Evaluates", "Submission", "evaluator"]


@dataclasses.dataclass(frozen=True)
class Submission:
    """What an episode submits: the folder holding the submission files (the workspace, or
    a copy of it) and the Final Answer text, when there was one."""

    dir: Path
    final_answer: str | None = None


@dataclasses.dataclass
class EvalResult:
    """What evaluating a submission gives, whatever the family."""

    score: float | None = None  # the primary metric; None when the submission is invalid
    valid: bool = False
    error: str | None = None  # one line saying what is wrong with the submission
    metrics: dict[str, float] = dataclasses.field(default_factory=dict)  # other metrics
    eval_seconds: float | None = None
    leaderboard: dict[str, Any] | None = None  # rank and medal, when the task has a leaderboard

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"score": self.score, "valid_submission": self.valid, "error": self.error, "metrics": self.metrics}
        if self.eval_seconds is not None:
            out["eval_seconds"] = self.eval_seconds
        if self.leaderboard is not None:
            out["leaderboard"] = self.leaderboard
        return out


@runtime_checkable
class Evaluates(Protocol):
    def evaluate(self, task: TaskSpec, data: TaskData, submission: Submission, *, sandbox: str = "local",
                 python: str = "python", sandbox_options: dict[str, Any] | None = None) -> EvalResult:
        """Score ``submission`` in a fresh sandbox (:func:`mlgym.grading.scoring.run_eval`);
        never raises for a bad submission."""
        ...


def evaluator(task: TaskSpec) -> Evaluates:
    """The task's family, as what evaluates its submissions."""
    fam = task.family
    if not isinstance(fam, Evaluates):
        raise TaskError(f"family {task.kind!r} has no evaluate(task, data, submission, ...)")
    return fam
