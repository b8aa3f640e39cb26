"""Published AMLB / AutoGluon-Bench results beside mlgym's agents: ``mlgym eval --amlb-results``
(and plot, report) on small files in the real layouts (tests/helpers/data/amlb_results, see its NOTICE)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pandas as pd
import pytest

from mlgym.analysis import frameworks
from mlgym.core.errors import MLGymError
from mlgym.families.amlb.results import READER, read, run_key

DATA = Path(__file__).resolve().parents[2] / "helpers" / "data" / "amlb_results"
OLD = DATA / "results_small-2c1h_2019.csv"  # AMLB 2019: no metric column, logloss unnegated
NEW = DATA / "results_automlbenchmark_test_mlgym.csv"  # AMLB >= 2.0 / AutoGluon-Bench aggregated: neg_logloss, neg_rmse


def test_reader_is_found_through_the_catalog():
    assert any(r.results_format == "amlb" for r in frameworks.results_readers())
    assert run_key("amlb/test/kc2/0") == ("kc2", 0, "")
    assert run_key("amlb/test/iris/1@1h8c") == ("iris", 1, "1h8c")
    assert run_key("digits") is None and run_key("amlb/test/kc2") is None


def test_both_layouts_read():
    old = read(OLD)
    veh = next(r for r in old if r["task"] == "vehicle" and r["framework"] == "TPOT" and r["fold"] == 0)
    assert (veh["metric"], veh["score"], veh["direction"]) == ("logloss", 0.356986, "lower")
    assert list(veh["metrics"]) == ["logloss", "acc"]  # the optimised one first
    kc1 = next(r for r in old if r["task"] == "kc1" and r["framework"] == "TPOT" and r["fold"] == 0)
    assert (kc1["metric"], kc1["score"], kc1["constraint"]) == ("auc", 0.859899, "stable")
    failed = [r for r in old if r["task"] == "kc1" and r["framework"] == "H2OAutoML"]
    assert failed and all(r["score"] is None and r["info"].startswith("Error:") for r in failed)
    new = read(NEW)
    iris = next(r for r in new if r["task"] == "iris" and r["framework"] == "constantpredictor")
    assert (iris["metric"], iris["direction"]) == ("logloss", "lower") and iris["score"] == pytest.approx(1.0986122886681096)
    chol = next(r for r in new if r["task"] == "cholesterol" and r["framework"] == "AutoGluon")
    assert chol["metric"] == "rmse" and chol["score"] == pytest.approx(44.1244927442528) and "r2" in chol["metrics"]


def test_not_a_results_file_is_one_line(tmp_path):
    bad = tmp_path / "x.csv"
    bad.write_text("a,b\n1,2\n")
    with pytest.raises(MLGymError, match="not an AMLB results file: no 'task' column"):
        read(bad)
    with pytest.raises(MLGymError, match="cannot read"):
        read(tmp_path / "missing.csv")


def test_figures_equal_autogluon_bench_formulas():
    """rank / win rate / normalized score as AutoGluon-Bench computes them with pandas (eval/evaluation)."""
    rows = read(OLD)
    comp = frameworks.compare(rows, [], reference="constantpredictor_enc")
    df = pd.DataFrame([r for r in rows if r["score"] is not None])
    df["metric_error"] = [s if d == "lower" else 1 - s for s, d in zip(df["score"], df["direction"])]
    per = df.groupby(["task", "framework"])["metric_error"].mean().unstack()
    per = per.dropna()  # keep only datasets every framework has (kc1: H2OAutoML failed)
    ranks = per.round(5).rank(axis=1).mean()
    summary = {r["framework"]: r for r in comp["summary"] if r["metric"] == "result"}
    assert set(summary) == set(per.columns)
    for fw in per.columns:
        assert summary[fw]["rank"] == pytest.approx(ranks[fw])
        assert summary[fw]["datasets"] == len(per)
    ref = per["constantpredictor_enc"]
    best = per.min(axis=1)
    norm = ((ref - per["TPOT"]) / (ref - best)).mean()
    assert summary["TPOT"]["normalized_score"] == pytest.approx(norm)
    assert summary["constantpredictor_enc"]["normalized_score"] == 0
    wins = ((per["TPOT"].round(5) < per["autosklearn"].round(5)).sum() + 0.5 * (per["TPOT"].round(5) == per["autosklearn"].round(5)).sum()) / len(per)
    pair = next(w for w in comp["winrate"] if w["metric"] == "result" and w["framework"] == "TPOT" and w["versus"] == "autosklearn")
    assert pair["winrate"] == pytest.approx(wins)
    assert summary["H2OAutoML"]["missing"] == 1


def _run(task, agent, metrics, *, valid=True):
    return {"task": task, "agent": agent, "model": "m", "label": None, "valid_submission": valid, "metrics": metrics,
            "metric": "auc", "score": next(iter(metrics.values()), None), "log_dir": f"/runs/{agent}"}


def test_agents_join_frameworks_per_task_fold_metric():
    runs = [_run("amlb/test/kc2/0", "aide", {"auc": 0.87, "logloss": 0.35, "acc": 0.8, "balacc": 0.6}),
            _run("amlb/test/iris/0", "aide", {"logloss": 0.12, "acc": 0.95, "balacc": 0.95}),
            _run("amlb/test/cholesterol/0", "aide", {}, valid=False),  # no submission: a missing result
            _run("digits", "aide", {"accuracy": 0.9})]  # not an AMLB task: not a row
    agents = frameworks.agent_rows(runs, [READER])
    assert [(a["task"], a["fold"], a["framework"]) for a in agents] == [("kc2", 0, "aide (m)"), ("iris", 0, "aide (m)"),
                                                                        ("cholesterol", 0, "aide (m)")]
    comp = frameworks.compare(read(NEW), agents)
    kc2_auc = [r for r in comp["rows"] if (r["task"], r["fold"], r["metric"]) == ("kc2", 0, "auc")]
    assert [r["framework"] for r in kc2_auc] == ["AutoGluon", "aide (m)", "flaml", "RandomForest", "constantpredictor"]
    assert [r["rank"] for r in kc2_auc] == [1, 2, 3, 4, 5]
    assert {r["kind"] for r in kc2_auc if r["framework"] == "aide (m)"} == {"agent"}
    chol = [r for r in comp["rows"] if r["task"] == "cholesterol" and r["framework"] == "aide (m)"]
    assert chol and all(r["score"] is None and r["rank"] is None for r in chol)
    res = {r["framework"]: r for r in comp["summary"] if r["metric"] == "result"}
    assert res["aide (m)"]["kind"] == "agent" and res["aide (m)"]["missing"] == 1
    assert res["aide (m)"]["datasets"] == 2  # cholesterol has no agent result: left out for everyone, as AutoGluon-Bench does
    assert res["constantpredictor"]["normalized_score"] == 0 and res["aide (m)"]["normalized_score"] > 0.9


def test_eval_plot_report_cli(tmp_path, capsys):
    from mlgym.analysis.eval import main as eval_main
    from mlgym.analysis.plot import main as plot_main
    from mlgym.analysis.report import main as report_main

    out = tmp_path / "eval"
    assert eval_main(["--amlb-results", str(OLD), "--amlb-results", str(NEW), "--reference-framework", "constantpredictor",
                      "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "frameworks and agents" in printed and "AutoGluon" in printed
    with open(out / "frameworks.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert {r["framework"] for r in rows} >= {"TPOT", "AutoGluon", "constantpredictor", "constantpredictor_enc"}
    assert {r["task"] for r in rows} == {"kc1", "credit-g", "vehicle", "kc2", "iris", "cholesterol"}
    assert (out / "frameworks_summary.csv").is_file() and (out / "frameworks_winrate.csv").is_file()
    table = json.loads((out / "table.json").read_text())
    assert table["frameworks"]["reference"] == "constantpredictor"
    figs = tmp_path / "figs"
    assert plot_main([str(out), "--out", str(figs), "--format", "png"]) == 0
    assert (figs / "frameworks.png").is_file()
    page = tmp_path / "r.html"
    assert report_main([str(out), "--out", str(page), "--no-figures"]) == 0
    html = page.read_text()
    assert "Frameworks and agents" in html and "AutoGluon" in html
    # plot and report take the files too (a table without them)
    plain = tmp_path / "plain"
    assert eval_main(["--amlb-results", str(NEW), "--out", str(plain), "-q"]) == 0
    assert report_main([str(plain), "--out", str(tmp_path / "r2.html"), "--no-figures", "--amlb-results", str(OLD)]) == 0
    assert "constantpredictor_enc" in (tmp_path / "r2.html").read_text()


def test_eval_cli_bad_file_is_one_line(tmp_path):
    from mlgym.analysis.eval import main as eval_main

    with pytest.raises(MLGymError, match="no such results file"):
        eval_main(["--amlb-results", str(tmp_path / "nope.csv"), "--out", str(tmp_path / "o")])
