"""``mlgym export``: episodes as chat / OpenAI JSONL and a ``datasets`` folder whose rewards are the trace's."""

from __future__ import annotations

import json

import datasets
import pytest

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


@pytest.mark.slow
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


SUBMISSION = {"name": "Write File", "arguments": {"file_name": "submission.csv",
                                                  "content": "id,label\n" + "".join(f"{i},1\n" for i in range(540))}}
FINAL = {"name": "Final Answer", "arguments": {"final_answer": "done"}}


def _grpo_policy(observations: list[str], infos: list[dict]) -> list[dict]:
    """Episode 0 submits one label for every image, the others submit nothing: rewards differ within group 0."""
    return [SUBMISSION if info["episode"] == 0 and info["step"] == 0 else FINAL for info in infos]


@pytest.mark.slow
def test_export_carries_groups_and_their_statistics(env_factory, tmp_path, capsys):
    """A GRPO rollout (group_size=2) exported: group and group_size from result.json / the reset record, and the
    statistics mlgym.rollout computed (analysis.groups.group_stats); a run outside any group gets None."""
    from mlgym.rollout import rollout

    eps = rollout("digits", _grpo_policy, 4, seed=5, group_size=2, log_dir=tmp_path / "runs" / "grpo", work_dir=tmp_path / "ws")
    assert eps[0].reward != eps[1].reward and eps[0].advantage == -eps[1].advantage != 0
    solo = env_factory(log_dir=tmp_path / "runs" / "solo")
    solo.reset(seed=0)
    solo.step(FINAL)
    for fmt, out in (("chat", "c.jsonl"), ("hf", "hf")):
        assert cli.main(["export", str(tmp_path / "runs"), "--format", fmt, "--out", str(tmp_path / out)]) == 0
        assert "wrote 5 episode(s)" in capsys.readouterr().out
    rows = {r["metadata"]["log_dir"]: r["metadata"] for r in map(json.loads, (tmp_path / "c.jsonl").read_text().splitlines())}
    flat = {r["log_dir"]: r for r in datasets.load_from_disk(str(tmp_path / "hf"))}
    for e in eps:
        for m in (rows[str(e.log_dir)], flat[str(e.log_dir)]):
            assert (m["group"], m["group_size"], m["seed"]) == (e.group, 2, e.seed)
            assert m["group_mean"] == pytest.approx(e.group_mean) and m["group_std"] == pytest.approx(e.group_std)
            assert m["advantage"] == pytest.approx(e.advantage)
    for m in (rows[str(solo.log_dir)], flat[str(solo.log_dir)]):
        assert m["group"] is None and m["group_size"] is None and m["group_mean"] is None and m["advantage"] is None


def test_groups_of_different_rollouts_stay_apart():
    from mlgym.analysis.export import add_group_stats

    rows = [{"reward": r, "metadata": {"task": "digits", "log_dir": f"runs/{roll}/ep{i}", "group": 0}}
            for i, (roll, r) in enumerate([("a", 1.0), ("a", 0.0), ("b", 0.25), ("b", 0.25), ("c", None)])]
    groups = add_group_stats(rows)
    assert [(g["n"], g["finished"], g["mean"]) for g in groups] == [(2, 2, 0.5), (2, 2, 0.25), (1, 0, None)]
    assert [r["metadata"]["advantage"] for r in rows] == [0.5, -0.5, 0.0, 0.0, None]
    assert rows[0]["metadata"]["group_std"] == 0.5
