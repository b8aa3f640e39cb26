"""Importing MLAgentBench log folders (``env_log/trace.json`` + ``traces/step_*_files``)."""

from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from evalruns import make_runs

from mlgym.analysis import eval as ev
from mlgym.analysis import report
from mlgym.core.errors import MLGymError
from mlgym.families.mlagentbench.importers import find_mlagentbench_runs, import_mlagentbench, import_mlagentbench_tree
from mlgym.runlog.trace import load

pytestmark = pytest.mark.slow  # episodes and module fixtures that take seconds (the fast set leaves them out)


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_runs(tmp_path_factory.mktemp("evalruns"))


def make_mab_run(dest: Path, runs: dict[str, Path], *, task: str | None = "digits", error: str | None = None) -> Path:
    """An MLAgentBench run folder laid out as its Environment.save and Agent write it.

    The workspace snapshots hold the real files of our ``improved`` run: the starter
    ``train.py``, then the SVM ``train.py`` and its ``submission.csv``.
    """
    src = load(runs["improved"])
    start, final = src.files_at(0), src.files_at()
    env_log = dest / "env_log"
    t0 = 1_700_000_000.0
    steps = [
        {"action": {"name": "List Files", "args": {"dir_path": "."}}, "observation": "backup/\ntrain.py\n", "timestamp": t0 + 1},
        {"action": {"name": "Edit Script (AI)", "args": {"script_name": "train.py", "edit_instruction": "use an SVM",
                                                           "save_name": "train.py"}},
         "observation": "The edited file is saved to train.py.", "timestamp": t0 + 5},
        {"action": {"name": "Execute Script", "args": {"script_name": "train.py"}}, "observation": "<b>done</b>", "timestamp": t0 + 9},
        {"action": {"name": "Final Answer", "args": {"final_answer": "SVM"}}, "observation": "end", "timestamp": t0 + 10},
    ]
    snaps = {0: {"train.py": start["train.py"]}, 1: {"train.py": final["train.py"]}, 2: final, 3: final, "final": final}
    for i, files in snaps.items():
        d = env_log / "traces" / f"step_{i}_files"
        (d / "backup").mkdir(parents=True)
        (d / "backup" / "train.py_2024").write_text("old copy, not part of the workspace")
        for path, digest in files.items():
            shutil.copyfile(src.object_path(digest), d / path)
    (env_log / "tool_logs").mkdir()
    (env_log / "trace.json").write_text(json.dumps({"steps": steps, "low_level_steps": [], "action_infos": {},
                                                    "task_description": "Improve the digits accuracy."}, indent=4))
    (env_log / "overall_time.txt").write_text("123.5")
    if error:
        (env_log / "error.txt").write_text(f"Traceback (most recent call last):\n  ...\n{error}\n")
    agent_log = dest / "agent_log"
    agent_log.mkdir(parents=True)
    (agent_log / "main_log").write_text("Enabled Tools in Prompt:['List Files']\n====Start====\n")
    args = {"llm_name": "claude-v1", "agent_type": "ResearchAgent", "log_dir": str(dest)}
    if task:
        args["task"] = task
    (agent_log / "agent_2_2.json").write_text(json.dumps({"args": args, "history_steps": []}))
    return dest


def test_import_one_run(runs: dict[str, Path], tmp_path: Path) -> None:
    src = make_mab_run(tmp_path / "mab" / "run1", runs)
    dest = import_mlagentbench(src, tmp_path / "imported" / "run1")
    trace = load(dest)
    reset = trace.reset
    assert reset["task"] == "digits" and reset["agent"] == "ResearchAgent" and reset["model"] == "claude-v1"
    assert reset["imported"]["wall_time"] == 123.5 and reset["imported"]["format"] == "mlagentbench"
    assert [s["action"]["name"] for s in trace.steps] == ["List Files", "Edit Script (AI)", "Execute Script", "Final Answer"]
    assert trace.steps[1]["action"]["arguments"]["edit_instruction"] == "use an SVM"
    assert trace.steps[1]["duration"] == 4.0
    # snapshots became file maps: only what changed, and MLAgentBench's backup/ copies are left out
    assert set(trace.steps[0]["files"]) == {"train.py"} and set(trace.steps[2]["files"]) == {"submission.csv"}
    assert trace.steps[3]["files"] == {}
    assert trace.files_at() == load(runs["improved"]).files_at()
    assert (dest / "agent_main_log.txt").is_file()
    assert import_mlagentbench(src, dest) == dest  # again: replaced, not appended
    assert len(load(dest).steps) == 4


@pytest.mark.slow
def test_imported_runs_are_scored_beside_ours(runs: dict[str, Path], tmp_path: Path) -> None:
    mab = tmp_path / "final_exp_logs" / "ResearchAgent"
    make_mab_run(mab / "digits" / "1700000001", runs)
    make_mab_run(mab / "digits" / "1700000002", runs, task=None, error="RuntimeError: CUDA out of memory")
    assert len(find_mlagentbench_runs(tmp_path / "final_exp_logs")) == 2
    out = tmp_path / "eval"
    assert ev.main([str(runs["base0"]), "--import-mlagentbench", str(tmp_path / "final_exp_logs"), "--out", str(out), "-q"]) == 0
    table = json.loads((out / "table.json").read_text())
    assert len(table["runs"]) == 3
    imported = [r for r in table["runs"] if r["agent"] == "ResearchAgent"]
    assert len(imported) == 2
    svm = ev.run_row(runs["improved"])["score"]
    for r in imported:
        assert r["task"] == "digits" and r["model"] == "claude-v1"  # the second names no task: its folder does
        assert r["scored_from"] == "trace (last snapshot)" and r["score"] == pytest.approx(svm)
        assert r["wall_time"] == 123.5 and r["success"] is True
        assert [s for s, _ in r["scores_by_step"]] == [3]
    assert sorted(str(r["error"]) for r in imported) == ["None", "the run crashed: RuntimeError: CUDA out of memory"]
    aggs = {a["agent"]: a for a in table["aggregates"]}
    assert aggs["ResearchAgent"]["success_rate"] == 1.0 and aggs["baseline"]["success_rate"] == 0.0
    assert "ResearchAgent (claude-v1)" in table["profiles"]["methods"]
    html = report.render(table, figures=False)
    assert "Edit Script (AI)" in html and "&lt;b&gt;done&lt;/b&gt;" in html


def test_task_option_and_aliases(runs: dict[str, Path], tmp_path: Path) -> None:
    make_mab_run(tmp_path / "logs" / "x" / "r", runs, task="house-price")
    made = import_mlagentbench_tree(tmp_path / "logs", tmp_path / "out")
    assert load(made[0]).reset["task"] == "mlagentbench-house-price"  # MLAgentBench's split and MAE, not our house-prices
    made = import_mlagentbench_tree(tmp_path / "logs", tmp_path / "out", task="digits")
    assert load(made[0]).reset["task"] == "digits"


def test_not_mlagentbench(tmp_path: Path, runs: dict[str, Path]) -> None:
    with pytest.raises(MLGymError, match="trace.json"):
        import_mlagentbench(tmp_path, tmp_path / "out")
    (tmp_path / "env_log").mkdir()
    (tmp_path / "env_log" / "trace.json").write_text("[1, 2]")
    with pytest.raises(MLGymError, match="not an MLAgentBench trace"):
        import_mlagentbench(tmp_path, tmp_path / "out")
    assert find_mlagentbench_runs(runs["root"]) == []  # our runs write a trace.json too: not imported


@pytest.mark.slow
def test_mlagentbench_entry_point_reads_mlagentbench_logs(runs: dict[str, Path], tmp_path: Path) -> None:
    src = make_mab_run(tmp_path / "logs" / "digits" / "1700000003", runs)
    out = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, "-m", "mlgym.analysis.eval", "--log-folder", str(tmp_path / "logs"), "--task", "digits",
                           "--output-file", str(out)], check=False, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(out.read_text())
    key = str((src / "env_log" / "trace.json").resolve())
    assert list(res) == [key]
    assert res[key]["final_score"] == pytest.approx(ev.run_row(runs["improved"])["score"])
    assert res[key]["total_time"] == 123.5 and res[key]["submitted_final_answer"] is True


def test_same_base_names_stay_apart_and_log_line_names_the_agent(runs: dict[str, Path], tmp_path: Path) -> None:
    """Two runs named 0 under different tasks get two folders and two run ids; with no agent_*.json
    the agent and model come from the first line of MLAgentBench's ``log``; its names map to our tasks."""
    a = make_mab_run(tmp_path / "logs" / "cifar10" / "0", runs, task="home-data-for-ml-course")
    b = make_mab_run(tmp_path / "logs" / "other" / "cifar10" / "0", runs, task="spaceship-titanic")
    for p in (b / "agent_log").glob("agent_*.json"):
        p.unlink()
    (b / "log").write_text("Namespace(task='spaceship-titanic', log_dir='x', agent_type='DSPyAgent', llm_name='gpt-4-0613')\nmore\n")
    out = tmp_path / "out"
    made = import_mlagentbench_tree(tmp_path / "logs", out)
    made += import_mlagentbench_tree(tmp_path / "logs" / "other", out)
    assert len({m.resolve() for m in made}) == 3 and len({load(m).reset["run_id"] for m in made}) == 2  # b imported twice: one run id
    resets = {load(m).reset["imported"]["source"]: load(m).reset for m in made}
    assert resets[str(a.resolve())]["task"] == "mlagentbench-house-price"
    rb = resets[str(b.resolve())]
    assert (rb["task"], rb["agent"], rb["model"]) == ("mlagentbench-spaceship-titanic", "DSPyAgent", "gpt-4-0613")


# ----------------------------------------------------------------- MLAgentBench's own tasks, scored as it scores them
def _mab_logs(run: Path, task: str, submissions: dict[int, str], *, name_task: bool = True) -> Path:
    """An MLAgentBench run of ``task`` whose workspace after step ``i`` holds ``submissions[i]``
    as submission.csv (the last one also in step_final_files), as its Environment.save writes it."""
    env_log = run / "env_log"
    n = max(submissions) + 1
    steps = [{"action": {"name": "Execute Script", "args": {"script_name": "train.py"}}, "observation": "ok", "timestamp": 1.7e9 + i}
             for i in range(n)]
    steps[-1]["action"] = {"name": "Final Answer", "args": {"final_answer": "done"}}
    current = None
    for i in range(n):
        current = submissions.get(i, current)
        for folder in [f"step_{i}_files"] + (["step_final_files"] if i == n - 1 else []):
            d = env_log / "traces" / folder
            d.mkdir(parents=True)
            (d / "train.py").write_text("print('starter')\n")
            if current is not None:
                (d / "submission.csv").write_text(current)
    (env_log / "trace.json").write_text(json.dumps({"steps": steps, "low_level_steps": [], "action_infos": {}, "task_description": task}))
    (env_log / "overall_time.txt").write_text("60.0")
    (run / "agent_log").mkdir(parents=True)
    (run / "agent_log" / "main_log").write_text("")
    if name_task:
        (run / "log").write_text(f"Namespace(task='{task}', log_dir='{run}', agent_type='ResearchAgent', llm_name='gpt-4')\n")
    return run


def _house_truth(raw: Path) -> "tuple[Any, Any]":
    """MLAgentBench's house-price split, written anew: the last 20% of train.csv's rows, in order."""
    import pandas as pd

    train = pd.read_csv(raw / "train.csv")
    test = train.iloc[int(0.8 * len(train)):]
    return test.Id.to_numpy(), test.SalePrice.to_numpy(float)


@pytest.mark.slow
def test_imported_mlagentbench_runs_score_as_mlagentbench_does(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """house-price (MAE, positional 80/20), spaceship-titanic (accuracy, positional 80/20) and
    cifar10 (argmax accuracy) runs in MLAgentBench's log layout: ``python -m mlgym.analysis.eval``'s
    scores equal MLAgentBench's formulas computed here from the raw files, at MLAgentBench's
    0-based step numbers; ``--task`` selects runs; MLAgentBench's own names resolve."""
    import pickle
    import tarfile

    import numpy as np
    import pandas as pd

    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks" / "mlagentbench"))
    import fixtures

    data = tmp_path / "data"
    monkeypatch.setenv("MLGYM_DATA_DIR", str(data))
    monkeypatch.setenv("MLGYM_KAGGLE_DIR", str(tmp_path / "no-kaggle"))
    monkeypatch.setenv("MLGYM_ALLOW_UNOFFICIAL_DATA", "1")
    monkeypatch.setenv("MLGYM_CIFAR10_URL", "http://127.0.0.1:9/cifar-10-python.tar.gz")
    raws = {}
    for t in ("house-price", "spaceship-titanic", "cifar10"):
        raws[t] = data / f"mlagentbench-{t}" / "raw"
        fixtures.make(t, raws[t])
    rng = np.random.default_rng(1)
    logs = tmp_path / "final_exp_logs" / "ResearchAgent"
    want: dict[str, dict[int, float]] = {}  # run folder -> {MLAgentBench step: its score}

    ids, price = _house_truth(raws["house-price"])
    subs, want["house"] = {}, {}
    for step in (1, 3):
        pred = price + rng.normal(0, 5000, len(price))
        subs[step] = pd.DataFrame({"Id": ids, "SalePrice": pred}).to_csv(index=False)
        want["house"][step] = float(np.mean(np.abs(price - pred)))  # sklearn's mean_absolute_error
    _mab_logs(logs / "house-price" / "1700000001", "house-price", subs)

    train = pd.read_csv(raws["spaceship-titanic"] / "train.csv")
    test = train.iloc[int(0.8 * len(train)):]
    guess = rng.random(len(test)) < 0.5
    sub = pd.DataFrame({"PassengerId": test.PassengerId, "Transported": guess}).to_csv(index=False)
    want["space"] = {2: float(np.mean(guess == test.Transported.to_numpy(bool)))}
    _mab_logs(logs / "spaceship-titanic" / "1700000002", "spaceship-titanic", {2: sub})

    with tarfile.open(raws["cifar10"] / "cifar-10-python.tar.gz") as tar:
        f = tar.extractfile("cifar-10-batches-py/test_batch")
        assert f is not None
        labels = np.array(pickle.load(f, encoding="bytes")[b"labels"])
    probs = rng.dirichlet(np.ones(10), len(labels))
    probs[: len(labels) // 2] = np.eye(10)[labels[: len(labels) // 2]]  # half right for sure
    sub = pd.DataFrame(probs, columns=list(range(10))).to_csv(index_label="idx")
    want["cifar"] = {0: float(np.mean(probs.argmax(1) == labels))}
    _mab_logs(logs / "cifar10" / "1700000003", "cifar10", {0: sub}, name_task=False)  # named by its folder only

    out = tmp_path / "results.json"
    assert ev.main(["--log-folder", str(tmp_path / "final_exp_logs"), "--output-file", str(out)]) == 0
    res = json.loads(out.read_text())
    by_run = {Path(k).parent.parent.parent.name: v for k, v in res.items()}
    assert set(by_run) == {"house-price", "spaceship-titanic", "cifar10"}
    for folder, key in (("house-price", "house"), ("spaceship-titanic", "space"), ("cifar10", "cifar")):
        r = by_run[folder]
        assert r["extra"]["task"] == f"mlagentbench-{folder}"
        assert dict(zip(r["score_steps"], r["score"])) == pytest.approx(want[key]), folder
        assert r["final_score"] == pytest.approx(want[key][max(want[key])])
    assert by_run["house-price"]["extra"]["source"] == str((logs / "house-price" / "1700000001").resolve())

    # --task selects runs of that task (MLAgentBench's name or ours); the others are not re-scored as it
    for name in ("house-price", "mlagentbench-house-price"):
        assert ev.main(["--log-folder", str(tmp_path / "final_exp_logs"), "--task", name, "--output-file", str(out)]) == 0
        res = json.loads(out.read_text())
        assert [Path(k).parent.parent.name for k in res] == ["1700000001"]
        assert next(iter(res.values()))["final_score"] == pytest.approx(want["house"][3])


def test_raw_or_linked_mlagentbench_folder(runs: dict[str, Path], tmp_path: Path) -> None:
    """``mlgym eval`` on MLAgentBench's logs says to import them; linked run folders are found
    and imported, and ``runs.csv`` names the folder each came from."""
    real = make_mab_run(tmp_path / "elsewhere" / "digits" / "1700000009", runs)
    gathered = tmp_path / "gathered"
    gathered.mkdir()
    (gathered / "run-a").symlink_to(real, target_is_directory=True)
    (gathered / "loop").symlink_to(gathered, target_is_directory=True)  # a cycle ends
    for d in (tmp_path / "elsewhere", gathered):
        with pytest.raises(MLGymError, match=f"looks like MLAgentBench logs .1 run.s..: use --import-mlagentbench {d}"):
            ev.main([str(d), "--out", str(tmp_path / "eval"), "-q"])
    assert find_mlagentbench_runs(gathered) == [gathered / "run-a"]
    assert ev.main(["--import-mlagentbench", str(gathered), "--out", str(tmp_path / "eval"), "-q"]) == 0
    with open(tmp_path / "eval" / "runs.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["source"] for r in rows] == [str(real.resolve())] and rows[0]["task"] == "digits"
