"""The AMLB family: AMLB's benchmark files expand into amlb/<benchmark>/<dataset>/<fold> tasks; data
through openml-python from an OpenML cache in its real on-disk format (built from AMLB's test
resources shipped in mlgym/families/amlb/data/), local datasets from MLGYM_AMLB_USER_DIR, constraints, the
grader's one-line errors, metric spellings, and the automl agent (scikit-learn and FLAML)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from amlb_openml_cache import SHARED, write_cache
from mlgym.tasks.data import TaskData, prepare
from mlgym.grading.base import Submission, evaluator
from mlgym.core.errors import DataError, TaskError
from mlgym.families.amlb import family as amlb
from mlgym.core.metrics import canonical
from mlgym.tasks.spec import TaskSpec

pytestmark = pytest.mark.skipif(not (SHARED / "kc2_train.arff").is_file(), reason=f"AMLB test resources missing in {SHARED}")


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "data"
    monkeypatch.setenv("MLGYM_DATA_DIR", str(d))
    return d


@pytest.fixture
def openml_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An OpenML cache holding the test benchmark's three tasks with two folds each."""
    import openml

    root = write_cache(tmp_path / "openml")
    monkeypatch.setenv("OPENML_CACHE_DIR", str(root))
    old = openml.config._root_cache_directory
    openml.config.set_root_cache_directory(root)
    yield root
    openml.config.set_root_cache_directory(old)


@pytest.fixture
def user_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    u = tmp_path / "amlb-user"
    (u / "benchmarks").mkdir(parents=True)
    (u / "constraints.yaml").write_text("ci:\n  folds: 2\n  max_runtime_seconds: 20\n  cores: 1\n  max_mem_size_mb: 2048\n")
    monkeypatch.setenv(amlb.USER_DIR_ENV, str(u))
    return u


@pytest.mark.slow
def test_cli_lists_the_test_benchmark_task_by_fold() -> None:
    out = subprocess.run([sys.executable, "-m", "mlgym.cli", "tasks", "--family", "amlb"], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    for name in ("kc2", "iris", "cholesterol"):
        for fold in (0, 1):
            assert f"amlb/test/{name}/{fold}" in out.stdout
    assert "amlb/small/credit-g/0" in out.stdout and "amlb/test/kc2/2" not in out.stdout
    assert len(amlb.ids("small")) == 16 * 2 and len(amlb.ids("small", "1h8c")) == 16 * 10


def test_ids_constraints_and_one_line_errors(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENML_CACHE_DIR", str(tmp_path / "no-cache"))  # the type, hence the metric, is not known yet
    t = TaskSpec.load("amlb/test/kc2/0")
    assert (t.kind, t.metric, t.direction, t.submission) == ("amlb", amlb.UNDECIDED, "higher", ("predictions.csv",))
    # AMLB's precedence: test.yaml's __defaults__ (2 folds, 60 s, 2 cores) win over the `test` constraint (600 s, 4 cores)
    assert t.limits.max_time == 120 and t.options.max_runtime_seconds == 60 and t.options.cores == 2 == t.limits.cores
    big = TaskSpec.load("amlb/small/car/7@1h8c")
    assert (big.metric, big.options.max_runtime_seconds, big.limits.max_time, big.options.cores) == (amlb.UNDECIDED, 3600, 7200, 8)
    assert any("FLAML" in r for r in t.environment.requirements)
    for bad, msg in [("amlb/test/kc2/2", "fold must be 0..1 under constraint 'test'"), ("amlb/test/nope/0", "has no dataset 'nope'"),
                     ("amlb/huge/kc2/0", "unknown AMLB benchmark 'huge'"), ("amlb/test/kc2/0@2h", "unknown AMLB constraint '2h'"),
                     ("amlb/test/kc2", "amlb/<benchmark>/<dataset>/<fold>"), ("amlb", "name an AMLB task")]:
        with pytest.raises(TaskError, match=msg.replace("(", r"\(").replace(")", r"\)").replace(".", r"\.")):
            TaskSpec.load(bad)


def test_metric_spellings() -> None:
    for names, want in [(("auc", "roc_auc", "roc_auc_score"), "auc"), (("rmse", "root_mean_squared_error", "neg_root_mean_squared_error"), "rmse"),
                        (("acc", "accuracy", "accuracy_score"), "accuracy"), (("balacc", "balanced_accuracy"), "balanced_accuracy"),
                        (("logloss", "log_loss", "neg_log_loss"), "log_loss"), (("mae", "mean_absolute_error"), "mae"), (("R2", "r2_score"), "r2")]:
        assert {canonical(n) for n in names} == {want}
    assert canonical("wobble") is None


def test_openml_cache_path_gives_each_fold(data_dir: Path, openml_cache: Path) -> None:
    d0 = prepare(TaskSpec.load("amlb/test/kc2/0"))
    d1 = prepare(TaskSpec.load("amlb/test/kc2/1"))
    info0, info1 = (json.loads((d.public / "task.json").read_text()) for d in (d0, d1))
    assert info0["source"] == "OpenML task 3913, fold 0" and info1["source"] == "OpenML task 3913, fold 1"
    assert (info0["type"], info0["classes"], info0["positive_class"], info0["target"]) == ("binary", ["no", "yes"], "yes", "problems")
    assert info0["metrics"] == ["auc", "logloss", "acc", "balacc"] and info0["rows"] == {"train": 469, "test": 53}
    import arff

    shared_test = [row[-1] for row in arff.load(open(SHARED / "kc2_test.arff"))["data"]]  # fold 0 is AMLB's own split
    assert pd.read_csv(d0.private / "test_labels.csv")["problems"].tolist() == shared_test
    assert TaskSpec.load("amlb/test/kc2/0").metric == "auc"  # the type is known now: AMLB's first binary metric
    assert not pd.read_csv(d0.public / "test.csv").columns.isin(["problems"]).any()
    assert not pd.read_csv(d1.public / "test.csv").equals(pd.read_csv(d0.public / "test.csv"))
    chol = json.loads((prepare(TaskSpec.load("amlb/test/cholesterol/1")).public / "task.json").read_text())
    assert chol["type"] == "regression" and chol["metrics"] == ["rmse", "r2", "mae"] and len(chol["categorical"]) == 7


def test_without_cache_or_network_fold_0_comes_from_amlb_resources(data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import openml

    old = openml.config._root_cache_directory
    openml.config.set_root_cache_directory(tmp_path / "empty-cache")
    monkeypatch.setattr(openml.config, "server", "http://127.0.0.1:9/api/v1/xml")  # nothing listens there
    try:
        info = json.loads((prepare(TaskSpec.load("amlb/test/iris/0")).public / "task.json").read_text())
        assert info["source"].startswith("AMLB test resources") and info["type"] == "multiclass"
        with pytest.raises(DataError, match="OpenML task 59 is neither in the OpenML cache") as e:
            prepare(TaskSpec.load("amlb/test/iris/1"))
        assert "\n" not in str(e.value)
    finally:
        openml.config.set_root_cache_directory(old)


def _grade(task: str, data: TaskData, frame: pd.DataFrame, tmp_path: Path):
    sub = tmp_path / f"sub{len(list(tmp_path.glob('sub*')))}"
    sub.mkdir()
    frame.to_csv(sub / "predictions.csv", index=False)
    t = TaskSpec.load(task)
    return evaluator(t).evaluate(t, data, Submission(sub), sandbox="local-plain", python=sys.executable)


@pytest.mark.slow
def test_grader_reports_every_metric_and_rejects_bad_files_in_one_line(data_dir: Path, openml_cache: Path, tmp_path: Path) -> None:
    data = prepare(TaskSpec.load("amlb/test/iris/1"))
    truth = pd.read_csv(data.private / "test_labels.csv")["class"]
    classes = json.loads((data.public / "task.json").read_text())["classes"]
    perfect = pd.DataFrame({c: (truth == c).astype(float) for c in classes}).assign(predictions=truth)
    res = _grade("amlb/test/iris/1", data, perfect, tmp_path)
    assert res.valid and res.score == pytest.approx(0.0, abs=1e-9) and res.metrics["acc"] == 1.0 and res.metrics["balacc"] == 1.0
    for frame, msg in [(perfect.drop(columns=["predictions"]), "needs a column 'predictions'"),
                       (perfect.head(3), "has 3 rows; data/test.csv has"),
                       (perfect.drop(columns=[classes[0]]), f"no probability column for class '{classes[0]}'"),
                       (perfect.assign(predictions="Iris-blue"), "'Iris-blue', not a class label")]:
        bad = _grade("amlb/test/iris/1", data, frame, tmp_path)
        assert not bad.valid and msg in (bad.error or "") and "\n" not in (bad.error or ""), bad.error


def test_user_dir_benchmark_with_local_files(data_dir: Path, user_dir: Path) -> None:
    (user_dir / "data").mkdir()
    for split in ("train", "test"):
        import arff

        d = arff.load(open(SHARED / f"cholesterol_{split}.arff"))
        pd.DataFrame(d["data"], columns=[a[0] for a in d["attributes"]]).to_csv(user_dir / "data" / f"chol_{split}.csv", index=False)
    (user_dir / "benchmarks" / "mine.yaml").write_text(
        "- name: __defaults__\n  max_runtime_seconds: 30\n"
        "- name: chol\n  dataset:\n    train: '{user}/data/chol_train.csv'\n    test: '{user}/data/chol_test.csv'\n"
        "    target: chol\n  metric: [neg_root_mean_squared_error, mae]\n  cores: 1\n")
    assert amlb.ids("mine") == ["amlb/mine/chol/0"]  # one pair of files: one fold
    t = TaskSpec.load("amlb/mine/chol/0@ci")
    assert (t.metric, t.options.max_runtime_seconds, t.limits.max_time, t.limits.memory_mb, t.options.cores) == ("rmse", 30, 90, 2048, 1)
    info = json.loads((prepare(t).public / "task.json").read_text())
    assert info["type"] == "regression" and info["metrics"] == ["neg_root_mean_squared_error", "mae", "rmse", "r2"]
    (user_dir / "benchmarks" / "broken.yaml").write_text("- name: x\n  openml_task_id: 3\n  metrc: auc\n")
    with pytest.raises(TaskError, match=r"broken.yaml: x.metrc: unknown task key"):
        TaskSpec.load("amlb/broken/x/0")
    (user_dir / "benchmarks" / "broken.yaml").write_text("- name: x\n  openml_task_id: 3\n  metric: wobble\n")
    with pytest.raises(TaskError, match=r"x.metric: unknown metric 'wobble'"):
        TaskSpec.load("amlb/broken/x/0")


@pytest.mark.slow
def test_automl_autogluon_path_says_what_is_missing(data_dir: Path, openml_cache: Path, user_dir: Path, tmp_path: Path) -> None:
    """sklearn and FLAML run in test_amlb_bench's grid; AutoGluon is optional: without it the script says so in one line."""
    pytest.importorskip("flaml")
    if __import__("importlib").util.find_spec("autogluon") is not None:
        pytest.skip("autogluon is installed here: its real run is covered by the grid when selected")
    log = tmp_path / "log-ag"
    out = subprocess.run([sys.executable, "-m", "mlgym.runs.runner", "--task", "amlb/test/kc2/1@ci", "--agent", "automl", "--framework", "autogluon",
                          "--log-dir", str(log), "--python", sys.executable, "-q"], capture_output=True, text=True, timeout=300)
    result = json.loads((log / "result.json").read_text())
    assert not result["valid_submission"] and "predictions.csv not found" in result["error"], out.stdout[-2000:]
    assert "autogluon is not installed in the task environment: AMLB tasks build it" in (log / "trace.jsonl").read_text()
    bad = subprocess.run([sys.executable, "-m", "mlgym.runs.runner", "--task", "amlb/test/kc2/1@ci", "--agent", "automl", "--framework", "h2o"],
                         capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and "invalid choice: 'h2o'" in bad.stderr
