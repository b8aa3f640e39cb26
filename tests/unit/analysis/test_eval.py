"""``mlgym eval`` on real runs (baseline, improved, killed) and on hand-made tables."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
from evalruns import make_runs, result

from mlgym import cli
from mlgym.analysis import eval as ev
from mlgym.core.errors import MLGymError

pytestmark = pytest.mark.slow  # episodes and module fixtures that take seconds (the fast set leaves them out)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_runs(tmp_path_factory.mktemp("evalruns"))


@pytest.fixture(scope="module")
def table(runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict:
    out = tmp_path_factory.mktemp("evalout")
    for cache in runs["root"].glob("*/eval_cache.json"):  # another module may have evaluated these runs already
        cache.unlink()
    assert cli.main(["eval", str(runs["root"]), "--out", str(out), "-q"]) == 0
    t = json.loads((out / "table.json").read_text())
    t["_out"] = str(out)
    return t


def _row(table: dict, name: str) -> dict:
    return next(r for r in table["runs"] if Path(r["log_dir"]).name == name)


def test_every_run_is_found(table: dict) -> None:
    assert sorted(Path(r["log_dir"]).name for r in table["runs"]) == ["base0", "base1", "improved", "killed"]
    assert table["meta"]["n_runs"] == 4


def test_finished_runs_are_read_from_result_json(table: dict, runs: dict[str, Path]) -> None:
    for name in ("base0", "base1", "improved"):
        row, res = _row(table, name), result(runs[name])
        assert row["scored_from"] == "result.json"
        assert row["score"] == res["score"] and row["improvement"] == res["improvement"]
        assert row["steps"] == res["steps"] and row["wall_time"] == res["wall_time"]
        assert row["n_rescored"] == 0 or name == "improved"
    assert _row(table, "base0")["agent"] == "baseline" and _row(table, "base1")["seed"] == 1
    imp = _row(table, "improved")
    assert imp["success"] is True and imp["improvement"] > 0.10
    # the starter's submission (step 1) was re-scored; the SVM's (step 3) is the final one
    assert [s for s, _ in imp["scores_by_step"]] == [1, 3]
    assert imp["scores_by_step"][0][1] == pytest.approx(_row(table, "base0")["score"])
    assert imp["best_score"] == imp["score"] and imp["best_step"] == 3


def test_killed_run_is_scored_from_its_last_snapshot(table: dict, runs: dict[str, Path], capsys: pytest.CaptureFixture) -> None:
    row = _row(table, "killed")
    assert row["cut_short"] is True and row["scored_from"] == "trace (last snapshot)"
    assert not (runs["killed"] / "result.json").exists()
    # same number as `mlgym score`, which scores the last snapshot too
    assert cli.main(["score", str(runs["killed"])]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert row["score"] == pytest.approx(scored["score"])
    # the last submission (a depth-2 tree) is worse than the baseline; the SVM before it was the best
    assert row["improvement"] < 0 and row["success"] is False
    assert row["best_score"] == pytest.approx(_row(table, "improved")["score"])
    assert row["best_step"] == 2 and row["best_improvement"] > 0.10
    assert row["n_rescored"] == 1 and row["model"] == "fake-llm"


def test_tokens_and_cost_are_summed_from_llm_records(table: dict) -> None:
    imp, killed, base = _row(table, "improved"), _row(table, "killed"), _row(table, "base0")
    assert (imp["prompt_tokens"], imp["completion_tokens"], imp["tokens"], imp["llm_calls"]) == (2500, 500, 3000, 2)
    assert imp["cost"] == pytest.approx(0.03) and killed["cost"] == pytest.approx(0.005) and killed["tokens"] == 900
    assert base["tokens"] == 0 and base["cost"] == 0


def test_aggregates_match_a_hand_computation(table: dict) -> None:
    rows = {r["log_dir"]: r for r in table["runs"]}
    aggs = {(a["task"], a["agent"]): a for a in table["aggregates"]}
    base = aggs[("digits", "baseline")]
    b = [r for r in rows.values() if r["agent"] == "baseline"]
    assert base["n_runs"] == 2 and base["success_rate"] == 0.0
    assert base["mean_improvement"] == pytest.approx(sum(r["improvement"] for r in b) / 2)
    # the improved run succeeds; the killed run (now attributed to its agent by the reset
    # record) ends on a worse submission: 1 of 2
    scripted = aggs[("digits", "scripted")]
    assert scripted["n_runs"] == 2 and scripted["success_rate"] == 0.5
    assert rows[_row(table, "killed")["log_dir"]]["agent"] == "scripted"


def test_aggregate_by_hand() -> None:
    def row(imp, valid=True, agent="A"):
        return {"task": "t", "agent": agent, "model": None, "improvement": imp, "valid_submission": valid,
                "success": imp is not None and imp > 0.10, "best_improvement": imp, "steps": 3, "wall_time": 1.0, "tokens": 10, "cost": 0.5}

    rows = [row(0.2), row(0.05), row(None, valid=False), row(0.3), row(0.0, agent="B")]
    aggs = {a["agent"]: a for a in ev.aggregate(rows, n_boot=500, seed=3)}
    a = aggs["A"]
    assert a["n_runs"] == 4 and a["n_valid"] == 3
    assert a["success_rate"] == 0.5  # 2 of 4: a run without a valid submission counts as a failure
    assert a["mean_improvement"] == pytest.approx((0.2 + 0.05 + 0.3) / 3)
    assert a["success_ci_low"] <= 0.5 <= a["success_ci_high"]
    assert a["improvement_ci_low"] <= a["mean_improvement"] <= a["improvement_ci_high"]
    assert a["total_cost"] == pytest.approx(2.0)
    assert ev.aggregate(rows, n_boot=500, seed=3) == ev.aggregate(rows, n_boot=500, seed=3)  # seeded
    assert aggs["B"]["success_ci_low"] == aggs["B"]["success_ci_high"] == 0.0


def test_bootstrap_ci_is_the_percentile_interval() -> None:
    lo, hi = ev.bootstrap_ci([0.0, 1.0] * 50, n_boot=4000, seed=0)
    # mean of 100 Bernoulli(0.5) draws: sd 0.05, so the 95% interval is about 0.5 +- 0.098
    assert 0.39 < lo < 0.42 and 0.58 < hi < 0.61
    assert ev.bootstrap_ci([]) == (None, None) and ev.bootstrap_ci([0.3]) == (0.3, 0.3)


def test_performance_profiles_and_aup_by_hand() -> None:
    def row(task, agent, score, best, direction, baseline):
        return {"task": task, "agent": agent, "model": None, "score": score, "best_score": best, "valid_submission": True,
                "direction": direction, "baseline": baseline}

    rows = [
        # t1, higher is better, baseline 0.5: A's best submission 1.0, B's 0.8; B's best attempt 1.0
        row("t1", "A", 1.0, 1.0, "higher", 0.5), row("t1", "B", 0.8, 1.0, "higher", 0.5), row("t1", "B", 0.6, 0.6, "higher", 0.5),
        # t2, lower is better, baseline 10: A is worse than the baseline (infeasible), B gets 5
        row("t2", "A", 12.0, 12.0, "lower", 10.0), row("t2", "B", 5.0, 5.0, "lower", 10.0),
    ]
    prof = ev.performance_profiles(rows)
    assert prof["methods"] == ["A", "B", "task baseline"]
    sub = prof["best_submission"]["methods"]
    # t1: best 1.0 -> A 1, B 1.25, baseline 2 (worst feasible); t2: best 5 -> B 1, baseline 2, A infeasible 2 * 1.05
    assert sub["A"]["ratios"] == {"t1": 1.0, "t2": pytest.approx(2.1)}
    assert sub["B"]["ratios"] == {"t1": pytest.approx(1.25), "t2": 1.0}
    assert sub["task baseline"]["ratios"] == {"t1": 2.0, "t2": 2.0}
    # max tau: ceil(2 * 1.05) = 3 on both tasks; log10(3) = 0.477 rounded up to one decimal
    assert prof["max_tau"] == 0.5
    T = 0.5
    assert sub["A"]["aup"] == pytest.approx(((T - 0) + (T - math.log10(2.1))) / 2)
    assert sub["B"]["aup"] == pytest.approx(((T - math.log10(1.25)) + (T - 0)) / 2)
    assert sub["task baseline"]["aup"] == pytest.approx(T - math.log10(2))
    att = prof["best_attempt"]["methods"]
    assert att["B"]["ratios"]["t1"] == 1.0 and att["B"]["aup"] == pytest.approx(T)
    for m in prof["methods"]:  # MLGym's 500-point Riemann sum is within one grid step of the exact area
        assert abs(sub[m]["aup_grid"] - sub[m]["aup"]) <= T / 499 + 1e-9
        rho = sub[m]["rho"]
        assert rho[-1] == 1.0 and rho == sorted(rho)


def test_second_eval_rescores_nothing(table: dict, runs: dict[str, Path]) -> None:
    again = ev.evaluate_runs([runs["root"]])
    assert all(r["n_rescored"] == 0 for r in again["runs"] if Path(r["log_dir"]).name != "killed")
    killed = next(r for r in again["runs"] if Path(r["log_dir"]).name == "killed")
    assert killed["n_rescored"] == 0 and killed["best_score"] == _row(table, "killed")["best_score"]
    none = ev.run_row(runs["killed"], max_rescore=0, use_cache=False)
    assert none["n_rescored"] == 0 and none["best_score"] == none["score"]


def test_pick_keeps_the_last_and_spreads_the_rest() -> None:
    assert ev._pick(3, 10) == [0, 1, 2]
    picked = ev._pick(100, 10)
    assert len(picked) == 10 and picked[0] == 0 and picked[-1] == 99
    assert ev._pick(5, 0) == []


def test_csv_and_summary(table: dict, capsys: pytest.CaptureFixture) -> None:
    out = Path(table["_out"])
    with open(out / "runs.csv") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 4 and list(rows[0]) == ev.RUN_COLUMNS
    assert {r["task"] for r in rows} == {"digits"}
    assert (out / "aggregates.csv").read_text().startswith("task,agent,model,method,n_runs")
    assert "best_attempt_aup" in (out / "aup.csv").read_text()
    buf = io.StringIO()
    ev.print_summary(table, file=buf)
    text = buf.getvalue()
    assert "digits" in text and "success rate" in text and "AUP" in text


def test_mlagentbench_compatible_entry_point(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, "-m", "mlgym.analysis.eval", "--log-folder", str(runs["root"]), "--task", "digits",
                           "--output-file", str(out)], check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(out.read_text())
    assert len(res) == 4 and all(k.endswith("trace.json") for k in res)
    one = res[str(runs["improved"] / "trace.json")]
    assert set(one) >= {"path", "summary", "rubric_questions", "score", "score_steps", "submitted_final_answer",
                        "final_score", "total_time", "error", "extra"}
    assert one["submitted_final_answer"] is True and one["final_score"] == result(runs["improved"])["score"]
    assert one["score_steps"] == [0, 2]  # MLAgentBench's 0-based numbering of our steps 1 and 3
    assert res[str(runs["killed"] / "trace.json")]["submitted_final_answer"] is False


def test_user_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["eval", str(tmp_path / "nope")]) == 2
    assert "no such folder" in capsys.readouterr().err
    with pytest.raises(MLGymError):
        ev.load_table(tmp_path)
    empty = ev.evaluate_runs([tmp_path])
    assert empty["runs"] == [] and empty["aggregates"] == [] and empty["profiles"]["tasks"] == []


def test_broken_runs_become_rows_with_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "trace.jsonl").write_text("")
    (tmp_path / "garbage").mkdir()
    (tmp_path / "garbage" / "trace.jsonl").write_text('{"type": "reset", "task": "no-such-task", "files": {}}\n{"ty')
    (tmp_path / "badresult").mkdir()
    (tmp_path / "badresult" / "trace.jsonl").write_text('{"type": "reset", "task": "digits", "files": {}}\n')
    (tmp_path / "badresult" / "result.json").write_text("{not json")
    table = ev.evaluate_runs([tmp_path])
    rows = {Path(r["log_dir"]).name: r for r in table["runs"]}
    assert set(rows) == {"empty", "garbage", "badresult"}
    assert "cannot score" in rows["empty"]["error"] and rows["empty"]["score"] is None
    assert rows["garbage"]["cut_short"] is True and "no-such-task" in rows["garbage"]["error"]
    assert rows["badresult"]["valid_submission"] is False and rows["badresult"]["error"]
    assert ev.aggregate(table["runs"])  # still aggregates


def test_parallel_scoring_gives_the_same_table(runs: dict[str, Path]) -> None:
    kw = {"use_cache": False, "n_boot": 200}
    one, two = ev.evaluate_runs([runs["root"]], **kw), ev.evaluate_runs([runs["root"]], jobs=2, **kw)
    assert sum(r["n_rescored"] for r in two["runs"]) == 2  # the starter's submission and the killed run's SVM
    strip = ("wall_time",)
    assert [{k: v for k, v in r.items() if k not in strip} for r in one["runs"]] == [
        {k: v for k, v in r.items() if k not in strip} for r in two["runs"]]
    assert one["aggregates"] == two["aggregates"]


def test_write_results_for_a_killed_run(runs: dict[str, Path], tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "killed"
    shutil.copytree(runs["killed"], copy)
    row = ev.run_row(copy, write_results=True)
    res = result(copy)
    assert res["score"] == row["score"] and res["reason"] == "scored_from_trace" and res["cut_short"] is True
    assert ev.run_row(copy)["scored_from"] == "result.json"


def test_starter_equal_to_rounded_baseline_is_feasible() -> None:
    ratios, _ = ev.performance_ratios({"starter": 0.16320871, "better": 0.15}, 0.1632087, higher=False, methods=["starter", "better", "none"])
    assert ratios["starter"] == pytest.approx(0.16320871 / 0.15)
    assert ratios["none"] == pytest.approx(ratios["starter"] * 1.05)
    worse, _ = ev.performance_ratios({"worse": 0.17, "better": 0.15}, 0.1632087, higher=False, methods=["worse", "better"])
    assert worse["worse"] == pytest.approx(1.05)  # infeasible: (1 + eps) * worst feasible ratio (1.0)
