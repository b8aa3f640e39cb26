"""The runner and the mlgym command: a full episode, and one-line errors for user mistakes."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from mlgym import cli

from mlgym.runs import runner


@pytest.mark.slow
def test_runner_full_episode(tmp_path, capsys):
    rc = runner.main(["--task", "digits", "--agent", "baseline", "--log-dir", str(tmp_path / "r"), "-q"])
    out = capsys.readouterr().out
    assert rc == 0
    assert "score" in out and "baseline" in out and "improvement" in out and "trace" in out
    result = json.loads((tmp_path / "r" / "result.json").read_text())
    assert result["agent"] == "baseline" and result["reason"] == "final_answer" and result["steps"] == 3


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--task", "nope"], "error: unknown task 'nope'"),
        (["--agent", "nope"], "error: unknown agent 'nope'"),
        (["--agent", "os:nothing"], "error: cannot load agent"),
        (["--sandbox", "vm"], "error: unknown sandbox 'vm'"),
        (["--resume", "/nonexistent"], "error: cannot resume"),
    ],
)
def test_user_errors_are_one_line(argv, message, capsys):
    assert runner.main(argv + ["-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(message) and "\n" not in err and "Traceback" not in err


@pytest.mark.slow
def test_bad_flag_value_exits_nonzero():
    proc = subprocess.run([sys.executable, "-m", "mlgym.runs.runner", "--max-steps", "-3"], capture_output=True, text=True)
    assert proc.returncode == 2 and "expected a positive integer" in proc.stderr and "Traceback" not in proc.stderr


def test_cli_tasks_and_prepare(capsys):
    assert cli.main(["tasks"]) == 0
    out = capsys.readouterr().out
    assert "digits" in out and "accuracy" in out
    assert cli.main(["prepare", "digits", "--verify"]) == 0
    assert cli.main(["prepare", "nope"]) == 2
    assert "unknown task" in capsys.readouterr().err


@pytest.mark.slow
def test_cli_baseline_measures(capsys, tmp_path, monkeypatch):
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path / "data"))
    assert cli.main(["baseline", "digits"]) == 0
    assert "baseline accuracy = 0.7704" in capsys.readouterr().out
    assert json.loads((tmp_path / "data" / "digits" / "baseline.json").read_text())["score"] == pytest.approx(0.7704, abs=1e-4)


@pytest.mark.slow
def test_console_script_installed():
    proc = subprocess.run([sys.executable, "-m", "mlgym", "tasks"], capture_output=True, text=True)
    assert proc.returncode == 0 and "digits" in proc.stdout


def test_tasks_lists_every_family_and_says_how_to_list_hub_rows(monkeypatch, capsys):
    """`mlgym tasks` (no --family): folder, kaggle, mlagentbench, multimodal and AMLB tasks in one
    table; ML-Bench's rows, which need the hub, named with the command that lists them."""
    from mlgym.cli.app import main

    monkeypatch.delenv("MLGYM_MLBENCH", raising=False)
    assert main(["tasks"]) == 0
    out = capsys.readouterr().out
    for name in ("digits", "house-prices", "mlagentbench-cifar10", "multimodal-digits-docs", "amlb/test/kc2/0"):
        assert name in out, name
    assert "mlgym tasks --family mlbench" in out
