"""Starter templates: the CONFIG line is written as a Python literal, whatever the names in it
(a target named ``is_true_positive`` stayed ``is_True_positive`` under the old text replace)."""

from __future__ import annotations

import ast
import textwrap
from pathlib import Path

import pytest

from mlgym.core.template import py_literal, render_starter
from mlgym.families.kaggle.family import KaggleFamily
from mlgym.tasks.spec import TaskSpec


def _config_of(train_py: str) -> object:
    line = next(ln for ln in train_py.splitlines() if ln.startswith("CONFIG = "))
    return ast.literal_eval(line.removeprefix("CONFIG = "))


def test_literal_keeps_names_and_spells_python_constants() -> None:
    cfg = {"id": "true_id", "targets": ["is_true_positive", "false_alarm"], "log_target": False, "none": None, "x": 1.5}
    text = py_literal(cfg)
    assert ast.literal_eval(text) == cfg
    assert text == '{"id": "true_id", "targets": ["is_true_positive", "false_alarm"], "log_target": False, "none": None, "x": 1.5}'
    with pytest.raises(ValueError):
        py_literal({"x": float("nan")})


def test_render_replaces_the_one_config_line_and_drops_comments() -> None:
    out = render_starter("# family note\nCONFIG = {}\nprint(CONFIG)\n", {"a": True}, drop=("# family",))
    assert out == 'CONFIG = {"a": True}\nprint(CONFIG)\n'
    with pytest.raises(ValueError, match="exactly one"):
        render_starter("print(1)\n", {"a": 1})


def test_kaggle_starter_with_a_target_named_is_true_positive(tmp_path: Path) -> None:
    entry = tmp_path / "tp.yaml"
    entry.write_text(textwrap.dedent("""\
        kind: kaggle
        name: tp
        competition: true-positives
        metric: accuracy
        id: row_id
        target: is_true_positive
        description: Predict is_true_positive.
    """))
    spec = TaskSpec.from_yaml(entry)
    ws = tmp_path / "ws"
    ws.mkdir()
    KaggleFamily().build_workspace(spec, ws)
    text = (ws / "train.py").read_text()
    compile(text, "train.py", "exec")
    cfg = _config_of(text)
    assert isinstance(cfg, dict) and cfg["targets"] == ["is_true_positive"] and cfg["id"] == "row_id"
    assert cfg["log_target"] is False and "is_True_positive" not in text
