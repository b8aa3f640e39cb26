"""`mlgym bench` with AMLB: `amlb: {benchmark, constraint, folds}` grids, AutoGluon-Bench local config
files, AMLB's results.csv, and a grid of AMLB `test` x 2 folds x {baseline, automl sklearn, automl
flaml} that is killed mid-way and resumed without losing a finished run."""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from amlb_openml_cache import SHARED, write_cache
from mlgym.families.amlb.bench import ray_resources
from mlgym.runs.bench import load_grid
from mlgym.core.errors import MLGymError

pytestmark = pytest.mark.skipif(not (SHARED / "kc2_train.arff").is_file(), reason=f"AMLB test resources missing in {SHARED}")
CITEST = "- name: kc2\n  openml_task_id: 3913\n- name: iris\n  openml_task_id: 59\n- name: cholesterol\n  openml_task_id: 2295\n"
# AMLB's test tasks without test.yaml's __defaults__ (60 s / 2 cores), which outrank a constraint in AMLB:
# a user benchmark file is how a short CI run asks for the 10 s / 1-core constraint.
CI_CONSTRAINT = "ci:\n  folds: 2\n  max_runtime_seconds: 10\n  cores: 1\n  max_mem_size_mb: 2048\n"


@pytest.fixture
def amlb_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private data dir, an OpenML cache with the test benchmark, and a user dir with a 10 s constraint."""
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OPENML_CACHE_DIR", str(write_cache(tmp_path / "openml")))
    user = tmp_path / "amlb-user"
    (user / "benchmarks").mkdir(parents=True)
    (user / "constraints.yaml").write_text(CI_CONSTRAINT)
    (user / "benchmarks" / "citest.yaml").write_text(CITEST)
    monkeypatch.setenv("MLGYM_AMLB_USER_DIR", str(user))
    return user


def test_amlb_grid_entry_expands_to_task_ids(tmp_path: Path, amlb_env: Path) -> None:
    g = tmp_path / "g.yaml"
    g.write_text("amlb: {benchmark: test, constraint: ci, folds: [1], tasks: [kc2, iris]}\nagents: [baseline]\n")
    assert [r.task for r in load_grid(g).runs] == ["amlb/test/kc2/1@ci", "amlb/test/iris/1@ci"]
    g.write_text("tasks: [digits]\namlb: [{benchmark: small, constraint: 1h8c, folds: 10}]\nagents: [baseline]\n")
    assert len(load_grid(g).runs) == 1 + 16 * 10
    for text, msg in [("amlb: {benchmark: test, folds: [5]}\nagents: [baseline]\n", "fold 5 is not in constraint 'test'"),
                      ("amlb: {benchmark: test, tasks: [kc3]}\nagents: [baseline]\n", "has no dataset 'kc3'"),
                      ("amlb: {benchmark: test, fold: [1]}\nagents: [baseline]\n", "amlb.fold: unknown field"),
                      ("amlb: {benchmark: nope}\nagents: [baseline]\n", "unknown AMLB benchmark 'nope'")]:
        g.write_text(text)
        with pytest.raises(MLGymError, match=msg) as e:
            load_grid(g)
        assert "\n" not in str(e.value)


def test_autogluon_bench_local_config_maps_and_cloud_is_refused(tmp_path: Path, amlb_env: Path) -> None:
    (amlb_env / "benchmarks" / "mine.yaml").write_text("- name: chol\n  dataset: {train: d/tr.csv, test: d/te.csv, target: chol}\n  metric: rmse\n")
    cfg = tmp_path / "agbench.yaml"
    cfg.write_text(f"module: tabular\nmode: local\nbenchmark_name: ag_bench\nroot_dir: {tmp_path / 'ag_bench_runs'}\n"
                   "git_uri#branch: https://github.com/openml/automlbenchmark.git#master\nframework: flaml\n"
                   "amlb_benchmark: [test, mine]\namlb_task: {test: [kc2, iris]}\namlb_constraint: ci\n"
                   f"fold_to_run: {{test: {{kc2: [1]}}}}\namlb_user_dir: {amlb_env}\n")
    grid = load_grid(cfg)
    assert [r.task for r in grid.runs] == ["amlb/test/kc2/1@ci", "amlb/test/iris/0@ci", "amlb/test/iris/1@ci", "amlb/mine/chol/0@ci"]
    assert {(r.agent, r.agent_args) for r in grid.runs} == {("automl", ("--framework", "flaml"))}
    assert grid.out.parent == tmp_path / "ag_bench_runs" / "tabular" and grid.out.name.startswith("ag_bench_")
    assert dict(grid.env) == {"MLGYM_AMLB_USER_DIR": str(amlb_env)}
    assert ray_resources("amlb/test/kc2/1@ci") == {"num_cpus": 2.0, "memory": 2048 * 2**20}  # test.yaml's __defaults__ (2 cores) outrank ci
    assert ray_resources("amlb/citest/kc2/1@ci") == {"num_cpus": 1.0, "memory": 2048 * 2**20}  # what each run asks Ray for
    assert ray_resources("amlb/small/car/0@1h8c") == {"num_cpus": 8.0, "memory": 8192 * 2**20}
    for text, msg in [("cdk_context: {CDK_DEPLOY_ACCOUNT: x}\nmodule: tabular\nmode: aws\nbenchmark_name: b\n", "cdk_context: AutoGluon-Bench's cloud mode"),
                      ("module: tabular\nmode: aws\nbenchmark_name: b\nframework: flaml\n", "mode: AutoGluon-Bench's cloud mode"),
                      ("module: timeseries\nmode: local\nbenchmark_name: b\nframework: flaml\n", "only module: tabular .AMLB tasks. and multimodal"),
                      ("module: tabular\nmode: local\nbenchmark_name: b\nframework: flaml\nMETRICS_BUCKET: m\n",
                       "METRICS_BUCKET: AutoGluon-Bench's cloud mode")]:
        cfg.write_text(text)
        with pytest.raises(MLGymError, match=msg):
            load_grid(cfg)


def _bench(grid: Path, out: Path, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "mlgym.cli", "bench", str(grid), "--out", str(out), *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)


def test_amlb_grid_killed_and_resumed_writes_results_csv(tmp_path: Path, amlb_env: Path) -> None:
    grid, out = tmp_path / "amlb-ci.yaml", tmp_path / "runs"
    grid.write_text("amlb: {benchmark: citest, constraint: ci, folds: [0, 1]}\n"
                    "agents: [baseline, {name: automl, args: [--framework, sklearn]}, {name: automl, args: [--framework, flaml]}]\n"
                    f"args: [--python, {sys.executable}]\n")
    runs = load_grid(grid, out).runs
    assert len(runs) == 3 * 2 * 3
    first = _bench(grid, out, "-j", "2")
    deadline = time.monotonic() + 300
    while sum((r.log_dir / "result.json").is_file() for r in runs) < 4 and time.monotonic() < deadline and first.poll() is None:
        time.sleep(0.5)
    os.killpg(first.pid, signal.SIGKILL)  # the whole grid at once, mid-way
    first.wait()
    done_before = {r.log_dir: json.loads((r.log_dir / "result.json").read_text())["run_id"] for r in runs if (r.log_dir / "result.json").is_file()}
    assert 4 <= len(done_before) < len(runs)
    second = _bench(grid, out, "-j", "2")
    text = second.communicate(timeout=600)[0].decode()
    assert second.returncode == 0, text[-3000:]
    assert f"{len(done_before)} done" in text
    for log_dir, run_id in done_before.items():  # finished runs were not run again
        assert json.loads((log_dir / "result.json").read_text())["run_id"] == run_id
    from mlgym.analysis import plot

    assert plot.main([str(out), "--out", str(out / "figures")]) in (0, None)
    assert (out / "figures" / "performance_profiles.svg").is_file()
    rows = list(csv.DictReader(open(out / "results.csv")))
    assert len(rows) == 18 and (out / "eval" / "table.json").is_file()
    assert list(rows[0])[:16] == ["id", "task", "framework", "constraint", "fold", "result", "metric", "mode", "version", "params",
                                  "tag", "utc", "duration", "models", "seed", "info"]
    assert {r["framework"] for r in rows} == {"baseline", "sklearn", "flaml"} and {r["constraint"] for r in rows} == {"ci"}
    for r in rows:
        assert r["info"] == "" and r["result"] != "", r
        if r["task"] == "kc2":
            assert r["metric"] == "auc" and float(r["result"]) == float(r["auc"]) and r["id"] == "openml.org/t/3913"
        if r["task"] == "iris":
            assert r["metric"] == "neg_logloss" and float(r["result"]) == -float(r["logloss"])
        if r["task"] == "cholesterol":
            assert r["metric"] == "neg_rmse" and r["r2"] != "" and r["mae"] != ""
