"""Dense rewards: a validation split carved from train.csv, and rewards checked against hand computations."""

from __future__ import annotations

import csv

import pytest

from mlgym.core.errors import MLGymError
from mlgym.runlog.trace import load

B = 416 / 540  # digits' baseline accuracy (task.yaml / baseline.json)


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _csv(rows, cols=("id", "label")):
    return "\n".join([",".join(cols)] + [",".join(str(r[c]) for c in cols) for r in rows]) + "\n"


@pytest.mark.slow
def test_dense_rewards_match_hand_computation(env_factory):
    env = env_factory(reward_mode="dense", max_steps=7)
    _, info = env.reset(seed=0)
    assert info["reward_mode"] == "dense" and "Validate" in info["tool_names"] and "valid_submission.csv" in info["task_description"]
    data = env.workspace / "data"
    train, valid = _rows(data / "train.csv"), _rows(data / "valid.csv")
    assert sorted(p.name for p in data.iterdir()) == ["test.csv", "train.csv", "valid.csv"]
    assert "label" not in valid[0] and len(valid) == int(1257 * 0.2) and len(train) == 1257 - len(valid)
    truth = _rows(env.data.dir / "dense" / "private" / "test_labels.csv")  # host side, never in the sandbox
    assert [r["id"] for r in truth] == [r["id"] for r in valid]
    half = [dict(r, label=(int(r["label"]) + 1) % 10 if i % 2 else r["label"]) for i, r in enumerate(truth)]
    right = sum(a["label"] == b["label"] for a, b in zip(half, truth))
    test_truth = _rows(env.data.private / "test_labels.csv")

    v1 = (1.0 - B) / B
    v3 = (right / len(truth) - B) / B
    plan = [
        ({"name": "Write File", "arguments": {"file_name": "valid_submission.csv", "content": _csv(truth)}}, v1),
        ({"name": "List Files", "arguments": {}}, 0.0),
        ({"name": "Write File", "arguments": {"file_name": "valid_submission.csv", "content": _csv(half)}}, v3 - v1),
        ({"name": "Validate", "arguments": {}}, 0.0),
        ({"name": "Write File", "arguments": {"file_name": "valid_submission.csv", "content": "id,label\n"}}, 0.0 - v3),
        ({"name": "Write File", "arguments": {"file_name": "submission.csv", "content": _csv(test_truth)}}, 0.0),
        ({"name": "Final Answer", "arguments": {"final_answer": "perfect"}}, (1.0 - B) / B),  # the test improvement
    ]
    got = []
    for action, expected in plan:
        obs, reward, terminated, truncated, info = env.step(action)
        assert reward == pytest.approx(expected, abs=1e-6), (action, obs)
        got.append(reward)
    assert terminated and info["result"]["score"] == 1.0
    assert "Validation score: 0.5" in load(env.log_dir).steps[3]["observation"]
    steps = load(env.log_dir).steps
    assert [s["reward"] for s in steps] == got
    assert [bool(s.get("validation")) for s in steps] == [True, False, True, True, True, False, False]
    assert steps[0]["validation"]["score"] == 1.0 and steps[4]["validation"]["score"] is None
    assert "lacks 251 of the 251" in steps[4]["validation"]["error"]  # the task's own grader said why


def test_final_mode_has_no_validate_and_bad_mode_is_refused(env_factory):
    env = env_factory()
    _, info = env.reset(seed=0)
    assert info["reward_mode"] == "final" and "Validate" not in info["tool_names"]
    assert not (env.workspace / "data" / "valid.csv").exists()
    with pytest.raises(MLGymError, match="unknown reward_mode"):
        env_factory(reward_mode="sparse")


@pytest.mark.slow
def test_runner_flag(tmp_path):
    from mlgym.runs import runner

    assert runner.main(["--task", "digits", "--agent", "baseline", "--reward-mode", "dense", "--log-dir", str(tmp_path / "r"), "-q"]) == 0
    trace = load(tmp_path / "r")
    assert "Validate" in trace.reset["tools"] and trace.result["valid_submission"]
    assert [s["reward"] for s in trace.steps] == [0.0, 0.0, trace.result["reward"]]  # no valid_submission.csv was written
