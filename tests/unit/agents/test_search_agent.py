"""``--agent search``: syntax-tree edits of a training script, and a seeded search that beats digits' baseline."""

from __future__ import annotations

import ast
import json
import random

import pytest

from mlgym.runs import runner
from mlgym.agents.search import validation_score
from mlgym.agents.search_space import MARK, MODELS, add, marked_kind, model, numeric, propose
from mlgym.tasks.spec import TaskSpec
from mlgym.runlog.trace import load

STARTER = (TaskSpec.load("digits").root / "env" / "train.py").read_text()


def _calls(source: str) -> dict[str, dict[str, object]]:
    tree = ast.parse(source)
    out = {}
    for c in ast.walk(tree):
        if isinstance(c, ast.Call) and isinstance(c.func, ast.Name):
            out[c.func.id] = {k.arg: getattr(k.value, "value", None) for k in c.keywords}
    return out


def test_model_swap_imports_the_new_model_and_keeps_what_it_accepts():
    for seed in range(12):
        edit = model(STARTER, random.Random(seed))
        assert edit is not None and edit.source.startswith(MARK) and marked_kind(edit.source) == "model"
        new = edit.what.split(" -> ")[1]
        spec = MODELS[new]
        assert spec.kind == "classifier" and "DecisionTreeClassifier" not in _calls(edit.source)
        assert f"from {spec.module} import {new}" in edit.source
        kept = _calls(edit.source)[new]
        assert set(kept) <= set(spec.params) | spec.accepts
        assert ("max_depth" in kept) == ("max_depth" in spec.params)
        assert _calls(edit.source)["train_test_split"] == {"test_size": 0.2, "random_state": 0}  # the experiment is fixed


def test_numeric_and_add_edits_stay_in_range_and_leave_fixed_keywords():
    rng = random.Random(1)
    for _ in range(20):
        edit = numeric(STARTER, rng)
        assert edit is not None and edit.what.startswith("DecisionTreeClassifier max_depth 6 -> ")
        depth = _calls(edit.source)["DecisionTreeClassifier"]["max_depth"]
        assert isinstance(depth, int) and depth != 6 and 2 <= depth <= 40
        added = add(STARTER, rng)
        assert added is not None and "min_samples_leaf" in _calls(added.source)["DecisionTreeClassifier"]
        assert _calls(added.source)["train_test_split"] == {"test_size": 0.2, "random_state": 0}
    assert numeric("print('no numbers here')\n", rng) is None and propose("x = (\n", rng) is None


def test_same_seed_same_edits_and_weights_pick_the_edit_type():
    def run(seed: int) -> list[str]:
        rng, src, out = random.Random(seed), STARTER, []
        for _ in range(6):
            edit = propose(src, rng)
            assert edit is not None
            ast.parse(edit.source)
            out.append(edit.what)
            src = edit.source
        return out

    assert run(3) == run(3) and run(3) != run(4)
    only_models = [propose(STARTER, random.Random(s), {"model": 1.0, "numeric": 0, "add": 0}) for s in range(5)]
    assert all(e is not None and e.kind == "model" for e in only_models)
    assert marked_kind(STARTER) is None and marked_kind(MARK + "[numeric] x 1 -> 2\nx = 2\n") == "numeric"


@pytest.mark.parametrize("output, expected", [
    ("validation accuracy: 0.8796\nwrote submission.csv", (0.8796, None)),
    ("Validation RMSE = 1.5e-2\n", (0.015, False)),
    ("valid loss 3\nvalidation loss: 2.5", (2.5, False)),
    ("validation accuracy: 0.9\nThe script exited with code 1.", None),
    ("train accuracy: 1.0", None),
])
def test_validation_score_is_read_from_the_script_output(output, expected):
    assert validation_score(output) == expected


@pytest.mark.slow
def test_search_beats_the_digits_baseline(tmp_path, capsys):
    log_dir = tmp_path / "run"
    rc = runner.main(["--task", "digits", "--agent", "search", "--seed", "0", "--max-steps", "7", "--log-dir", str(log_dir), "-q"])
    assert rc == 0, capsys.readouterr()
    result = json.loads((log_dir / "result.json").read_text())
    assert result["agent"] == "search" and result["reason"] == "final_answer"
    assert result["success"] and result["improvement"] > 0.10
    trace = load(log_dir)
    names = [s["action"]["name"] for s in trace.steps]
    assert names[:2] == ["Read File", "Execute Script"] and names[-1] == "Final Answer"
    edits = [s["action"]["arguments"]["content"] for s in trace.steps if s["action"]["name"] == "Write File"]
    assert edits and all(e.startswith(MARK) for e in edits)
    assert [s["reward"] for s in trace.steps] == [0.0] * (len(names) - 1) + [result["reward"]]
