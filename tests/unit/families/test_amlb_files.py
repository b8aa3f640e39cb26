"""Issue 23: AMLB's and AutoGluon-Bench's own files as shipped, and real frameworks as agents.

AMLB's resources/ ship with mlgym (MIT, mlgym/families/amlb/resources/NOTICE); its test ARFFs too
(mlgym/families/amlb/data/), so nothing here needs ../shared or the network.  One test runs
AutoGluon (the AMLB task environment, built once into the usual env cache) on the three amlb/test
tasks with a 10 s limit: the CI cost is the environment's first build (about 2-3 minutes) and ~1 minute."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import sys
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

from amlb_openml_cache import SHARED
from mlgym.core.errors import TaskError
from mlgym.families.amlb import family as amlb
from mlgym.tasks.data import prepare
from mlgym.tasks.spec import TaskSpec

IRIS = "sepal_length,sepal_width,petal_length,petal_width,species\n" + "".join(
    f"{5 + i % 7 * 0.3:.1f},{3 + i % 5 * 0.2:.1f},{1 + (i % 3) * 2.1:.1f},{0.2 + (i % 3) * 0.9:.1f},{['setosa', 'versicolor', 'virginica'][i % 3]}\n"
    for i in range(60))


@pytest.fixture
def user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    u = tmp_path / "custom"
    (u / "benchmarks").mkdir(parents=True)
    monkeypatch.setenv(amlb.USER_DIR_ENV, str(u))
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OPENML_CACHE_DIR", str(tmp_path / "no-openml-cache"))
    return u


def test_shipped_test_benchmark_is_amlbs(user_dir: Path) -> None:
    t = TaskSpec.load("amlb/test/kc2/1")  # test.yaml's __defaults__ win over the `test` constraint
    assert (t.options.max_runtime_seconds, t.options.cores, t.metric) == (60, 2, amlb.UNDECIDED)
    assert [i for i in amlb.ids("test")] == [f"amlb/test/{n}/{f}" for n in ("kc2", "iris", "cholesterol") for f in (0, 1)]
    assert amlb.load_id("amlb/test/kc2/0@1h8c").options.max_runtime_seconds == 60  # __defaults__ beat any constraint
    data = prepare(amlb.load_id("amlb/test/iris/0"))  # no cache, no network: AMLB's shipped split
    settled = amlb.settled(amlb.load_id("amlb/test/iris/0"), data)
    assert (settled.metric, settled.direction) == ("log_loss", "lower")
    assert amlb.load_id("amlb/test/iris/0").metric == "log_loss"  # known from the prepared fold now
    assert (SHARED / "NOTICE").is_file() and "MIT" in (SHARED / "NOTICE").read_text()


@pytest.mark.slow
def test_broken_files_are_one_line_each_and_hide_nothing(user_dir: Path) -> None:
    (user_dir / "benchmarks" / "broken.yaml").write_text("- name: x\n  openml_task_id: [3\n")
    (user_dir / "benchmarks" / "mixed.yaml").write_text(
        "- name: bad\n  openml_task_id: 3\n  metrc: auc\n- name: good\n  openml_task_id: 3913\n"
        "- name: unused\n  enabled: false\n  openml_data_id: 42\n  openml_task_id: -1\n"
        "- name: ts\n  dataset: {path: 'https://example.org/x.csv', type: timeseries, forecast_horizon_in_steps: 3}\n")
    (user_dir / "constraints.yaml").write_text("aws1:\n  folds: 1\n  max_runtime_seconds: 30\n  cores: 1\n  ec2_volume_type: gp3\n"
                                               "odd:\n  folds: many\n")
    out = subprocess.run([sys.executable, "-m", "mlgym.cli", "tasks", "--family", "amlb"], capture_output=True, text=True, timeout=300,
                         env={**os.environ, "COLUMNS": "3000"})  # the warnings are logged lines (rich): unwrapped
    assert out.returncode == 0, out.stderr
    assert "amlb/mixed/good/0" in out.stdout and "amlb/test/kc2/0" in out.stdout and "amlb/mixed/unused" not in out.stdout
    err = out.stdout + out.stderr
    assert "broken.yaml: not valid YAML" in err and "bad.metrc: unknown task key" in err
    assert "timeseries tasks are not supported yet: ts" in err and "aws1: ec2_volume_type: AWS only, does not apply locally" in err
    assert "odd.folds: expected an integer" in err
    assert amlb.load_id("amlb/mixed/good/0@aws1").options.not_local == ("ec2_volume_type",)
    for bad, msg in [("amlb/mixed/unused/0", "disabled"), ("amlb/mixed/ts/0", "not supported yet"), ("amlb/test/kc2/0@odd", "folds")]:
        with pytest.raises(TaskError, match=msg):
            TaskSpec.load(bad)


@pytest.mark.slow
def test_every_file_dataset_form(user_dir: Path, tmp_path: Path) -> None:
    d = user_dir / "data"
    for sub in ("single", "multi"):
        (d / sub).mkdir(parents=True)
    (d / "single" / "iris_train.csv").write_text(IRIS)
    (d / "single" / "iris_test.csv").write_text(IRIS)
    for i in range(3):
        (d / "multi" / f"iris_train_{i}.csv").write_text(IRIS)
        (d / "multi" / f"iris_test_{i}.csv").write_text(IRIS)
    with zipfile.ZipFile(d / "single.zip", "w") as z:
        for f in (d / "single").iterdir():
            z.write(f, f.name)
    with tarfile.open(d / "multi.tgz", "w:gz") as t:
        t.add(d / "multi", "multi")
    served = tmp_path / "www"
    shutil.copytree(d / "single", served)
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(served))  # noqa: E731
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}"
    (user_dir / "benchmarks" / "files.yaml").write_text(
        "- name: __defaults__\n  folds: 3\n"
        f"- name: explicit\n  dataset: {{train: '{{user}}/data/single/iris_train.csv', test: '{{user}}/data/single/iris_test.csv', target: species}}\n"
        "- name: dir_minimal\n  dataset: '{user}/data/single'\n"
        "- name: dir_multi\n  dataset: '{user}/data/multi'\n"
        "- name: zipped\n  dataset: {path: '{user}/data/single.zip', target: species}\n"
        "- name: iris.tgz\n  dataset: '{user}/data/multi.tgz'\n"
        f"- name: remote\n  dataset: {{train: '{url}/iris_train.csv', test: '{url}/iris_test.csv'}}\n  folds: 1\n")
    try:
        ids = amlb.ids("files")
        assert "amlb/files/iris_tgz/2" in ids and "amlb/files/dir_multi/2" in ids and "amlb/files/explicit/1" not in ids
        for name in ("explicit", "dir_minimal", "dir_multi", "zipped", "iris_tgz", "remote"):
            info = json.loads((prepare(TaskSpec.load(f"amlb/files/{name}/0")).public / "task.json").read_text())
            assert (info["target"], info["type"], info["metrics"][0]) == ("species", "multiclass", "logloss"), name
    finally:
        srv.shutdown()


def test_agbench_tabular_config_from_its_root(user_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlgym.families.amlb.bench import from_agbench

    root = tmp_path / "agb"
    (root / "sample_configs" / "amlb_configs").mkdir(parents=True)
    cfg = root / "sample_configs" / "tabular_local_configs.yaml"
    raw = {"module": "tabular", "mode": "local", "benchmark_name": "ag_bench", "root_dir": "ag_bench_runs",
           "git_uri#branch": "https://github.com/openml/automlbenchmark.git#stable", "framework": "AutoGluon:stable",
           "amlb_benchmark": "test", "amlb_task": "kc2", "amlb_constraint": "test", "fold_to_run": 1,
           "amlb_user_dir": "sample_configs/amlb_configs"}
    monkeypatch.chdir(root)
    grid, out, env = from_agbench(cfg, raw)
    assert grid["agents"] == [{"name": "automl", "args": ["--framework", "autogluon"]}]
    assert grid["amlb"] == [{"benchmark": "test", "constraint": "test", "tasks": ["kc2"], "folds": [1]}]
    assert env["MLGYM_AMLB_USER_DIR"] == str(root / "sample_configs" / "amlb_configs")
    for fw, args in [("constantpredictor", ["--framework", "constantpredictor"]),
                     ("RandomForest", ["--framework", "randomforest", "--framework-params", '{"n_estimators": 2000}']),
                     ("AutoGluon_bestquality", ["--framework", "autogluon", "--framework-params", '{"presets": "best_quality"}'])]:
        assert from_agbench(cfg, {**raw, "framework": fw})[0]["agents"][0]["args"] == args
    monkeypatch.chdir(tmp_path)  # AutoGluon-Bench reads relative paths from the working directory
    with pytest.raises(Exception, match="relative paths are read from the working directory"):
        from_agbench(cfg, raw)


@pytest.mark.slow
@pytest.mark.timeout(1500)  # the AMLB task environment's first build (2-3 min) + six short runs
def test_autogluon_and_constantpredictor_score_amlb_test(tmp_path: Path) -> None:
    """The CI run of AutoGluon (issue 23): the three amlb/test tasks, fold 0, AutoGluon capped at 10 s."""
    scores = {}
    for task in ("kc2", "iris", "cholesterol"):
        for fw, extra in (("autogluon", ["--framework-params", '{"time_limit": 10}']), ("constantpredictor", [])):
            log = tmp_path / f"{fw}-{task}"
            out = subprocess.run([sys.executable, "-m", "mlgym.runs.runner", "--task", f"amlb/test/{task}/0", "--agent", "automl",
                                  "--framework", fw, *extra, "--log-dir", str(log), "-q"],
                                 capture_output=True, text=True, timeout=900,
                                 env={**os.environ, "MLGYM_DATA_DIR": str(tmp_path / "data"),
                                      "OPENML_CACHE_DIR": str(tmp_path / "no-openml-cache")})
            result = json.loads((log / "result.json").read_text())
            assert result["valid_submission"], (out.stdout[-2000:], out.stderr[-2000:])
            scores[fw, task] = (result["metric"], result["score"])
    assert scores["constantpredictor", "kc2"] == ("auc", 0.5)  # the class prior ranks nothing
    assert scores["autogluon", "kc2"][1] > 0.75 and scores["autogluon", "iris"][0] == "log_loss"
    assert scores["autogluon", "iris"][1] < scores["constantpredictor", "iris"][1]
    assert scores["autogluon", "cholesterol"][0] == "rmse"
