"""The MLAgentBench family: 13 tasks, each prepared from its offline fixture (tiny data in the
real on-disk format) and run by the baseline agent; evals refuse bad submissions."""

from __future__ import annotations

import json
import shutil
import sys
import time
from pathlib import Path

import pytest

from mlgym.runs import runner
from mlgym.tasks.data import TaskData, prepare
from mlgym.core.errors import TaskError
from mlgym.grading.scoring import evaluate
from mlgym.tasks.spec import TaskSpec, list_tasks

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO / "benchmarks" / "mlagentbench"))
import fixtures  # noqa: E402

TASKS = sorted(fixtures.MAKERS)
DIRECTION = {"house-price": "lower", "vectorization": "lower", "feedback": "lower", "parkinsons-disease": "lower",
             "babylm": "lower"}
NEEDS_TORCH = {"cifar10", "ogbn-arxiv", "babylm", "llama-inference"}


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "data"
    monkeypatch.setenv("MLGYM_DATA_DIR", str(d))
    monkeypatch.setenv("MLGYM_KAGGLE_DIR", str(tmp_path / "no-kaggle"))  # never the real CSVs nor Kaggle
    monkeypatch.setenv("MLGYM_ALLOW_UNOFFICIAL_DATA", "1")  # the tiny CIFAR tarball
    monkeypatch.setenv("MLGYM_CIFAR10_URL", "http://127.0.0.1:9/cifar-10-python.tar.gz")
    # one math thread per process (the sandboxes pass these through): on a busy 2-core CI machine
    # torch's spinning OpenMP workers made babylm's 14 GRU steps take 29 s instead of 5 s
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MKL_NUM_THREADS", "1")
    return d


def test_thirteen_tasks_listed() -> None:
    names = [n for n in list_tasks() if n.startswith("mlagentbench-")]
    assert sorted(n.removeprefix("mlagentbench-") for n in names) == TASKS and len(names) == 13
    for n in names:
        spec = TaskSpec.load(n)
        assert spec.kind == "mlagentbench" and spec.options.differs, n
        assert spec.direction == DIRECTION.get(n.removeprefix("mlagentbench-"), "higher"), n
        assert spec.baseline.measured and "placeholder" not in spec.baseline.measured


@pytest.mark.slow
@pytest.mark.parametrize("task", TASKS)
def test_baseline_episode_on_fixture(task: str, tmp_path: Path, data_dir: Path) -> None:
    if task in NEEDS_TORCH:
        pytest.importorskip("torch")
    name = f"mlagentbench-{task}"
    fixtures.make(task, data_dir / name / "raw")
    t0 = time.monotonic()
    rc = runner.main(["--task", name, "--agent", "baseline", "--log-dir", str(tmp_path / "log"), "--work-dir", str(tmp_path / "ws"), "-q"])
    assert rc == 0
    result = json.loads((tmp_path / "log" / "result.json").read_text())
    assert result["valid_submission"], result["error"]
    assert result["score"] is not None
    print(f"{name}: score {result['score']:.4g} in {time.monotonic() - t0:.1f}s")
    # the answers never reach the agent's data folder
    public = {p.name for p in (data_dir / name / "public").rglob("*")}
    assert not {"answer.csv", "test_answer", "test_pi.npy", "babylm_test", "test_labels.csv"} & public


def _prepared(task: str, data_dir: Path) -> tuple[TaskSpec, TaskData]:
    spec = TaskSpec.load(f"mlagentbench-{task}")
    fixtures.make(task, data_dir / spec.name / "raw")
    return spec, prepare(spec)


def _score(spec: TaskSpec, data: TaskData, sub: Path) -> dict:
    return evaluate(spec, data, sub)


@pytest.mark.slow
def test_house_price_split_and_mae(tmp_path: Path, data_dir: Path) -> None:
    import pandas as pd

    spec, data = _prepared("house-price", data_dir)
    raw = pd.read_csv(data.raw / "train.csv")
    test = pd.read_csv(data.public / "test.csv")
    assert list(test.Id) == list(raw.Id[int(len(raw) * 0.8):])  # positional 80/20, no shuffle
    truth = pd.read_csv(data.private / "answer.csv")
    sub = tmp_path / "sub"
    sub.mkdir()
    # shuffled rows, every prediction 1000 off: MAE 1000 exactly
    truth.assign(SalePrice=truth.SalePrice + 1000).sample(frac=1, random_state=0).to_csv(sub / "submission.csv", index=False)
    assert _score(spec, data, sub)["score"] == pytest.approx(1000)
    truth.iloc[1:].to_csv(sub / "submission.csv", index=False)
    res = _score(spec, data, sub)
    assert not res["valid_submission"] and "lacks 1" in res["error"]


@pytest.mark.slow
def test_parkinsons_split_follows_python_random(data_dir: Path) -> None:
    import random

    import pandas as pd

    spec, data = _prepared("parkinsons-disease", data_dir)
    clinical = pd.read_csv(data.raw / "train_clinical_data.csv")
    random.seed(42)
    held = set(random.sample(clinical.patient_id.unique().tolist(), 2))
    assert set(pd.read_csv(data.public / "example_test_files" / "test.csv").patient_id) == held
    assert not held & set(pd.read_csv(data.public / "train_clinical_data.csv").patient_id)
    assert len(pd.read_csv(data.private / "answer.csv")) > 0


@pytest.mark.slow
def test_vectorization_checks_output_and_times_it(tmp_path: Path, data_dir: Path) -> None:
    spec, data = _prepared("vectorization", data_dir)
    starter = (spec.env_dir / "train.py").read_text()
    fast = starter.replace("    def forward(self, features_batch: np.ndarray) -> np.ndarray:",
                           '''    def forward(self, features_batch: np.ndarray) -> np.ndarray:
        return self.fast(features_batch)

    def fast(self, x):
        k = self.kernel_matrices.shape[0]
        xp = add_padding(x, self.padding)
        win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(1, 2))[:, ::self.stride, ::self.stride]
        return relu(np.einsum("bhwcij,ijcf->bhwf", win, self.kernel_matrices) + self.biases)

    def slow(self, features_batch: np.ndarray) -> np.ndarray:''')
    wrong = fast.replace("+ self.biases)", "+ 2 * self.biases)")
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "train.py").write_text(fast)
    good = _score(spec, data, sub)
    assert good["valid_submission"], good["error"]
    (sub / "train.py").write_text(wrong)
    bad = _score(spec, data, sub)
    assert not bad["valid_submission"] and "differs" in bad["error"]
    (sub / "train.py").write_text(starter)
    slow = _score(spec, data, sub)
    assert slow["valid_submission"] and slow["score"] > good["score"]  # same machine, same run: a ratio, not a time


@pytest.mark.slow
def test_llama_inference_rejects_wrong_generations(tmp_path: Path, data_dir: Path) -> None:
    pytest.importorskip("torch")
    spec, data = _prepared("llama-inference", data_dir)
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "inference.py").write_text("import json\njson.dump([[0] * 32] * 4, open('generations.json', 'w'))\n")
    res = _score(spec, data, sub)
    assert not res["valid_submission"] and "differs from greedy" in res["error"]


@pytest.mark.slow
def test_real_kaggle_csvs_when_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """house-price / spaceship-titanic prepare from ../shared/data/kaggle (the real files) when the checkout has them."""
    shared = REPO.parent / "shared" / "data" / "kaggle"
    if not (shared / "spaceship-titanic" / "train.csv").is_file():
        pytest.skip("no ../shared/data/kaggle here")
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.delenv("MLGYM_KAGGLE_DIR", raising=False)
    import pandas as pd

    data = prepare(TaskSpec.load("mlagentbench-house-price"))
    test = pd.read_csv(data.public / "test.csv")
    assert (test.Id.min(), test.Id.max(), len(test)) == (1169, 1460, 292)
    data = prepare(TaskSpec.load("mlagentbench-spaceship-titanic"))
    assert len(pd.read_csv(data.private / "answer.csv")) == 8693 - int(8693 * 0.8)
    shutil.rmtree(tmp_path / "d")


@pytest.mark.slow
def test_suite_slash_name_alias(tmp_path: Path, data_dir: Path) -> None:
    """``mlagentbench/<name>`` (the form MLAgentBench users write) names ``mlagentbench-<name>`` wherever a task is taken."""
    assert TaskSpec.load("mlagentbench/cifar10").name == "mlagentbench-cifar10"
    with pytest.raises(TaskError, match="unknown task 'mlagentbench/nope'"):
        TaskSpec.load("mlagentbench/nope")
    fixtures.make("house-price", data_dir / "mlagentbench-house-price" / "raw")
    assert runner.main(["--task", "mlagentbench/house-price", "--agent", "baseline", "--log-dir", str(tmp_path / "log"),
                        "--work-dir", str(tmp_path / "ws"), "-q"]) == 0
    result = json.loads((tmp_path / "log" / "result.json").read_text())
    assert result["task"] == "mlagentbench-house-price" and result["valid_submission"], result["error"]


@pytest.mark.slow
def test_baseline_command_takes_python(tmp_path: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """``mlgym baseline --python PY`` runs the starter with PY, as the runner's ``--python`` does."""
    from mlgym import cli

    fixtures.make("house-price", data_dir / "mlagentbench-house-price" / "raw")
    broken = tmp_path / "broken-python"
    broken.write_text("#!/bin/sh\necho 'not a python' >&2\nexit 7\n")
    broken.chmod(0o755)
    assert cli.main(["baseline", "mlagentbench-house-price", "--python", str(broken)]) != 0
    assert "no valid submission" in capsys.readouterr().err
    assert cli.main(["baseline", "mlagentbench-house-price", "--python", sys.executable]) == 0
    assert "baseline mae" in capsys.readouterr().out.lower()


def _mab_folder(root: Path, name: str) -> Path:
    """A task folder in MLAgentBench's own layout: prepare.py and eval.py use paths relative to scripts/."""
    t = root / name
    (t / "env").mkdir(parents=True)
    (t / "scripts").mkdir()
    (t / "env" / "train.py").write_text(
        "import pandas as pd\n"
        "d = pd.read_csv('train.csv')\n"
        "test = pd.read_csv('test.csv')\n"
        "test['y'] = int(d.y.mean() > 0.5)\n"
        "test[['id', 'y']].to_csv('submission.csv', index=False)\n")
    (t / "scripts" / "prepare.py").write_text(
        "import pandas as pd\n"
        "ys = [1, 1, 1, 0, 1, 1, 0, 1, 1, 1]\n"
        "pd.DataFrame({'id': range(6), 'y': ys[:6]}).to_csv('../env/train.csv', index=False)\n"
        "pd.DataFrame({'id': range(6, 10)}).to_csv('../env/test.csv', index=False)\n"
        "pd.DataFrame({'id': range(6, 10), 'y': ys[6:]}).to_csv('answer.csv', index=False)\n")
    (t / "scripts" / "eval.py").write_text(
        "import os\nimport pandas as pd\n\n"
        "def get_score(submission_folder='../env'):\n"
        "    sub = pd.read_csv(os.path.join(submission_folder, 'submission.csv'))\n"
        "    answer = pd.read_csv('answer.csv')\n"
        "    assert len(pd.read_csv('../env/test.csv')) == len(answer)\n"
        "    return float((sub.y.values == answer.y.values).mean())\n")
    (t / "scripts" / "research_problem.txt").write_text("Predict y for the rows of test.csv; write submission.csv.\n")
    (t / "scripts" / "read_only_files.txt").write_text("train.csv\ntest.csv\n")
    return t


@pytest.mark.slow
def test_mlagentbench_own_task_folders(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """MLGYM_BENCHMARKS=<MLAgentBench's benchmarks dir>: its tasks are listed and run as they are
    (research_problem.txt, read_only_files.txt, prepare.py and get_score from scripts/), nothing in
    them is changed, and a folder named like a built-in task wins over it (issue 22); the built-in
    stays reachable by its family-qualified name."""
    from mlgym.tasks.spec import task_paths

    mab = tmp_path / "MLAgentBench" / "benchmarks"
    tiny = _mab_folder(mab, "tiny-mab")
    clash = _mab_folder(mab, "spaceship-titanic")
    before = {p: p.read_bytes() for p in tiny.rglob("*") if p.is_file()}
    monkeypatch.setenv("MLGYM_BENCHMARKS", str(mab))
    assert {"tiny-mab", "spaceship-titanic", "mlagentbench-cifar10"} <= set(list_tasks())
    spec = TaskSpec.load("tiny-mab")
    assert spec.description.startswith("Predict y") and spec.options.read_only == ("train.csv", "test.csv")
    assert "Do not change these files: train.csv, test.csv" in spec.family.describe(spec)
    assert TaskSpec.load("spaceship-titanic").root == clash.resolve()
    ours = [p for p in task_paths()["spaceship-titanic"] if p.parent != clash / "scripts"]
    assert len(ours) == 1 and TaskSpec.load("kaggle/spaceship-titanic").source == ours[0]
    assert runner.main(["--task", "tiny-mab", "--agent", "baseline", "--log-dir", str(tmp_path / "log"), "--work-dir", str(tmp_path / "ws"), "-q"]) == 0
    result = json.loads((tmp_path / "log" / "result.json").read_text())
    assert result["valid_submission"], result["error"]
    assert result["score"] == pytest.approx(0.75)  # predicts 1 everywhere; the answers are 0, 1, 1, 1
    assert not list((tmp_path / "ws").rglob("answer.csv"))  # the answers stay out of the workspace
    assert {p: p.read_bytes() for p in tiny.rglob("*") if p.is_file()} == before  # its folder is untouched


@pytest.mark.slow
def test_mlagentbench_folder_read_only_files(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch, env_factory) -> None:
    """read_only_files.txt (globs, folders) is enforced: the file tools refuse the listed files and
    agent code cannot write them (a read-only bind over the workspace copy); the rest stays writable."""
    mab = tmp_path / "benchmarks"
    t = _mab_folder(mab, "ro-mab")
    (t / "scripts" / "read_only_files.txt").write_text("./train.csv\nt*t.csv\nlocked/\n../outside\n")
    (t / "env" / "locked").mkdir()
    (t / "env" / "locked" / "a.txt").write_text("a\n")
    monkeypatch.setenv("MLGYM_BENCHMARKS", str(mab))
    env = env_factory("ro-mab")
    env.reset(seed=0)
    assert [m.target for m in env.task.family.mounts(env.task, env.data)] == ["locked", "test.csv", "train.csv"]
    for name in ("train.csv", "test.csv", "locked/a.txt", "./locked/new.txt"):
        obs, *_ = env.step({"name": "Write File", "arguments": {"file_name": name, "content": "x"}})
        assert obs.startswith("ActionError"), (name, obs)
    probe = ("for name in ['train.csv', 'test.csv', 'locked/a.txt', 'locked/b.txt', 'train.py']:\n"
             "    try:\n        open(name, 'w').write('x')\n        print('WROTE', name)\n"
             "    except OSError as e:\n        print('REFUSED', name, type(e).__name__)\n")
    obs, *_ = env.step({"name": "Write File", "arguments": {"file_name": "probe.py", "content": probe}})
    assert not obs.startswith("ActionError"), obs
    obs, *_ = env.step({"name": "Execute Script", "arguments": {"script_name": "probe.py"}})
    assert all(f"REFUSED {n}" in obs for n in ("train.csv", "test.csv", "locked/a.txt", "locked/b.txt")), obs
    assert "WROTE train.py" in obs, obs
    res = env.sandbox.exec([env.python, "-c", "open('train.csv','w')"])
    assert not res.ok and ("Read-only" in res.stderr or "Permission" in res.stderr), res.stderr
    assert (env.workspace / "train.csv").read_text().startswith("id,y")


@pytest.mark.slow
def test_mlagentbench_folder_whole_submission_folder(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """get_score gets every file the agent wrote (a checkpoint in a subfolder, as babylm's output/),
    not only submission.csv; links and files still as prepared are not copied."""
    mab = tmp_path / "benchmarks"
    t = _mab_folder(mab, "sub-mab")
    (t / "scripts" / "eval.py").write_text(
        "import os\n\n"
        "def get_score(submission_folder='../env'):\n"
        "    assert not os.path.exists(os.path.join(submission_folder, 'link.txt'))\n"
        "    assert not os.path.exists(os.path.join(submission_folder, 'train.csv'))  # as prepared: in ../env\n"
        "    with open(os.path.join(submission_folder, 'output', 'ckpt', 'score.txt')) as f:\n"
        "        return float(f.read())\n")
    monkeypatch.setenv("MLGYM_BENCHMARKS", str(mab))
    spec = TaskSpec.load("sub-mab")
    data = prepare(spec)
    ws = tmp_path / "ws"
    spec.family.build_workspace(spec, ws)
    (ws / "submission.csv").write_text("id,y\n")
    (ws / "output" / "ckpt").mkdir(parents=True)
    (ws / "output" / "ckpt" / "score.txt").write_text("0.625")
    secret = tmp_path / "secret.txt"
    secret.write_text("1.0")
    (ws / "link.txt").symlink_to(secret)
    result = evaluate(spec, data, ws)
    assert result["valid_submission"], result["error"]
    assert result["score"] == pytest.approx(0.625)
    (ws / "output" / "ckpt" / "score.txt").unlink()
    assert not evaluate(spec, data, ws)["valid_submission"]


def test_mlagentbench_folder_direction_choice(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A folder outside MLAgentBench's 13 is 'higher' unless <name>.mlgym.yaml (direction, metric
    only) or MLGYM_DIRECTION_<NAME> says otherwise; the sidecar is not a task of its own."""
    from mlgym.families.mlagentbench.folder_family import direction_variable

    mab = tmp_path / "benchmarks"
    _mab_folder(mab, "my-task")
    monkeypatch.setenv("MLGYM_BENCHMARKS", str(mab))
    spec = TaskSpec.load("my-task")
    assert (spec.direction, spec.metric) == ("higher", "accuracy")
    sidecar = mab / "my-task.mlgym.yaml"
    sidecar.write_text("direction: lower\nmetric: mae\n")
    assert "my-task.mlgym" not in list_tasks()
    spec = TaskSpec.load("my-task")
    assert (spec.direction, spec.metric) == ("lower", "mae") and str(sidecar) in spec.options.differs
    assert direction_variable("my-task") == "MLGYM_DIRECTION_MY_TASK"
    monkeypatch.setenv("MLGYM_DIRECTION_MY_TASK", "higher")
    assert (TaskSpec.load("my-task").direction, TaskSpec.load("my-task").metric) == ("higher", "mae")
    monkeypatch.setenv("MLGYM_DIRECTION_MY_TASK", "up")
    with pytest.raises(TaskError, match="higher or lower"):
        TaskSpec.load("my-task")
    monkeypatch.delenv("MLGYM_DIRECTION_MY_TASK")
    for bad, why in (("direction: lower\nbaseline: 3\n", "not baseline"), ("direction: sideways\n", "higher or lower"),
                     ("metric: [a]\n", "must be a word"), ("- lower\n", "give only")):
        sidecar.write_text(bad)
        with pytest.raises(TaskError, match=why):
            TaskSpec.load("my-task")
