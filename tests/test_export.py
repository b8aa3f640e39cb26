"""``mlgym export``: episodes as chat / OpenAI JSONL and a ``datasets`` folder whose rewards are the trace's."""

from __future__ import annotations

import json

import datasets

from mlgym import cli
from mlgym.runlog.trace import load

SVC = (
    "import pandas as pd\nfrom sklearn.svm import SVC\n"
    "tr = pd.read_csv('data/train.csv'); te = pd.read_csv('data/test.csv')\n"
    "m = SVC(gamma=0.001).fit(tr.drop(columns=['label']), tr['label'])\n"
    "pd.DataFrame({'id': te['id'], 'label': m.predict(te.drop(columns=['id']))}).to_csv('submission.csv', index=False)\n"
)


def _runs(env_factory, tmp_path):
    good = env_factory(log_dir=tmp_path / "runs" / "good")
    good.run_info = {"agent": "scripted", "model": None, "seed": 3}
    good.reset(seed=3)
    for a in ({"name": "Write File", "arguments": {"file_name": "train.py", "content": SVC}},
              {"name": "Execute Script", "arguments": {"script_name": "train.py"}},
              {"name": "Final Answer", "arguments": {"final_answer": "SVC"}}):
        good.step(a)
    cut = env_factory(log_dir=tmp_path / "runs" / "cut", max_steps=2)
    cut.reset(seed=0)
    cut.step("I will think first")  # text naming no tool: an error observation
    cut.step({"name": "List Files", "arguments": {}})  # the step limit: truncated, scored (no submission)
    return {"good": load(good.log_dir), "cut": load(cut.log_dir)}


def test_export_chat_openai_hf(env_factory, tmp_path, capsys):
    traces = _runs(env_factory, tmp_path)
    runs = str(tmp_path / "runs")
    for fmt, out in (("chat", "c.jsonl"), ("openai", "o.jsonl"), ("hf", "hf")):
        assert cli.main(["export", runs, "--format", fmt, "--out", str(tmp_path / out)]) == 0
        assert "wrote 2 episode(s)" in capsys.readouterr().out

    chat = {r["metadata"]["run_id"]: r for r in map(json.loads, (tmp_path / "c.jsonl").read_text().splitlines())}
    good, cut = traces["good"], traces["cut"]
    row = chat[good.reset["run_id"]]
    assert row["rewards"] == [s["reward"] for s in good.steps] and row["reward"] == good.result["reward"] > 0.10
    assert row["metadata"]["agent"] == "scripted" and row["metadata"]["seed"] == 3 and row["metadata"]["success"] is True
    roles = [m["role"] for m in row["messages"]]
    assert roles == ["user"] + ["assistant", "user"] * 3
    assert row["messages"][0]["content"] == good.reset["observation"] and "Action Input" in row["messages"][0]["content"]
    assert row["messages"][1]["content"].startswith("Action: Write File\nAction Input: {")
    assert row["messages"][4]["content"] == good.steps[1]["observation"]
    cut_row = chat[cut.reset["run_id"]]
    assert cut_row["messages"][1]["content"] == "I will think first" and cut_row["metadata"]["reason"] == "max_steps"
    assert cut_row["rewards"] == [0.0, 0.0] and cut_row["reward"] == 0.0

    openai = {r["metadata"]["run_id"]: r for r in map(json.loads, (tmp_path / "o.jsonl").read_text().splitlines())}
    o = openai[good.reset["run_id"]]
    assert [m["role"] for m in o["messages"]] == ["system", "user"] + ["assistant", "tool"] * 3
    assert o["messages"][1]["content"] == good.reset["task_description"] and "Action Input" not in o["messages"][1]["content"]
    call = o["messages"][2]["tool_calls"][0]
    assert call["function"]["name"] == "write_file" and json.loads(call["function"]["arguments"])["content"] == SVC
    assert o["messages"][3]["tool_call_id"] == call["id"]
    assert call["function"]["name"] in {t["function"]["name"] for t in o["tools"]}
    assert [m["role"] for m in openai[cut.reset["run_id"]]["messages"]][2:4] == ["assistant", "user"]  # no tool was named

    ds = datasets.load_from_disk(str(tmp_path / "hf"))
    assert ds.num_rows == 2
    for r in ds:
        t = traces["good" if r["run_id"] == good.reset["run_id"] else "cut"]
        assert r["rewards"] == [s["reward"] for s in t.steps] and r["reward"] == t.result["reward"]
        assert r["task"] == "digits" and r["messages"][0]["role"] == "user"


def test_export_user_errors(tmp_path, capsys):
    assert cli.main(["export", str(tmp_path), "--out", str(tmp_path / "x.jsonl")]) == 2
    assert capsys.readouterr().err.strip().startswith("error: no runs")
    assert cli.main(["export", str(tmp_path / "nope"), "--out", str(tmp_path / "x.jsonl")]) == 2
