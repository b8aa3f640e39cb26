"""Dense rewards (``MLGymEnv(reward_mode="dense")``): a validation split carved from the training data.

What each mode pays (improvement as in :mod:`mlgym.grading.scoring`, against the task's baseline):

``final`` (default)  every step 0; the last step (Final Answer, or the step/time limit) pays
                     the *test* improvement I_test of the submission (0 if it is invalid).
``dense``            a step before the last pays v_t - v_{t-1}: the change of the
                     *validation* improvement v (v_0 = 0; v_t is the improvement of the
                     validation score of ``valid_submission.csv`` after step t, 0 while that
                     file is missing or invalid; it is re-scored only after a step that
                     changed it, or on ``Validate``).  The last step pays I_test, as in
                     final mode.  So the return is v_{T-1} + I_test.

The split: ``VALID_FRACTION`` of the rows of the public ``train.csv`` (a fixed seeded
draw) become ``data/valid.csv`` (the id column and the features, no answer columns), the
rest stay ``data/train.csv``, the test files are unchanged; the answers of the carved rows
are kept out of the sandbox like the test answers.  The agent writes predictions for
``data/valid.csv`` to ``valid_submission.csv`` in the submission's format; the task's own
grader scores them in a fresh sandbox (``mlgym.grading.scoring``), never against the test answers.
It works for tasks whose public data is ``train.csv`` + ``test.csv`` with answers in
``private/*.csv`` (an ``id`` column plus answer columns that ``train.csv`` also has);
other tasks refuse dense mode with one line.  The split is made once, next to the data.
"""

from __future__ import annotations

import copy
import csv
import dataclasses
import os
import random
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from mlgym.tasks.data import TaskData
from mlgym.core.errors import MLGymError
from mlgym.core.fs import copy_out
from mlgym.core.scratch import scratch_dir
from mlgym.grading.base import Submission, evaluator
from mlgym.tasks.spec import TaskSpec

__all__ = ["REWARD_MODES", "VALID_FILE", "VALID_FRACTION", "VALID_SUBMISSION", "DenseReward", "FinalReward", "Validator"]

REWARD_MODES = ("final", "dense")
VALID_FRACTION = 0.2
VALID_FILE = "valid.csv"
VALID_SUBMISSION = "valid_submission.csv"
_SEED = 0
_DONE = ".done"


def _header(path: Path) -> list[str]:
    with open(path, newline="") as f:
        return next(csv.reader(f), [])


def _split(task: TaskSpec, data: TaskData) -> Path:
    """``<data>/dense/{public,private}`` (made once): the carved split; returns the folder."""
    out = data.dir / "dense"
    if (out / _DONE).is_file():
        return out
    if len(task.submission) != 1:
        raise MLGymError(f"task {task.name}: dense rewards need a single submission file, not {list(task.submission)}")
    train = data.public / "train.csv"
    answers = sorted(data.private.glob("*.csv"))
    if not train.is_file() or not (data.public / "test.csv").is_file() or len(answers) != 1:
        raise MLGymError(f"task {task.name} has no validation split for dense rewards "
                         "(needs public train.csv and test.csv and one private answers CSV)")
    ans_cols = _header(answers[0])
    cols = _header(train)
    key = ans_cols[0]
    targets = [c for c in ans_cols[1:] if c in cols]
    if not targets or len(targets) != len(ans_cols) - 1:
        raise MLGymError(f"task {task.name}: dense rewards need train.csv to hold the answer columns {ans_cols[1:]}")
    with open(train, newline="") as f:
        rows = list(csv.reader(f))[1:]
    picked = set(random.Random(_SEED).sample(range(len(rows)), max(1, int(len(rows) * VALID_FRACTION))))
    tmp = Path(tempfile.mkdtemp(prefix=".dense-", dir=data.dir))
    (tmp / "public").mkdir()
    (tmp / "private").mkdir()
    for src in data.public.iterdir():
        if src.name != "train.csv" and src.is_file():
            shutil.copyfile(src, tmp / "public" / src.name)
        elif src.is_dir() and not any(src.iterdir()):  # the mount point of a nested mount (multimodal data/images)
            (tmp / "public" / src.name).mkdir()
    tidx = [cols.index(c) for c in targets]
    feats = [i for i, c in enumerate(cols) if c not in targets]
    with open(tmp / "public" / "train.csv", "w", newline="") as tr, open(tmp / "public" / VALID_FILE, "w", newline="") as va, \
            open(tmp / "private" / answers[0].name, "w", newline="") as an:
        wt, wv, wa = csv.writer(tr), csv.writer(va), csv.writer(an)
        wt.writerow(cols)
        wv.writerow([key] + [cols[i] for i in feats])
        wa.writerow(ans_cols)
        n = 0
        for i, row in enumerate(rows):
            if i in picked:
                wv.writerow([n] + [row[j] for j in feats])
                wa.writerow([n] + [row[j] for j in tidx])
                n += 1
            else:
                wt.writerow(row)
    (tmp / _DONE).write_text(f"{n} validation rows of {len(rows)}\n")
    if out.exists() and not (out / _DONE).is_file():
        shutil.rmtree(out, ignore_errors=True)  # a split cut short by a kill
    try:
        os.replace(tmp, out)  # atomic: a concurrent maker's finished split wins, ours is dropped
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


@dataclasses.dataclass
class Validator:
    """Scores ``valid_submission.csv`` for one episode (see the module docstring)."""

    task: TaskSpec
    data: TaskData
    sandbox: str = "local"
    python: str = "python"
    sandbox_options: dict[str, Any] = dataclasses.field(default_factory=dict)
    folder: Path = dataclasses.field(init=False)

    def __post_init__(self) -> None:
        self.folder = _split(self.task, self.data)

    @property
    def public(self) -> Path:
        """What the sandbox shows at ``data/`` instead of the task's public data."""
        return self.folder / "public"

    def score(self, workspace: Path) -> dict[str, Any]:
        """``{"score", "improvement", "error", "seconds"}`` of the validation predictions now in ``workspace``."""
        from mlgym.grading.scoring import baseline_for, improvement

        t0 = time.monotonic()
        vdata = copy.copy(self.data)
        vdata.private = self.folder / "private"
        out: dict[str, Any] = {"score": None, "improvement": 0.0, "error": None}
        with tempfile.TemporaryDirectory(prefix="mlgym-valid-", dir=scratch_dir()) as tmp:
            try:
                copy_out(workspace, VALID_SUBMISSION, Path(tmp) / self.task.submission[0])
            except (OSError, MLGymError) as e:
                out["error"] = f"no usable {VALID_SUBMISSION}: {e}"
            else:
                res = evaluator(self.task).evaluate(self.task, vdata, Submission(Path(tmp)), sandbox=self.sandbox,
                                                    python=self.python, sandbox_options=self.sandbox_options)
                base, _how = baseline_for(self.task, self.data)
                if res.valid and res.score is not None and base is not None:
                    out.update(score=res.score, improvement=improvement(self.task, res.score, base))
                else:
                    out["error"] = res.error or "not scored"
        out["seconds"] = round(time.monotonic() - t0, 3)
        return out

    def describe(self) -> str:
        return (f"Dense rewards: data/{VALID_FILE} holds validation rows carved from the training data (without answers). "
                f"Write predictions for them to {VALID_SUBMISSION} in the submission's format; each step that changes it "
                f"is rewarded by the change of its validation improvement, and Validate shows its score.")


class FinalReward:
    """Reward mode ``final``: every step before the last pays 0 (the strategy :class:`DenseReward` replaces)."""

    name = "final"
    validation: dict[str, Any] | None = None  # never scored in this mode

    def mounts(self, mounts: list[Any], prior_steps: list[dict[str, Any]] | None) -> list[Any]:
        return mounts

    def describe(self) -> str:
        return ""

    def tools(self) -> tuple[str, ...]:
        return ()

    def begin_step(self) -> None:
        return None

    def step_reward(self, files: dict[str, str | None]) -> float:
        return 0.0

    def extra_context(self) -> dict[str, Any]:
        return {}


class DenseReward(FinalReward):
    """Reward mode ``dense``: a step pays the change of the validation improvement (see the module docstring)."""

    name = "dense"

    def __init__(self, task: TaskSpec, data: TaskData, *, sandbox: str, python: str, sandbox_options: dict[str, Any],
                 workspace: Any = None) -> None:
        self.validator = Validator(task, data, sandbox=sandbox, python=python, sandbox_options=sandbox_options)
        self.workspace = workspace
        self.paid = 0.0  # the validation improvement paid so far
        self.validation = None

    def mounts(self, mounts: list[Any], prior_steps: list[dict[str, Any]] | None) -> list[Any]:
        """The carved split at data/ instead of the public data; the paid v restored on resume."""
        if prior_steps is not None:
            self.paid = next((float(s["validation"]["improvement"]) for s in reversed(prior_steps) if s.get("validation")), 0.0)
        public = self.validator.data.public.resolve()
        return [dataclasses.replace(m, source=self.validator.public) if Path(m.source).resolve() == public else m for m in mounts]

    def describe(self) -> str:
        return self.validator.describe()

    def tools(self) -> tuple[str, ...]:
        return ("Validate",)

    def begin_step(self) -> None:
        self.validation = None

    def validate_now(self) -> dict[str, Any]:
        assert self.workspace is not None
        self.validation = self.validator.score(Path(self.workspace))
        return self.validation

    def step_reward(self, files: dict[str, str | None]) -> float:
        if self.validation is None and VALID_SUBMISSION in files:
            self.validate_now()
        if self.validation is None:
            return 0.0
        v = float(self.validation["improvement"])
        reward, self.paid = v - self.paid, v
        return reward

    def extra_context(self) -> dict[str, Any]:
        return {"validate": self.validate_now}
