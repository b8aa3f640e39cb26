"""TaskSpec validation: clear errors naming the file and the field."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mlgym.core.errors import TaskError
from mlgym.tasks.spec import TaskSpec, list_tasks

DIGITS = Path(__file__).resolve().parents[3] / "benchmarks" / "digits"


def test_bundled_tasks_load():
    assert "digits" in list_tasks()
    for name in list_tasks():
        spec = TaskSpec.load(name)
        if spec.kind == "folder":
            assert spec.env_dir.is_dir() and spec.eval_script.is_file()
        assert spec.baseline.measured


@pytest.fixture
def task_copy(tmp_path):
    dest = tmp_path / "digits"
    shutil.copytree(DIGITS, dest)
    return dest


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("direction: higher", "direction: up", "direction: must be 'higher' or 'lower'"),
        ("metric: accuracy\n", "", "metric: required field is missing"),
        ("  score: 0.7703704", "  score: high", "baseline.score: expected int or float"),
        ("  max_steps: 30", "  max_stepz: 30", "limits.max_stepz: unknown field"),
        ("  max_steps: 30", "  max_steps: lots", "limits.max_steps: expected int"),
        ("name: digits", "name: other", "must match the folder name"),
        ("submission: submission.csv", "submission: [../x.csv]", "submission: give one file name"),
        ("name: digits", "name: [digits", "not valid YAML"),
    ],
)
def test_malformed_task_yaml(task_copy, old, new, message):
    y = task_copy / "task.yaml"
    text = y.read_text()
    assert old in text
    y.write_text(text.replace(old, new, 1))
    with pytest.raises(TaskError) as err:
        TaskSpec.load(task_copy)
    assert str(y) in str(err.value) and message in str(err.value)


def test_missing_eval_script(task_copy):
    (task_copy / "scripts" / "eval.py").unlink()
    with pytest.raises(TaskError, match="missing scripts/eval.py"):
        TaskSpec.load(task_copy)


def test_user_task_folder_via_env(tmp_path, monkeypatch, task_copy):
    renamed = tmp_path / "mine" / "mytask"
    renamed.parent.mkdir()
    task_copy.rename(renamed)
    y = renamed / "task.yaml"
    y.write_text(y.read_text().replace("name: digits", "name: mytask"))
    monkeypatch.setenv("MLGYM_BENCHMARKS", str(renamed.parent))
    assert TaskSpec.load("mytask").root == renamed.resolve()
