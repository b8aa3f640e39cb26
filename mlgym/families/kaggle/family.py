"""The Kaggle family: a competition is one YAML entry, no Python.

::

    kind: kaggle
    name: house-prices                  # the file is house-prices.yaml
    competition: house-prices-advanced-regression-techniques   # the Kaggle slug
    metric: rmse_log                    # a name from mlgym.core.metrics (direction follows from it)
    id: Id                              # the id column
    target: SalePrice                   # the target column, or a list of them
    split: {fraction: 0.2, seed: 2024}  # + group: COLUMN, group_sep: "_", stratify: COLUMN
    extra_files: [data_description.txt] # competition files the agent also sees
    leaderboard: leaderboards/house-prices.csv   # optional, relative to this file
    description: ...                    # optional; baseline, limits, ... as for every task

The data preparation (:mod:`mlgym.families.kaggle.source`), the starter ``train.py``
(``kaggle_starter.py``) and the grader (:mod:`mlgym.grading.grader` + :mod:`mlgym.core.metrics`,
copied into the eval sandbox) come from the family.  With a leaderboard CSV the result
also carries the rank and medal the score would take (:mod:`mlgym.families.kaggle.leaderboard`).
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any, Callable

from mlgym.grading import payload
from mlgym.families.kaggle import source as kaggle
from mlgym.tasks.data import TaskData, build
from mlgym.core.errors import TaskError
from mlgym.core.template import render_starter
from mlgym.grading.base import EvalResult, Submission
from mlgym.grading.scoring import run_eval
from mlgym.families.base import data_mounts, describe
from mlgym.families.kaggle.leaderboard import read_scores, standing
from mlgym.core.metrics import METRICS
from mlgym.sandbox.base import Mount
from mlgym.tasks.spec import Fields, TaskSpec, common_fields

HERE = Path(__file__).resolve().parent
OWN_KEYS = ("competition", "id", "target", "split", "extra_files", "train_file", "leaderboard")
SPLIT_KEYS = ("fraction", "seed", "group", "group_sep", "stratify")


class KaggleFamily:
    kind = "kaggle"

    def expand(self, path: Path, raw: dict[str, Any]) -> list[TaskSpec]:
        f = Fields(path, raw)
        if path.name == "task.yaml":
            raise f.error("kind", "a Kaggle competition is a single-file entry (<name>.yaml), not a task folder")
        name = path.stem
        slug = f.get("competition", str)
        targets = f.strings("target")
        common = common_fields(path, raw, name=name, own_keys=OWN_KEYS, submission="submission.csv", description="")
        if METRICS[common["metric"]].kind == "harness":
            raise f.error("metric", f"{common['metric']} is measured by a task's own eval, not from a submission table")
        s = f.sub("split", SPLIT_KEYS)
        fraction = float(s.get("fraction", float, 0.2))
        if not 0 < fraction < 1:
            raise s.error("fraction", f"must be between 0 and 1, got {fraction}")
        comp = kaggle.Competition(
            slug=slug, id_col=f.get("id", str), targets=targets, fraction=fraction, seed=s.get("seed", int, 2024),
            group=s.get("group", str, None), group_sep=s.get("group_sep", str, None), stratify=s.get("stratify", str, None),
            extra_files=f.strings("extra_files", ()), train_file=f.get("train_file", str, "train.csv"),
        )
        if comp.group_sep and not comp.group:
            raise s.error("group_sep", "needs split.group (the column to cut)")
        if len(targets) > 1 and not METRICS[common["metric"]].multi:
            raise f.error("target", f"metric {common['metric']} scores one column; give one target or a metric over several (mcrmse)")
        board = f.get("leaderboard", str, None)
        lb = (path.parent / board).resolve() if board else None
        if lb is not None and not lb.is_file():
            raise f.error("leaderboard", f"{lb} does not exist")
        if not common["description"]:
            common["description"] = (
                f"The Kaggle competition {slug} (https://www.kaggle.com/c/{slug}): predict {', '.join(targets)} "
                f"for every row of data/test.csv; data/train.csv has the labels and data/sample_submission.csv "
                f"shows the format ({comp.id_col},{','.join(targets)})."
            )
        return [TaskSpec(root=path.parent.resolve(), kind=self.kind, options=_Options(comp, lb), **common)]

    def prepare(self, task: TaskSpec, *, root: Path | None = None, force: bool = False, verify: bool = False,
                progress: Callable[[str], None] | None = None) -> TaskData:
        return build(task, functools.partial(_produce, task), root=root, force=force, verify=verify, progress=progress)

    def build_workspace(self, task: TaskSpec, workspace: Path) -> None:
        comp = _opts(task).competition
        metric = METRICS[task.metric]
        config = {"id": comp.id_col, "targets": list(comp.targets), "kind": metric.kind,
                  "log_target": task.metric in ("rmse_log", "rmsle"), "submission": task.submission[0]}
        text = render_starter((HERE / "starter.py").read_text(), config, drop=("# The Kaggle family", "# mypy:"))
        (workspace / "train.py").write_text(text)

    def mounts(self, task: TaskSpec, data: TaskData) -> list[Mount]:
        return data_mounts(data)

    def describe(self, task: TaskSpec) -> str:
        return describe(task)

    def evaluate(self, task: TaskSpec, data: TaskData, submission: Submission, *, sandbox: str = "local",
                 python: str = "python", sandbox_options: dict[str, Any] | None = None) -> EvalResult:

        opts = _opts(task)
        res = run_eval(task, data, submission, grader_files(task), grader_argv(python), sandbox=sandbox, sandbox_options=sandbox_options)
        if res.valid and res.score is not None and opts.leaderboard is not None:
            res.leaderboard = standing(res.score, read_scores(opts.leaderboard), task.higher_is_better)
        return res


def grader_files(task: TaskSpec) -> dict[str, Path | bytes]:
    """What the eval sandbox gets besides the submission: the grader, the metrics and their settings."""
    comp = _opts(task).competition
    kind = METRICS[task.metric].kind
    config = {"submission": task.submission[0], "answers": "answers.csv", "id": comp.id_col, "targets": list(comp.targets),
              "metric": task.metric, "also": [m.name for m in METRICS.values() if m.kind == kind and m.name != task.metric and not m.multi]}
    return {"grader.py": payload.GRADER, "metrics.py": payload.METRICS, "grader.json": json.dumps(config).encode()}


def grader_argv(python: str) -> list[str]:
    return [python, "grader.py", "--config", "grader.json", "--answers", "answers"]


class _Options:
    """What a Kaggle entry adds to a TaskSpec (hashable, like the frozen spec holding it)."""

    def __init__(self, competition: kaggle.Competition, leaderboard: Path | None) -> None:
        self.competition, self.leaderboard = competition, leaderboard

    def __repr__(self) -> str:
        return f"_Options({self.competition!r}, leaderboard={self.leaderboard})"


def _opts(task: TaskSpec) -> _Options:
    if not isinstance(task.options, _Options):
        raise TaskError(f"task {task.name!r} is not a Kaggle entry")
    return task.options


def _produce(task: TaskSpec, raw: Path, public: Path, private: Path, say: Callable[[str], None]) -> None:
    comp = _opts(task).competition
    kaggle.locate(comp, raw, elsewhere=kaggle.shared_places(comp, task.source), say=say)
    kaggle.split(comp, raw, public, private, say)
