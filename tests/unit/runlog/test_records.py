"""Typed trace records: each step record carries the reward ``step`` returned, also on the last step."""

from __future__ import annotations

import json

import pytest

from mlgym.runlog.records import ResetRecord, ResultRecord, StepRecord
from mlgym.runlog.trace import load

SVC = (
    "import pandas as pd\nfrom sklearn.svm import SVC\n"
    "tr = pd.read_csv('data/train.csv'); te = pd.read_csv('data/test.csv')\n"
    "m = SVC(gamma=0.001).fit(tr.drop(columns=['label']), tr['label'])\n"
    "pd.DataFrame({'id': te['id'], 'label': m.predict(te.drop(columns=['id']))}).to_csv('submission.csv', index=False)\n"
)


def test_record_dicts():
    step = StepRecord(step=3, action={"name": "List Files", "arguments": {}}, observation="x", reward=0.5, duration=None,
                      extra={"step": 99, "note": "n"})
    d = step.to_dict()
    assert list(d)[0] == "type" and d["type"] == "step" and d["step"] == 3 and d["note"] == "n"  # extra never replaces a field
    assert d["duration"] is None and "traceback" not in d and "time" not in d  # optional Nones left out, kept ones kept
    assert ResetRecord(task="t", run_id="r").to_dict()["seed"] is None
    assert ResultRecord(result={"reward": 1.0}, time=2.0).to_dict() == {"type": "result", "reward": 1.0, "time": 2.0}


@pytest.mark.slow
@pytest.mark.parametrize("end", ["final_answer", "max_steps"])
def test_trace_rewards_are_what_step_returned(env_factory, end):
    env = env_factory(max_steps=3)
    env.reset(seed=0)
    plan = [{"name": "Write File", "arguments": {"file_name": "train.py", "content": SVC}},
            {"name": "Execute Script", "arguments": {"script_name": "train.py"}},
            {"name": "Final Answer", "arguments": {"final_answer": "SVC"}} if end == "final_answer"
            else {"name": "List Files", "arguments": {}}]
    returned = [env.step(a)[1] for a in plan]
    trace = load(env.log_dir)
    assert [s["reward"] for s in trace.steps] == returned
    assert returned[:2] == [0.0, 0.0] and returned[2] > 0.10
    result = json.loads((env.log_dir / "result.json").read_text())
    assert result["reason"] == end and result["reward"] == returned[2] == trace.result["reward"]
    assert [r["type"] for r in trace.records][-2:] == ["step", "result"]
