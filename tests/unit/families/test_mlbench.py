"""ML-Bench family on two small real repositories (tests/helpers/mlbench_fixtures.py, git repos made here)
and a dataset file in ML-Bench's schema: listing, episodes, the oracle, wrong answers, pins."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "helpers"))
import mlbench_fixtures  # noqa: E402

from mlgym import cli  # noqa: E402

from mlgym.runs import runner
from mlgym.core.errors import MLGymError, TaskError  # noqa: E402
from mlgym.families.mlbench import family as mlbench  # noqa: E402
from mlgym.tasks.spec import TaskSpec  # noqa: E402


@pytest.fixture(scope="module")
def fixture_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mlbench")
    mlbench_fixtures.build(out)
    return out


@pytest.fixture
def rows(fixture_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MLGYM_MLBENCH", str(fixture_dir / "ml-bench.jsonl"))
    monkeypatch.setenv("MLGYM_MLBENCH_REPOS", str(fixture_dir / "repos"))
    monkeypatch.setenv("MLGYM_MLBENCH_TIMEOUT", "20")  # scikit-learn's import alone takes seconds on a busy CI machine
    return fixture_dir


def _run(tmp: Path, task: str, agent: str = "oracle", *extra: str) -> dict:
    log = tmp / f"run-{task}-{agent.replace(':', '_')}"
    assert runner.main(["--task", task, "--agent", agent, "--log-dir", str(log), "--work-dir", str(tmp / "ws"), "-q", *extra]) == 0
    return json.loads((log / "result.json").read_text())


def _head(repo: Path) -> tuple[str, str]:
    git = ["git", "-C", str(repo)]
    return (subprocess.run([*git, "rev-parse", "HEAD"], capture_output=True, text=True, check=True).stdout,
            subprocess.run([*git, "status", "--porcelain"], capture_output=True, text=True, check=True).stdout)


def test_tasks_lists_every_row_and_loads_them(rows, capsys):
    assert cli.main(["tasks", "--family", "mlbench"]) == 0
    out = capsys.readouterr().out
    for r in mlbench_fixtures.rows():
        assert f"mlbench-{r['id']}" in out
    spec = TaskSpec.load("mlbench-3")
    assert spec.kind == "mlbench" and spec.submission == ("tinyclf/examples/knn/run.sh",)
    from mlgym.core.metrics import METRICS

    assert METRICS[spec.metric].direction == spec.direction and METRICS[spec.metric].kind == "harness"
    assert TaskSpec.load("mlbench/3").name == "mlbench-3"
    assert mlbench.options(spec).row.arguments == (("k", "7"), ("weights", "distance"), ("data", "moons"))
    with pytest.raises(TaskError, match="no row with id '99'"):
        TaskSpec.load("mlbench-99")
    assert spec.environment.python is None  # the default task environment (numpy, scikit-learn: all the fixtures need)


def test_a_repository_names_its_interpreter(rows, tmp_path, monkeypatch):
    from mlgym.tasks import taskenv

    python = str(Path(sys.executable).absolute())  # e.g. the python of ML-Bench's conda env for the repository
    monkeypatch.setenv("MLGYM_MLBENCH_PYTHON_TINYREG", python)
    spec = TaskSpec.load("mlbench-1")
    assert spec.environment.python == python and TaskSpec.load("mlbench-3").environment.python is None
    plan = taskenv.plan(spec)  # agent code and the eval run with it, as the task's environment
    assert plan.existing and plan.python == Path(python)
    assert spec.limits.network is False
    monkeypatch.setenv("MLGYM_MLBENCH_NETWORK", "1")  # real rows download weights
    assert TaskSpec.load("mlbench-1").limits.network is True
    monkeypatch.setenv("MLGYM_MLBENCH_IMAGE_TINYREG", "mlgym-task:latest")  # a repository's own Docker image
    assert taskenv.sandbox_options(TaskSpec.load("mlbench-1"), "docker") == {"image": "mlgym-task:latest"}
    assert taskenv.sandbox_options(TaskSpec.load("mlbench-3"), "docker") == {}


@pytest.mark.slow
def test_oracle_passes_and_every_check_is_reported(rows, tmp_path, monkeypatch):
    for task in ("mlbench-1", "mlbench-3", "mlbench-4"):
        res = _run(tmp_path, task)
        assert res["score"] == 1.0 and res["success"] is True, res
        m = res["metrics"]
        assert m["exec_pass"] == m["args_pass"] == m["type_pass"] == m["all_pass"] == 1.0
        assert m["exit_code"] == 0.0 and m["timed_out"] == 0.0
    # a million epochs: still running when the 3 s timeout kills it, which ML-Bench counts as a pass
    monkeypatch.setenv("MLGYM_MLBENCH_TIMEOUT", "3")
    res = _run(tmp_path, "mlbench-2")
    assert res["score"] == 1.0 and res["metrics"]["timed_out"] == 1.0 and res["metrics"]["run_seconds"] >= 3


@pytest.mark.slow
def test_wrong_commands_fail_with_the_check_that_failed(rows, tmp_path):
    import gymnasium as gym

    import mlgym  # registers mlgym/mlbench-v0

    env = gym.make("mlgym/mlbench-v0", task="mlbench-1", log_dir=tmp_path / "log", work_dir=tmp_path / "ws")
    try:
        obs, info = env.reset(seed=0)
        assert "polynomial model of tinyreg" in obs and "tinyreg/run.sh" in obs
        ws = Path(info["workspace"])
        assert (ws / "tinyreg" / "train.py").is_file() and not (ws / "tinyreg" / ".git").exists()
        bad = "python train.py --model cubic --epochs 30 --lr 0.05\n"  # argparse rejects it; 'poly' is missing
        env.step({"name": "Write File", "arguments": {"file_name": "tinyreg/run.sh", "content": bad}})
        _obs, reward, terminated, _trunc, info = env.step({"name": "Final Answer", "arguments": {"final_answer": bad}})
    finally:
        env.close()
    res = info["result"]
    made = mlgym.make("mlbench-3", log_dir=tmp_path / "log3", work_dir=tmp_path / "ws")
    assert made.unwrapped.task.name == "mlbench-3" and made.spec is not None and made.spec.id == "mlgym/mlbench-v0"
    made.close()
    assert terminated and reward == 0.0 and res["score"] == 0.0 and res["success"] is False
    assert res["metrics"]["exec_pass"] == 0.0 and res["metrics"]["args_pass"] == 0.0 and res["metrics"]["type_pass"] == 1.0
    assert res["metrics"]["exit_code"] == 2.0
    assert "invalid choice: 'cubic'" in res["error"] and "model=poly" in res["error"]
    # no run.sh at all: not a valid submission
    res = _run(tmp_path, "mlbench-3", "mlgym.agents.baseline:BaselineAgent")
    assert res["valid_submission"] is False and "run.sh not found" in res["error"]


@pytest.mark.slow
def test_agent_edits_never_reach_the_mirror_and_eval_uses_a_fresh_checkout(rows, tmp_path, env_factory):
    repo = rows / "repos" / "tinyreg"
    before = _head(repo)
    env = env_factory("mlbench-1")
    env.reset(seed=0)
    # the agent breaks the training code and writes a run.sh that works only with its edit
    env.step({"name": "Write File", "arguments": {"file_name": "tinyreg/train.py", "content": "import sys; sys.exit(0)\n"}})
    env.step({"name": "Write File", "arguments": {"file_name": "tinyreg/run.sh", "content": "python train.py --model poly --epochs 30 --lr 0.05 --fast\n"}})
    env.step({"name": "Execute Script", "arguments": {"script_name": "tinyreg/run.sh"}})
    _o, _r, _t, _tr, info = env.step({"name": "Final Answer", "arguments": {"final_answer": "done"}})
    res = info["result"]
    # the fresh checkout has the real train.py, which rejects --fast
    assert res["score"] == 0.0 and "unrecognized arguments: --fast" in res["error"]
    assert _head(repo) == before


def test_the_pinned_commit_is_checked_out(rows, tmp_path, monkeypatch):
    first = subprocess.run(["git", "-C", str(rows / "repos" / "tinyreg"), "rev-list", "--max-parents=0", "HEAD"],
                           capture_output=True, text=True, check=True).stdout.strip()
    monkeypatch.setitem(mlbench.PINS, 101, ("tinyreg", first))  # the first commit has no --model
    res = _run(tmp_path, "mlbench-1")
    assert res["score"] == 0.0 and "unrecognized arguments: --model poly" in res["error"]
    monkeypatch.setitem(mlbench.PINS, 101, ("tinyreg", "0" * 40))
    with pytest.raises(MLGymError, match="does not hold commit 0000000000000000000000000000000000000000"):
        mlbench.pristine(mlbench.options(TaskSpec.load("mlbench-1")).row)


def test_rows_from_parquet_and_bad_rows(rows, tmp_path, monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(mlbench_fixtures.rows()), tmp_path / "rows.parquet")
    monkeypatch.setenv("MLGYM_MLBENCH", str(tmp_path / "rows.parquet"))
    assert mlbench.task_names() == ["mlbench-1", "mlbench-2", "mlbench-3", "mlbench-4"]
    bad = mlbench_fixtures.rows()[:1]
    del bad[0]["output"]
    (tmp_path / "bad.jsonl").write_text(json.dumps(bad[0]) + "\n")
    monkeypatch.setenv("MLGYM_MLBENCH", str(tmp_path / "bad.jsonl"))
    with pytest.raises(TaskError, match=r"row 0: missing column\(s\) output"):
        mlbench.load_rows()
    monkeypatch.setenv("MLGYM_MLBENCH", str(tmp_path / "nope.jsonl"))
    assert cli.main(["tasks", "--family", "mlbench"]) == 2
    monkeypatch.setenv("MLGYM_MLBENCH", str(rows / "ml-bench.jsonl"))
    monkeypatch.setenv("MLGYM_MLBENCH_REPOS", str(tmp_path))
    with pytest.raises(MLGymError, match="has no git repository tinyreg"):
        mlbench.pristine(mlbench.options(TaskSpec.load("mlbench-1")).row)


def test_checks_follow_ml_bench():
    assert mlbench.check_arguments("python train.py --Model POLY --epochs 30", [("model", "poly"), ("lr", "0.05")]) == ["lr=0.05"]
    assert mlbench.check_type("python main.py --x 1", "Bash Script") and not mlbench.check_type("import x", "Bash Script")
    assert mlbench.check_type("import x\nx.run()", "Python Code") and not mlbench.check_type("bash run.sh --x", "Python Code")
    assert mlbench.executed_ok(124, True, "") and mlbench.executed_ok(1, False, "Traceback...\nKeyboardInterrupt")
    assert not mlbench.executed_ok(1, False, "error")


# ------------------------------------------------------------------ Pass@k
class SeedAgent:
    """The reference answer on odd seeds, a wrong command on even ones (for Pass@k over seeds)."""

    def __init__(self, args=None) -> None:
        self.args = args

    def run(self, env, obs, info):
        spec = TaskSpec.load(info["task"])
        files, final = spec.family.oracle(spec)
        if self.args.seed % 2 == 0:
            files = {p: "python nothing_here.py --seed 0\n" for p in files}
        for p, text in files.items():
            env.step({"name": "Write File", "arguments": {"file_name": p, "content": text}})
        return env.step({"name": "Final Answer", "arguments": {"final_answer": final}})[4].get("result")


def test_estimators_against_their_definitions():
    from math import comb

    from mlgym.grading import passk

    for n in range(1, 9):
        for c in range(n + 1):
            for k in range(1, n + 1):
                want = 1.0 - (comb(n - c, k) / comb(n, k) if n - c >= k else 0.0)
                assert passk.unbiased(n, c, k) == pytest.approx(want, abs=1e-12)
    assert passk.first_k([False, True, False], 1) == 0.0 and passk.first_k([False, True, False], 2) == 1.0
    assert passk.pass_at_k([False, True], ks=(1, 2, 5)) == {
        "pass@1": 0.0, "pass@1_unbiased": 0.5, "pass@2": 1.0, "pass@2_unbiased": 1.0, "pass@5": None, "pass@5_unbiased": None}
    with pytest.raises(ValueError):
        passk.unbiased(2, 1, 3)


@pytest.mark.slow
def test_pass_at_k_tables_and_plot_from_mlgym_eval(rows, tmp_path, capsys):
    from mlgym.analysis import eval as mlgym_eval, plot

    runs = tmp_path / "runs"
    for seed in (0, 1, 2):  # fail, pass, fail
        assert runner.main(["--task", "mlbench-1", "--agent", "test_mlbench:SeedAgent", "--seed", str(seed), "--log-dir",
                            str(runs / f"a{seed}"), "--work-dir", str(tmp_path / "ws"), "-q"]) == 0
    for seed in (0, 1):
        assert runner.main(["--task", "mlbench-3", "--agent", "oracle", "--seed", str(seed), "--log-dir", str(runs / f"o{seed}"),
                            "--work-dir", str(tmp_path / "ws"), "-q"]) == 0
    capsys.readouterr()
    assert mlgym_eval.main([str(runs), "--out", str(tmp_path / "eval"), "--max-rescore", "0"]) == 0
    printed = capsys.readouterr().out
    assert "Pass@k over 2 task(s)" in printed and "0% | 33% (1)" in printed
    table = json.loads((tmp_path / "eval" / "table.json").read_text())
    by_task = {(t["task"], t["agent"]): t for t in table["pass_at_k"]["tasks"]}
    a = by_task[("mlbench-1", "test_mlbench:SeedAgent")]
    assert (a["n"], a["passes"], a["pass@1"], a["pass@2"], a["pass@5"]) == (3, 1, 0.0, 1.0, None)
    assert a["pass@1_unbiased"] == pytest.approx(1 / 3) and a["pass@2_unbiased"] == pytest.approx(2 / 3)
    o = by_task[("mlbench-3", "oracle")]
    assert o["pass@1"] == o["pass@2"] == o["pass@1_unbiased"] == 1.0
    checks = {r["run_id"]: r["metrics"] for r in table["runs"]}
    assert sorted(m["exec_pass"] for m in checks.values()) == [0.0, 0.0, 1.0, 1.0, 1.0]
    assert "pass@2_unbiased" in (tmp_path / "eval" / "passk.csv").read_text().splitlines()[0]
    written = plot.save_all(table, tmp_path / "figs", formats=("png",))
    assert tmp_path / "figs" / "pass_at_k.png" in written


# ------------------------------------------------------------------ an LLM agent, through the scripted server
@pytest.mark.slow
def test_tool_calling_agent_episode_with_the_scripted_llm(rows, tmp_path, monkeypatch):
    from llm_server import ScriptedLLM

    def call(name: str, args: dict) -> dict:
        return {"tool_calls": [{"name": name, "arguments": args}]}

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    command = "python classify.py --k 7 --weights distance --data moons"
    with ScriptedLLM() as llm:
        llm.script("openai/test-model",
                   call("list_files", {"dir_path": "tinyclf/examples/knn"}),
                   call("read_file", {"file_name": "tinyclf/examples/knn/README.md"}),
                   call("write_file", {"file_name": "tinyclf/examples/knn/run.sh", "content": 'cd "$(dirname "$0")"\n' + command + "\n"}),
                   call("execute_script", {"script_name": "tinyclf/examples/knn/run.sh"}),
                   call("final_answer", {"final_answer": command}))
        log = tmp_path / "llm-run"
        assert runner.main(["--task", "mlbench-3", "--agent", "tools", "--llm-name", "openai/test-model", "--llm-base-url", llm.url,
                            "--log-dir", str(log), "--work-dir", str(tmp_path / "ws"), "-q", "--profile", "mlgym"]) == 0
        first_prompt = json.dumps(llm.calls("openai/test-model")[0]["messages"])
    res = json.loads((log / "result.json").read_text())
    assert res["score"] == 1.0 and res["metrics"]["all_pass"] == 1.0 and res["steps"] == 5
    assert "Classify the moons data set" in first_prompt and "tinyclf/examples/knn/run.sh" in first_prompt
    steps = [json.loads(line) for line in (log / "trace.jsonl").read_text().splitlines() if '"type": "step"' in line]
    assert "classify.py" in steps[0]["observation"] and "accuracy" in steps[3]["observation"]


# ------------------------------------------------------------------ one-shot mode (ML-LLM-Bench)
@pytest.mark.slow
def test_one_shot_mode_scores_answers_as_ml_bench(rows, tmp_path, monkeypatch, capsys):
    from llm_server import ScriptedLLM

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    reg = ["I would run python train.py --model linear --epochs 30 --lr 0.05",  # argument poly missing: not run
           "Here:\n```bash\npython train.py --model poly --epochs 30 --lr 0.05\n```",  # passes
           "```bash\npython train.py --model poly --epochs 30 --lr 0.05 --bogus\n```"]  # runs, argparse exits 2
    lib = ["```python\nfrom tinyclf.knn import fit_score\nprint(fit_score(k=3, data='blobs'))\n```",
           "python score.py --k 3 --data blobs",  # Python code was asked for: wrong type
           "```python\nfrom tinyclf.knn import fit_score\nprint(fit_score(k=3, data='blobs'))\n```"]
    argv = ["--llm-name", "openai/test-model", "--task", "mlbench-1", "mlbench-4", "--samples", "3", "--setting", "retrieval",
            "--llm-cache", str(tmp_path / "cache"), "--timeout", "20"]
    with ScriptedLLM() as llm:
        llm.script("openai/test-model", *reg, *lib)
        assert cli.main(["mlbench-llm", *argv, "--llm-base-url", llm.url, "--out", str(tmp_path / "out")]) == 0
        first = llm.calls("openai/test-model")[0]["messages"][1]["content"]
        assert len(llm.calls("openai/test-model")) == 6
    assert "`--model` is `linear` or `poly`" in first and "Task: I want to train the polynomial model" in first
    results = [json.loads(x) for x in (tmp_path / "out" / "results.jsonl").read_text().splitlines()]
    one, four = results
    assert [s["passed"] for s in one["samples"]] == [False, True, False]
    assert one["samples"][0]["exec"] is None and one["samples"][0]["args_missing"] == ["model=poly"]
    assert one["samples"][2]["exec"]["returncode"] == 2 and one["samples"][2]["args_pass"] is True
    assert (one["pass@1"], one["pass@2"], one["pass@5"]) == (0.0, 1.0, None) and one["pass@1_unbiased"] == pytest.approx(1 / 3)
    assert [s["passed"] for s in four["samples"]] == [True, False, True] and four["samples"][1]["type_pass"] is False
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    assert summary["overall"]["pass@1"] == 0.5 and summary["overall"]["pass@2"] == 1.0
    assert summary["per_repo"]["tinyreg"]["pass@1"] == 0.0 and summary["llm_calls"] == 6
    assert summary["checks"] == {"answers": 6, "args_pass": 5, "type_pass": 5, "exec_pass": 3, "passed": 3}
    assert "Pass@2" in capsys.readouterr().out
    # a replay from the cache: no server at all, the same answers and scores
    argv[argv.index("mlbench-4")] = "mlbench-1"
    assert cli.main(["mlbench-llm", *argv, "--llm-base-url", "http://127.0.0.1:9/v1", "--out", str(tmp_path / "replay"), "-q"]) == 0
    again = [json.loads(x) for x in (tmp_path / "replay" / "results.jsonl").read_text().splitlines()]
    assert again[0]["samples"][1]["cached"] and [s["passed"] for s in again[0]["samples"]] == [False, True, False]


def test_bm25_picks_the_matching_window(rows):
    from mlgym.families.mlbench import oneshot as mlbench_llm

    row = mlbench.options(TaskSpec.load("mlbench-3")).row
    code = mlbench_llm.prompt(row, "code")[1]["content"]
    assert code.index("### examples/knn/classify.py") < code.index("### tinyclf/knn.py") and "def fit_score" in code
    assert "Run the classifier from this folder" in mlbench_llm.prompt(row, "readme")[1]["content"]
    assert "Run the classifier" not in mlbench_llm.prompt(row, "instruction")[1]["content"]

    doc = "Install it with pip. It needs numpy.\n\nTrain with train.py and the poly model. Set the learning rate with lr.\n\nThe end."
    assert "poly model" in mlbench_llm.bm25_window("train the poly model", doc, n_sentence=1)
    assert mlbench_llm.extract_answer("x\n```bash\nls -l\n```\ny") == "ls -l" and mlbench_llm.extract_answer(" ls ") == "ls"


def test_agent_code_sees_neither_the_answers_nor_the_mirror(rows, tmp_path, env_factory):
    from mlgym.tasks.data import TaskData
    from mlgym.sandbox.local import bwrap_available

    if bwrap_available():
        pytest.fail(f"local-bwrap unusable: {bwrap_available()}", pytrace=False)
    env = env_factory("mlbench-1", sandbox="local-bwrap")
    env.reset(seed=0)
    answers = TaskData(env.task).private / "row.json"
    tree, _sha = mlbench.pristine(mlbench.options(env.task).row)
    mirror = rows / "repos" / "tinyreg"
    assert "python train.py --model poly" in answers.read_text()  # the hidden answer is there, on the host
    probe = (f"cat {answers}; ls {tree}; touch {mirror}/HACKED {tree}/HACKED; git -C {mirror} log --oneline | head -1; "
             f"echo probe-done\n")
    env.step({"name": "Write File", "arguments": {"file_name": "probe.sh", "content": probe}})
    obs = env.step({"name": "Execute Script", "arguments": {"script_name": "probe.sh"}})[0]
    assert "probe-done" in obs and "--model poly" not in obs and "tinyreg: --model poly" not in obs
    assert not (mirror / "HACKED").exists() and not (tree / "HACKED").exists()


def test_without_a_file_the_rows_come_from_the_hub(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("MLGYM_MLBENCH", raising=False)
    import datasets
    import huggingface_hub.constants

    # the hub path runs; offline (also where CI could reach the hub) it must stop with one line
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(datasets.config, "HF_DATASETS_CACHE", tmp_path / "hf")
    monkeypatch.setenv("MLGYM_MLBENCH_SPLIT", "quarter")
    assert mlbench.source() == "super-dainiu/ml-bench:quarter"
    assert cli.main(["tasks", "--family", "mlbench"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: cannot load super-dainiu/ml-bench split 'quarter'") and "MLGYM_MLBENCH" in err[-1]
    assert "Offline" in err[-1]


@pytest.mark.slow
def test_without_mirrors_the_repository_is_cloned_once(rows, tmp_path, monkeypatch):
    rec = dict(mlbench_fixtures.rows()[0], github=(rows / "repos" / "tinyreg").as_uri())  # git clone's real path, from a file:// URL
    (tmp_path / "rows.jsonl").write_text(json.dumps(rec) + "\n")
    monkeypatch.setenv("MLGYM_MLBENCH", str(tmp_path / "rows.jsonl"))
    monkeypatch.delenv("MLGYM_MLBENCH_REPOS")
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path / "data"))
    assert _run(tmp_path, "mlbench-1")["score"] == 1.0
    bare = tmp_path / "data" / "mlbench-repos" / "tinyreg.git"
    assert (bare / "HEAD").is_file() and not (bare / "train.py").exists()
    stamp = (bare / "HEAD").stat().st_mtime_ns
    assert _run(tmp_path / "again", "mlbench-1")["score"] == 1.0 and (bare / "HEAD").stat().st_mtime_ns == stamp  # not cloned again


@pytest.mark.slow
def test_final_answer_code_block_is_the_submission_without_run_sh(rows, tmp_path):
    """ML-Bench: 'Final Answer or run.sh is the submission'. No run.sh: the Final Answer's
    first fenced block is run as run.sh; prose alone is no submission."""
    import mlgym  # noqa: F401  (registers the envs)
    from mlgym.env.core import MLGymEnv

    oracle = next(r for r in mlbench_fixtures.rows() if str(r["id"]) == "1")["output"]
    for answer, passes in ((f"I trained it with\n```bash\n{oracle}\n```\ndone", True), ("I ran train.py for you.", None)):
        env = MLGymEnv("mlbench-1", log_dir=tmp_path / f"log{passes}", work_dir=tmp_path / "ws")
        try:
            env.reset(seed=0)
            *_, info = env.step({"name": "Final Answer", "arguments": {"final_answer": answer}})
        finally:
            env.close()
        res = info["result"]
        if passes:
            assert res["score"] == 1.0 and res["metrics"]["all_pass"] == 1.0, res
            from mlgym.analysis.eval import score_log_dir

            assert score_log_dir(res["log_dir"])["score"] == 1.0  # rescoring from the trace agrees
        else:
            assert res["valid_submission"] is False and "no command in the final answer" in res["error"], res


def test_extract_script_is_linear_and_matches_the_fenced_block():
    import re
    import time

    from mlgym.families.mlbench.family import extract_script

    pat = re.compile(r"```[^\n`]*\n(.*?)```", re.S)  # the plain definition, for small inputs
    for text in ("a\n```bash\nls -l\n```\nb", "```\nx```", "``` a`b\nno\n```py\nyes\n```", "```x\nopen", "plain", "```py no newline"):
        m = pat.search(text)
        assert extract_script(text) == (m.group(1) if m else text).strip(), text
    hostile = "```x" + "```" * 60_000 + "\n" + "```\n" * 5 + "a" * 10_000  # every opening looks possible
    t0 = time.perf_counter()
    extract_script(hostile)
    extract_script("```a\n" + "b" * 190_000)
    assert time.perf_counter() - t0 < 1.0
