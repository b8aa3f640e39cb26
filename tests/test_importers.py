"""Importing MLAgentBench log folders (``env_log/trace.json`` + ``traces/step_*_files``)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from evalruns import make_runs

from mlgym import eval as ev
from mlgym import report
from mlgym.errors import MLGymError
from mlgym.importers import find_mlagentbench_runs, import_mlagentbench, import_mlagentbench_tree
from mlgym.trace import load


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
                                                           "save_name": "train.py"}}, "observation": "The edited file is saved to train.py.", "timestamp": t0 + 5},
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


def test_mlagentbench_entry_point_reads_mlagentbench_logs(runs: dict[str, Path], tmp_path: Path) -> None:
    src = make_mab_run(tmp_path / "logs" / "digits" / "1700000003", runs)
    out = tmp_path / "results.json"
    proc = subprocess.run([sys.executable, "-m", "mlgym.eval", "--log-folder", str(tmp_path / "logs"), "--task", "digits",
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
