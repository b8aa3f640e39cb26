"""LLM agents and LLM tools on the offline ``digits`` task, through litellm's real HTTP path
against a scripted OpenAI-compatible server on loopback (no keys, no network)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest
from llm_server import ScriptedLLM, react

from mlgym.runs import runner
from mlgym.runlog.trace import load as load_trace

MAIN, FAST, EDIT = "openai/test-model", "openai/fast-model", "openai/edit-model"
SUMMARY = "[Reasoning]: checked.\n[Action]: ran the tool.\n[Observation]: it worked."
BETTER = '''import pandas as pd
from sklearn.linear_model import LogisticRegression

train = pd.read_csv("data/train.csv")
test = pd.read_csv("data/test.csv")
X, y = train.drop(columns=["label"]) / 16, train["label"]
model = LogisticRegression(max_iter=2000).fit(X, y)
print(f"train accuracy: {model.score(X, y):.4f}")
pred = model.predict(test.drop(columns=["id"]) / 16)
pd.DataFrame({"id": test["id"], "label": pred}).to_csv("submission.csv", index=False)
'''
EPISODE = [
    react("List Files", {"dir_path": "."}, thought="see the files"),
    react("Edit Script (AI)", {"script_name": "train.py", "edit_instruction": "Use LogisticRegression on pixels/16.", "save_name": "train.py"}),
    react("Execute Script", {"script_name": "train.py"}),
    react("Final Answer", {"final_answer": "Logistic regression on scaled pixels."}),
]


@pytest.fixture
def llm(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with ScriptedLLM() as server:
        server.default(FAST, SUMMARY)
        server.default(EDIT, f"Here you go:\n```python\n{BETTER}```\n")
        yield server


def run(llm_url: str, log_dir: Path, *extra: str, agent: str = "research") -> tuple[int, dict, list[dict]]:
    argv = [
        "--task", "digits", "--agent", agent, "--llm-name", MAIN, "--fast-llm-name", FAST, "--edit-script-llm-name", EDIT,
        "--llm-base-url", llm_url, "--log-dir", str(log_dir), "--work-dir", str(log_dir.parent / "ws"), "-q",
        "--profile", "mlgym", *extra,  # these tests pin mlgym's profile; tests/unit/agents/test_research_profile.py covers MLAgentBench's
    ]
    rc = runner.main(argv)
    result = json.loads((log_dir / "result.json").read_text())
    records = [json.loads(line) for line in (log_dir / "trace.jsonl").read_text().splitlines()]
    return rc, result, records


@pytest.mark.slow
def test_research_episode_edits_executes_and_submits(llm, tmp_path):
    llm.script(MAIN, EPISODE[0], "I will just think about it.", *EPISODE[1:])
    rc, result, records = run(llm.url, tmp_path / "run")
    assert rc == 0 and result["reason"] == "final_answer" and result["success"] is True
    assert result["score"] > 0.9 and result["steps"] == 4 and result["llm_calls"] == len(llm.requests)
    steps = [r for r in records if r["type"] == "step"]
    assert [s["action"]["name"] for s in steps] == ["List Files", "Edit Script (AI)", "Execute Script", "Final Answer"]
    assert "LogisticRegression" in steps[1]["observation"] and "+from sklearn.linear_model import LogisticRegression" in steps[1]["observation"]
    assert "train accuracy: 0.9" in steps[2]["observation"]
    llm_recs = [r for r in records if r["type"] == "llm"]
    assert {r["purpose"] for r in llm_recs} >= {"research agent", "step summary", "Edit Script (python script)"}
    for r in llm_recs:
        assert {"model", "prompt", "completion", "prompt_tokens", "completion_tokens", "cost", "latency", "cached"} <= set(r)
    # the malformed response was answered with a correction, not a step
    corrected = llm.calls(MAIN)[2]["messages"]
    assert corrected[1]["content"] == "I will just think about it." and "wrong format" in corrected[2]["content"]
    state = json.loads((tmp_path / "run" / "agent_state.json").read_text())
    assert state["format_errors"] == 1 == result["format_errors"] and len(state["steps"]) == 4
    trace = load_trace(tmp_path / "run")  # the workspace itself may be gone (a released quota mount)
    log_text = trace.object_path(trace.files_at()["research_log.log"]).read_text()
    assert sum(r["purpose"] == "step summary" for r in llm_recs) == 3  # steps 1-3 summarised ...
    assert log_text.count("[Reasoning]") == 2  # ... into the log; the snapshot after step 3 precedes its summary


@pytest.mark.slow
def test_rate_limited_provider_then_success(llm, tmp_path):
    llm.script(MAIN, {"status": 429}, EPISODE[0], {"status": 503, "message": "overloaded"}, *EPISODE[1:])
    llm.script(FAST, {"status": 429})
    rc, result, _ = run(llm.url, tmp_path / "run")
    assert rc == 0 and result["success"] is True and len(llm.calls(MAIN)) == 6


@pytest.mark.slow
def test_budget_runs_out_mid_episode(llm, tmp_path):
    llm.script(MAIN, *EPISODE)
    rc, result, records = run(llm.url, tmp_path / "run", "--max-tokens", "4000")
    assert rc == 0 and result["reason"] == "budget" and 1 <= result["steps"] < 4
    assert result["llm_tokens"] <= 4000
    assert records[-1]["type"] == "result"


@pytest.mark.slow
def test_replay_from_cache_with_the_server_stopped(tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    cache = tmp_path / "cache"
    with ScriptedLLM() as llm:
        llm.default(FAST, SUMMARY).default(EDIT, f"```python\n{BETTER}```")
        llm.script(MAIN, *EPISODE)
        _, first, rec1 = run(llm.url, tmp_path / "a", "--llm-cache", str(cache))
        url = llm.url
    _, second, rec2 = run(url, tmp_path / "b", "--llm-cache", str(cache))

    def view(records: list[dict]) -> list:
        keep = []
        for r in records:
            if r["type"] == "step":
                keep.append((r["action"], r["observation"], r["files"]))
            elif r["type"] == "llm":
                keep.append((r["model"], r["prompt"], r["completion"], r["prompt_tokens"], r["completion_tokens"], r["cost"]))
        return keep

    assert view(rec1) == view(rec2) and len(view(rec1)) > 8
    assert all(r["cached"] for r in rec2 if r["type"] == "llm") and not any(r["cached"] for r in rec1 if r["type"] == "llm")
    assert (first["score"], first["steps"]) == (second["score"], second["steps"])


@pytest.mark.slow
def test_resume_after_a_crash(llm, tmp_path):
    from mlgym.agents.research import ResearchAgent

    from mlgym.env.core import MLGymEnv
    from mlgym.core.errors import LLMError

    log_dir = tmp_path / "run"
    llm.script(MAIN, EPISODE[0], EPISODE[1], {"status": 400, "message": "the provider fell over"})
    args = runner.build_parser().parse_args([
        "--llm-name", MAIN, "--fast-llm-name", FAST, "--edit-script-llm-name", EDIT, "--llm-base-url", llm.url, "--profile", "mlgym"])
    env = MLGymEnv("digits", sandbox="local", log_dir=log_dir, work_dir=tmp_path / "ws", tools=ResearchAgent.tools_for(args))
    obs, info = env.reset(seed=0)
    with pytest.raises(LLMError, match="fell over"):
        ResearchAgent(args).run(env, obs, info)
    env.close()  # the process "died": no result
    assert not (log_dir / "result.json").exists()
    state = json.loads((log_dir / "agent_state.json").read_text())
    assert [s["step"] for s in state["steps"]] == [1, 2]

    llm.script(MAIN, *EPISODE[2:])
    rc, result, _ = run(llm.url, log_dir, "--resume", str(log_dir))
    assert rc == 0 and result["success"] is True and result["steps"] == 4
    first_after = llm.calls(MAIN)[3]["messages"][0]["content"]
    assert "Step 2:" in first_after and "Edit Script (AI)" in first_after and "LogisticRegression" in first_after


@pytest.mark.slow
def test_too_many_malformed_responses_give_up(llm, tmp_path):
    llm.script(MAIN, *["no format at all"] * 5)
    rc, result, _ = run(llm.url, tmp_path / "run")
    assert rc == 0 and result["reason"] == "agent_stopped" and result["steps"] == 0


def tool_call(name: str, args: dict) -> dict:
    return {"tool_calls": [{"name": name, "arguments": args}]}


TOOL_EPISODE = [
    tool_call("list_files", {"dir_path": "."}),
    "Let me think first.",  # no tool call: nudged
    tool_call("write_file", {"file_name": "train.py", "content": BETTER}),
    tool_call("execute_script", {"script_name": "train.py"}),
    tool_call("final_answer", {"final_answer": "logistic regression"}),
]


@pytest.mark.slow
@pytest.mark.parametrize("agent", ["tools", "langchain"])
def test_tool_calling_agents_complete_an_episode(llm, tmp_path, agent):
    llm.script(MAIN, *TOOL_EPISODE)
    rc, result, records = run(llm.url, tmp_path / "run", agent=agent)
    assert rc == 0 and result["success"] is True and result["reason"] == "final_answer" and result["steps"] == 4
    last = llm.calls(MAIN)[-1]
    names = {t["function"]["name"] for t in last["tools"]}
    assert {"list_files", "write_file", "execute_script", "final_answer"} <= names
    roles = [m["role"] for m in last["messages"]]
    assert roles[:2] == ["system", "user"] and roles.count("tool") == 3
    assert sum(r["type"] == "llm" for r in records) == 5


@pytest.mark.slow
def test_llm_tools_understand_in_token_chunks_and_undo_an_ai_edit(llm, tmp_path):
    from mlgym.env.core import MLGymEnv
    from mlgym.llm.client import RunLLMs
    from mlgym.env.tools.llm_tools import LLM_TOOLS

    env = MLGymEnv("digits", sandbox="local", log_dir=tmp_path / "log", work_dir=tmp_path / "ws", tools=("Undo Edit Script", "Write File", *LLM_TOOLS))
    try:
        args = argparse.Namespace(llm_name=FAST, fast_llm_name=None, edit_script_llm_name=EDIT, llm_base_url=llm.url)
        env.reset(seed=0, options={"llm_tools": RunLLMs.from_args(args).tool_options()})  # the tools' models, built in the env
        big = "".join(f"row {i}: " + "value " * 20 + "\n" for i in range(2000))  # ~50k tokens
        (env.workspace / "big.txt").write_text(big)  # larger than an action may be, so not via Write File
        n0 = len(llm.requests)
        obs, *_ = env.step({"name": "Understand File", "arguments": {"file_name": "big.txt", "things_to_look_for": "the largest row"}})
        calls = llm.requests[n0:]
        assert len(calls) == 12 + 1 and "Only the first 12 parts" in obs  # 12 chunks, then one combining call
        assert "lines 1 to" in calls[0]["body"]["messages"][0]["content"]
        original = (env.workspace / "train.py").read_text()
        obs, *_ = env.step({"name": "Edit Script Segment (AI)", "arguments": {
            "script_name": "train.py", "start_line_number": 1, "end_line_number": 3, "edit_instruction": "x", "save_name": "train.py"}})
        assert "Here is the diff" in obs and "LogisticRegression" in (env.workspace / "train.py").read_text()
        obs, *_ = env.step({"name": "Undo Edit Script", "arguments": {"script_name": "train.py"}})
        assert (env.workspace / "train.py").read_text() == original
        env.aside("Append Summary to Research Log", {"content": "Step 1: tried things"})
        obs, *_ = env.step({"name": "Reflection", "arguments": {"things_to_reflect_on": "what next"}})
        assert obs.startswith("Reflection: ") and "Step 1: tried things" in llm.requests[-1]["body"]["messages"][0]["content"]
        llm.script(EDIT, "no code here")
        obs, _, _, _, info = env.step({"name": "Edit Script (AI)", "arguments": {"script_name": "train.py", "edit_instruction": "x", "save_name": "t2.py"}})
        assert info["error"] and "did not return" in obs and not (env.workspace / "t2.py").exists()
    finally:
        env.close()


def test_missing_api_key_gives_one_line(capsys, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert runner.main(["--agent", "research", "--llm-name", "openai/gpt-4o-mini", "-q"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "OPENAI_API_KEY" in err and "\n" not in err
    assert runner.main(["--agent", "tools", "-q"]) == 2
    assert "--llm-name" in capsys.readouterr().err


@pytest.mark.slow
def test_research_prompt_stays_under_its_token_cap(llm):
    from mlgym.agents.research import ResearchAgent

    from mlgym.llm.client import count_tokens

    args = runner.build_parser().parse_args(["--llm-name", MAIN, "--llm-base-url", llm.url])
    agent = ResearchAgent(args)
    agent.prompt_token_cap = 3000
    agent._initial = agent.initial_prompt("Classify digits.", list(ResearchAgent.tools))
    sizes = []
    for i in range(60):
        long_plan = "\n".join(f"{k}. did thing {k}" for k in range(i * 5))
        agent.state["steps"].append({"step": i + 1, "response": react("List Files", {"dir_path": "."}, plan=long_plan), "observation": "output " * 5000})
        agent.state["retrieval"] = "earlier result " * (50 * i)
        sizes.append(count_tokens(agent.build_prompt()))
    assert max(sizes) <= 3000 and sizes[-1] > 1500
    assert "Step 60:" in agent.build_prompt()  # the latest step is always there
