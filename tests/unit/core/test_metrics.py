"""The metric library, the generic grader's checks and leaderboard standing."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlgym.families.kaggle.leaderboard import positions, read_scores, standing
from mlgym.core.metrics import METRICS

MLGYM = Path(__file__).resolve().parents[3] / "mlgym"


@pytest.mark.parametrize(
    "name, truth, pred, want",
    [
        ("accuracy", [1, 0, 1, 1], [1, 1, 1, 0], 0.5),
        ("rmse", [1.0, 2.0], [2.0, 4.0], np.sqrt(2.5)),
        ("rmse_log", [np.e, 1.0], [1.0, 1.0], np.sqrt(0.5)),
        ("mae", [1.0, 2.0], [2.0, 4.0], 1.5),
        ("smape", [100.0, 0.0], [100.0, 0.0], 0.0),
        ("mcrmse", [[0.0, 0.0], [0.0, 0.0]], [[1.0, 2.0], [1.0, 2.0]], 1.5),
        ("map@3", ["a", "b"], ["x a y", "b"], (0.5 + 1.0) / 2),
        ("dice", ["1 4", ""], ["3 4", ""], (2 * 2 / 8 + 1.0) / 2),
        ("quadratic_weighted_kappa", [0, 1, 2, 3], [0, 1, 2, 3], 1.0),
        ("auc", [0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8], 0.75),
    ],
)
@pytest.mark.slow
def test_metric_values(name: str, truth: list, pred: list, want: float) -> None:
    assert METRICS[name].fn(np.asarray(truth), np.asarray(pred)) == pytest.approx(want)


def test_every_metric_has_a_direction_and_kind() -> None:
    for m in METRICS.values():
        assert m.direction in ("higher", "lower") and m.kind in ("label", "proba", "probas", "number", "ranking", "rle", "harness")


def _grade(tmp_path: Path, config: dict, answers: str, submission: str) -> subprocess.CompletedProcess:
    """The grader as the eval sandbox runs it: two plain files, no mlgym package importable."""
    ws = tmp_path / f"ws{len(list(tmp_path.glob('ws*')))}"
    (ws / "answers").mkdir(parents=True)
    shutil.copyfile(MLGYM / "grading" / "grader.py", ws / "grader.py")
    shutil.copyfile(MLGYM / "core" / "metrics.py", ws / "metrics.py")
    (ws / "grader.json").write_text(json.dumps(config))
    (ws / "answers" / "answers.csv").write_text(answers)
    (ws / "submission.csv").write_text(submission)
    return subprocess.run([sys.executable, "-I", "grader.py"], cwd=ws, capture_output=True, text=True, timeout=60, check=False)


LABELS = {"id": "id", "targets": ["y"], "metric": "accuracy", "also": ["balanced_accuracy"]}
ANSWERS = "id,y\n1,True\n2,False\n3,True\n"


@pytest.mark.parametrize(
    "submission, message",
    [
        ("id,pred\n1,True\n2,True\n3,True\n", "needs columns id,y"),
        ("id,y\n1,True\n2,True\n", "lacks 1 of the 3 test rows"),
        ("id,y\n1,True\n1,True\n2,True\n3,True\n", "id 1 appears more than once"),
        ("id,y\n1,True\n2,maybe\n3,True\n", "y for 2 is 'maybe'; use True or False"),
        ("id,y\n1,True\n2,True\n3,True\n9,True\n", "not test ids"),
        ("id,y\nx,True\n2,True\n3,True\n", "id must be the integer id"),
        ("\x00\x01 not a csv", ""),
    ],
)
def test_grader_rejects_with_one_clear_line(tmp_path: Path, submission: str, message: str) -> None:
    res = _grade(tmp_path, LABELS, ANSWERS, submission)
    assert res.returncode == 1 and "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1 and message in res.stderr


@pytest.mark.slow
def test_grader_scores_and_reports_other_metrics(tmp_path: Path) -> None:
    res = _grade(tmp_path, LABELS, ANSWERS, "id,y\n3,true\n1.0,1\n2,True\n")
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["score"] == pytest.approx(2 / 3) and out["metrics"]["balanced_accuracy"] == pytest.approx(0.5)
    num = {"id": "id", "targets": ["y"], "metric": "rmse_log"}
    bad = _grade(tmp_path, num, "id,y\n1,10\n2,20\n", "id,y\n1,10\n2,-1\n")
    assert bad.returncode == 1 and "y for 2 is not positive" in bad.stderr
    nan = _grade(tmp_path, num, "id,y\n1,10\n2,20\n", "id,y\n1,10\n2,\n")
    assert nan.returncode == 1 and "y for 2 is missing, NaN or not a number" in nan.stderr


def test_medal_thresholds_follow_mle_bench() -> None:
    assert positions(20) == (2, 4, 8)
    assert positions(150) == (10, 30, 60)
    assert positions(500) == (11, 50, 100)
    assert positions(3000) == (16, 150, 300)


def test_standing_on_a_small_leaderboard(tmp_path: Path) -> None:
    board = tmp_path / "leaderboard.csv"
    pd.DataFrame({"TeamId": range(10), "Score": [0.95, 0.9, 0.85, 0.8, 0.75, 0.7, 0.65, 0.6, 0.55, 0.5]}).to_csv(board, index=False)
    scores = read_scores(board)
    assert standing(0.97, scores, True)["medal"] == "gold" and standing(0.97, scores, True)["rank"] == 1
    s = standing(0.91, scores, True)  # 10 teams: gold = 1st place's score, silver = 2nd, bronze = 4th
    assert s["medal"] == "silver" and s["rank"] == 2
    assert standing(0.8, scores, True)["medal"] == "bronze"
    mid = standing(0.74, scores, True)
    assert mid["medal"] is None and mid["above_median"] and mid["rank"] == 6
    low = standing(0.52, scores, False)  # lower is better: the same board read the other way
    assert low["medal"] == "silver" and low["rank"] == 2
