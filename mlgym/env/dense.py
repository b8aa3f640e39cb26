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
from mlgym.tasks.spec import TaskSpec

__all__ = ["REWARD_MODES", "VALID_FILE", "VALID_FRACTION", "VALID_SUBMISSION", "Validator"]

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
                res = self.task.family.evaluate(self.task, vdata, Path(tmp), sandbox=self.sandbox, python=self.python,
                                                sandbox_options=self.sandbox_options)
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
