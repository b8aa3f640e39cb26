"""MLAgentBench users bring their own ``benchmarks/`` folder (issue 22): folders built at test time
in MLAgentBench's layout (tests/helpers/mab_folder_fixtures.py) and Kaggle files in Kaggle's zip layout
(tests/helpers/kaggle_zip_fixtures.py); nothing here needs a copy of MLAgentBench, Kaggle or ../shared.
With ``MLGYM_TEST_MLAGENTBENCH=<its benchmarks dir>`` the table is also checked against the real folder."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

from mlgym.core.errors import DataError
from mlgym.families.mlagentbench import folders
from mlgym.families.mlagentbench.folder_prepare import install_shim, prepare_folder
from mlgym.grading.scoring import evaluate
from mlgym.runs import runner
from mlgym.tasks.data import prepare
from mlgym.tasks.spec import TaskSpec, list_tasks

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "helpers"))
import kaggle_zip_fixtures as kf  # noqa: E402
import mab_folder_fixtures as mf  # noqa: E402

UPSTREAM = os.environ.get("MLGYM_TEST_MLAGENTBENCH")


@pytest.fixture
def bench(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty MLAgentBench benchmarks folder on MLGYM_BENCHMARKS, a private data cache, no consent,
    Kaggle files only from tmp/kaggle (and never the real client)."""
    b = tmp_path / "MLAgentBench" / "benchmarks"
    b.mkdir(parents=True)
    monkeypatch.setenv("MLGYM_BENCHMARKS", str(b))
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MLGYM_KAGGLE_DIR", str(tmp_path / "kaggle"))
    monkeypatch.delenv("MLGYM_ASSUME_YES", raising=False)
    monkeypatch.setenv("PATH", os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if not (Path(p) / "kaggle").exists()))
    return b


def _files(d: Path) -> dict[Path, bytes]:
    return {p: p.read_bytes() for p in sorted(d.rglob("*")) if p.is_file()}


def _get_score(scripts: Path, sub: Path) -> float:
    """MLAgentBench's own scoring: its eval.py's get_score, cwd scripts/."""
    cwd = os.getcwd()
    os.chdir(scripts)
    try:
        spec = importlib.util.spec_from_file_location(f"ev_{abs(hash(sub))}", scripts / "eval.py")
        assert spec and spec.loader
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return float(mod.get_score(str(sub)))
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize("slug", ["home-data-for-ml-course", "spaceship-titanic"])
@pytest.mark.parametrize("as_zip", [True, False])
def test_kaggle_shim_serves_the_zip_kaggle_leaves(tmp_path: Path, slug: str, as_zip: bool) -> None:
    kf.make_competition(slug, tmp_path / "k", as_zip=as_zip)
    exe = install_shim(tmp_path / "bin")
    cwd = tmp_path / "dl"
    cwd.mkdir()
    r = subprocess.run([str(exe), "competitions", "download", "-c", slug], cwd=cwd, capture_output=True, text=True,
                       env=dict(os.environ, MLGYM_KAGGLE_DIR=str(tmp_path / "k"), MLGYM_KAGGLE_REAL_PATH=""))
    assert r.returncode == 0, r.stderr
    assert f"Downloading {slug}.zip to {cwd}" in r.stdout
    with zipfile.ZipFile(cwd / f"{slug}.zip") as zf:
        assert {"train.csv", "test.csv", "sample_submission.csv"} <= set(zf.namelist())


def test_kaggle_shim_missing_names_the_folder(tmp_path: Path) -> None:
    exe = install_shim(tmp_path / "bin")
    r = subprocess.run([str(exe), "competitions", "download", "-c", "spaceship-titanic", "-p", str(tmp_path)],
                       capture_output=True, text=True,
                       env=dict(os.environ, MLGYM_KAGGLE_DIR=str(tmp_path / "none"), MLGYM_KAGGLE_REAL_PATH=""))
    assert r.returncode == 1 and "$MLGYM_KAGGLE_DIR/spaceship-titanic/" in r.stderr and len(r.stderr.splitlines()) == 1


@pytest.mark.slow
def test_consent_kaggle_marker_and_exact_score(bench: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No consent: one line saying how; MLGYM_ASSUME_YES=1: its own prepare.py runs on a copy, its
    kaggle call is served from $MLGYM_KAGGLE_DIR, the marker is written; the user's folder is
    untouched, a failed attempt is kept; the score is get_score's, exactly."""
    task = mf.kaggle_task(bench)
    kf.make_competition("home-data-for-ml-course", tmp_path / "kaggle")
    before = _files(task)
    spec = TaskSpec.load("house-price")
    assert (spec.metric, spec.direction, spec.submission) == ("mae", "lower", ("submission.csv",))
    with pytest.raises(DataError) as err:
        prepare(spec)
    msg = str(err.value)
    assert "asks for consent" in msg and "mlgym prepare house-price --yes" in msg and "MLGYM_ASSUME_YES=1" in msg and "\n" not in msg
    monkeypatch.setenv("MLGYM_ASSUME_YES", "1")
    data = prepare(spec)
    work = data.raw / "mlagentbench-task"
    assert (work / "scripts" / "prepared").read_text() == "success"
    assert len(pd.read_csv(data.public / "train.csv")) == 160 and not (data.public / "answer.csv").exists()
    assert (data.private / "scripts" / "answer.csv").is_file()
    assert list(data.raw.glob("mlagentbench-task.attempt-*.failed"))  # the refused attempt, kept with its log
    assert _files(task) == before
    ans = pd.read_csv(data.private / "scripts" / "answer.csv")
    ws = tmp_path / "ws"
    spec.family.build_workspace(spec, ws)
    sub = ans.assign(SalePrice=ans.SalePrice + 10.5)
    sub.to_csv(ws / "submission.csv", index=False)
    ref = tmp_path / "ref"
    ref.mkdir()
    sub.to_csv(ref / "submission.csv", index=False)
    result = evaluate(spec, data, ws)
    assert result["valid_submission"], result["error"]
    assert result["score"] == _get_score(data.private / "scripts", ref) == pytest.approx(10.5)
    assert (result["metric"], result["direction"]) == ("mae", "lower")
    # a short file: get_score's sum() over index-aligned rows is NaN; that is no score (docs/mlagentbench.md)
    sub.iloc[:-5].to_csv(ws / "submission.csv", index=False)
    sub.iloc[:-5].to_csv(ref / "submission.csv", index=False)
    assert _get_score(data.private / "scripts", ref) != _get_score(data.private / "scripts", ref)  # NaN
    short = evaluate(spec, data, ws)
    assert not short["valid_submission"] and "not finite" in short["error"]
    # rows in another order are scored by position, as get_score does: the same number
    sub.iloc[::-1].to_csv(ws / "submission.csv", index=False)
    sub.iloc[::-1].to_csv(ref / "submission.csv", index=False)
    assert evaluate(spec, data, ws)["score"] == _get_score(data.private / "scripts", ref)


@pytest.mark.slow
def test_unfinished_starter_runs_with_unknown_baseline(bench: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """MLAgentBench's house-price starter is unfinished on purpose: the run starts, exits 0 and
    writes result.json (metric, direction, baseline unknown); the unknown baseline is recorded, so an
    agent's run starts too."""
    from mlgym.runs import baseline

    mf.kaggle_task(bench)
    kf.make_competition("home-data-for-ml-course", tmp_path / "kaggle")
    monkeypatch.setenv("MLGYM_ASSUME_YES", "1")
    log = tmp_path / "log"
    assert runner.main(["--task", "house-price", "--agent", "baseline", "--log-dir", str(log), "--work-dir", str(tmp_path / "w"), "-q"]) == 0
    result = json.loads((log / "result.json").read_text())
    assert (result["metric"], result["direction"], result["score"], result["baseline"]) == ("mae", "lower", None, None)
    assert "MLAgentBench reports 1e+10" in result["baseline_source"]
    assert not baseline.missing("house-price")  # recorded as unknown: not measured again
    recorded = json.loads((tmp_path / "data" / "house-price" / "baseline.json").read_text())
    assert recorded["score"] is None and recorded["measured"].startswith("unknown")


@pytest.mark.slow
def test_measure_records_an_unknown_baseline(bench: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlgym.core.errors import MLGymError
    from mlgym.runs import baseline

    mf.kaggle_task(bench)
    kf.make_competition("home-data-for-ml-course", tmp_path / "kaggle")
    monkeypatch.setenv("MLGYM_ASSUME_YES", "1")
    assert baseline.missing("house-price")
    with pytest.raises(MLGymError, match="no valid submission"):
        baseline.measure("house-price")
    baseline.measure("house-price", unknown_ok=True)
    assert not baseline.missing("house-price")


def test_user_prepared_folder_taken_as_is(tmp_path: Path) -> None:
    task = mf.kaggle_task(tmp_path / "b")
    (task / "env" / "train.csv").write_text("Id,SalePrice\n1,2\n")
    (task / "scripts" / "answer.csv").write_text("Id,SalePrice\n2,3\n")
    (task / "scripts" / "prepared").write_text("success")
    before = _files(task)
    work = prepare_folder(task, tmp_path / "d" / "t", consent=False)  # no consent, no kaggle: nothing runs
    assert (work / "env" / "train.csv").read_text() == "Id,SalePrice\n1,2\n"
    assert _files(task) == before
    assert prepare_folder(task, tmp_path / "d" / "t") == work  # the marker: nothing runs again


def test_missing_download_is_one_line(bench: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    mf.kaggle_task(bench, name="ship", slug="spaceship-titanic", target="Transported")
    monkeypatch.setenv("MLGYM_ASSUME_YES", "1")
    with pytest.raises(DataError) as err:
        prepare(TaskSpec.load("ship"))
    msg = str(err.value)
    assert "cannot get the Kaggle competition spaceship-titanic" in msg and "$MLGYM_KAGGLE_DIR/spaceship-titanic/" in msg
    assert "\n" not in msg


def test_non_csv_submissions(bench: Path, tmp_path: Path) -> None:
    """checkpoints/ (CLRS) is the submission: scored by get_score, its absence is one line; a folder
    with no eval but a timing script (llama-inference) is scored by the speed it prints; a folder
    MLAgentBench never scores lists, runs and says so."""
    mf.checkpoint_task(bench)
    mf.unscored_task(bench)
    d = bench / "notes-only"
    (d / "env").mkdir(parents=True)
    (d / "scripts").mkdir()
    (d / "scripts" / "research_problem.txt").write_text("Write notes.\n")
    assert folders.submission_kind(bench / "clrs-like") == {"kind": "dir", "path": "checkpoints"}
    spec = TaskSpec.load("clrs-like")
    assert spec.submission == () and "checkpoints/" in spec.family.describe(spec)
    data = prepare(spec)
    ws = tmp_path / "ws"
    spec.family.build_workspace(spec, ws)
    res = evaluate(spec, data, ws)
    assert not res["valid_submission"] and "checkpoints/ not found" in res["error"]
    subprocess.run([sys.executable, "train.py"], cwd=ws, check=True)
    res = evaluate(spec, data, ws)
    assert res["valid_submission"] and res["score"] == 0.75, res["error"]

    speed = TaskSpec.load("speed-like")
    assert (speed.options.submission_kind, speed.metric, speed.direction) == ("speed", "seconds", "lower")
    ws2 = tmp_path / "ws2"
    speed_data = prepare(speed)
    speed.family.build_workspace(speed, ws2)
    res = evaluate(speed, speed_data, ws2)
    assert res["valid_submission"] and res["score"] > 0, res["error"]

    none = TaskSpec.load("notes-only")
    res = evaluate(none, prepare(none), ws2)
    assert not res["valid_submission"] and "no score" in res["error"]


def test_extra_packages(bench: Path, tmp_path: Path) -> None:
    """The table gives MLAgentBench's folders their packages; a user's folder declares its own in
    <name>.mlgym.yaml; an eval needing a package the environment lacks fails with a line naming it."""
    mf.package_task(bench)
    mf.kaggle_task(bench, name="spaceship-titanic", slug="spaceship-titanic", target="Transported")
    spec = TaskSpec.load("needs-pkg")
    assert spec.environment.requirements == ()
    (bench / "needs-pkg.mlgym.yaml").write_text("requirements: [mlgym-surely-absent-pkg==1.0]\n")
    spec = TaskSpec.load("needs-pkg")
    assert spec.environment.requirements == ("mlgym-surely-absent-pkg==1.0",)
    (bench / "needs-pkg.mlgym.yaml").unlink()
    ws = tmp_path / "ws"
    spec = TaskSpec.load("needs-pkg")
    data = prepare(spec)
    spec.family.build_workspace(spec, ws)
    (ws / "submission.csv").write_text("x\n1\n")
    res = evaluate(spec, data, ws)
    assert not res["valid_submission"] and "mlgym_surely_absent_pkg" in res["error"]
    assert "datasets" in TaskSpec.load("spaceship-titanic").environment.requirements  # its eval imports datasets


def test_aliases_and_user_folder_wins(bench: Path, caplog: pytest.LogCaptureFixture) -> None:
    """tasks.json aliases are tasks with their own research problem; a user's folder named like a
    built-in wins with one warning line, and the built-in stays reachable by <family>/<name>."""
    mf.kaggle_task(bench)
    mf.kaggle_task(bench, name="spaceship-titanic", slug="spaceship-titanic", target="Transported")
    mf.tasks_json(bench, {"debug": {"benchmark_folder_name": "house-price", "research_problem": "Just try it."},
                          "broken": {"benchmark_folder_name": "no-such-folder"}})
    names = list_tasks()
    assert {"house-price", "debug", "spaceship-titanic"} <= set(names) and "broken" not in names
    alias = TaskSpec.load("debug")
    assert alias.name == "debug" and alias.description == "Just try it." and alias.root == (bench / "house-price").resolve()
    with caplog.at_level(logging.WARNING, logger="mlgym.tasks"):
        mine = TaskSpec.load("spaceship-titanic")
        TaskSpec.load("spaceship-titanic")
    assert mine.root == (bench / "spaceship-titanic").resolve()
    warned = [r.getMessage() for r in caplog.records if "spaceship-titanic" in r.getMessage()]
    assert len(warned) <= 1 and all("kaggle/spaceship-titanic" in w for w in warned)
    builtin = TaskSpec.load("kaggle/spaceship-titanic")
    assert builtin.kind == "kaggle" and builtin.name == "spaceship-titanic"


def test_folder_family_has_a_short_name(bench: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The folder family is the entry point ``mlagentbench-folder`` (setup.cfg's mlgym.families): `mlgym tasks` shows
    that name, and ``--family`` takes it."""
    from mlgym.cli.app import main as cli_main

    mf.kaggle_task(bench)
    mf.tasks_json(bench, {"debug": {"benchmark_folder_name": "house-price", "research_problem": "Just try it."}})
    assert TaskSpec.load("house-price").kind == TaskSpec.load("debug").kind == "mlagentbench-folder"
    assert cli_main(["tasks", "--family", "mlagentbench-folder"]) == 0
    rows = [ln.split("│")[1:3] for ln in capsys.readouterr().out.splitlines() if ln.count("│") > 3]
    assert {(t.strip(), f.strip()) for t, f in rows if t.strip() != "task"} == {("house-price", "mlagentbench-folder"),
                                                                               ("debug", "mlagentbench-folder")}


def test_parkinsons_folder_is_smape_lower(bench: Path) -> None:
    d = bench / "amp-parkinsons-disease-progression-prediction"
    (d / "env").mkdir(parents=True)
    (d / "scripts").mkdir()
    (d / "scripts" / "research_problem.txt").write_text("Predict UPDRS.\n")
    (d / "scripts" / "eval.py").write_text("def get_score(submission_folder='../env'):\n    return 1.0\n")
    spec = TaskSpec.load("amp-parkinsons-disease-progression-prediction")
    assert (spec.metric, spec.direction, spec.submission) == ("smape_plus1", "lower", ("submission.csv",))


@pytest.mark.skipif(not UPSTREAM, reason="MLGYM_TEST_MLAGENTBENCH (MLAgentBench's benchmarks folder) not set")
def test_table_covers_the_real_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    assert UPSTREAM
    real = Path(UPSTREAM)
    monkeypatch.setenv("MLGYM_BENCHMARKS", str(real))
    found = {p.name for p in real.iterdir() if (p / "env").is_dir()}
    assert found == set(folders.load_table()["tasks"])
    assert found | {"debug"} <= set(list_tasks())
    for n in ("CLRS", "babylm", "llama-inference"):
        assert TaskSpec.load(n).options.submission_kind in ("dir", "speed")


@pytest.mark.slow
def test_benchmarks_flag_and_prepare_yes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """`mlgym --benchmarks DIR prepare TASK --yes` and `python -m mlgym.runner --benchmarks DIR` mean MLGYM_BENCHMARKS=DIR."""
    from mlgym.cli.app import main as cli_main

    b = tmp_path / "benchmarks"
    mf.kaggle_task(b)
    kf.make_competition("home-data-for-ml-course", tmp_path / "kaggle")
    monkeypatch.setenv("MLGYM_BENCHMARKS", "")  # recorded: what the commands set is undone after the test
    monkeypatch.setenv("MLGYM_ASSUME_YES", "")
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MLGYM_KAGGLE_DIR", str(tmp_path / "kaggle"))
    assert cli_main(["prepare", "house-price", "--benchmarks", str(b)]) == 2
    assert "--yes" in capsys.readouterr().err
    assert cli_main(["--benchmarks", str(b), "prepare", "house-price", "--yes"]) == 0
    assert (tmp_path / "data" / "house-price" / "raw" / "mlagentbench-task" / "scripts" / "prepared").is_file()
    monkeypatch.setenv("MLGYM_BENCHMARKS", "")
    assert runner.build_parser().parse_args(["--benchmarks", str(b), "--task", "house-price"]).benchmarks == [b]
    runner.use_benchmarks([b])
    assert TaskSpec.load("house-price").root == (b / "house-price").resolve()
