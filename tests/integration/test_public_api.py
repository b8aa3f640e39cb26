"""Agents through the public API only: each env in a worker process (mlgym.runs.rollout), the agent here.

Agents say everything besides their actions through the env's public methods (``record_llm_calls``,
``set_run_info``, ``report_llm_usage``, ``configure_llm_tools``, ``end_episode``, ``aside``), proxied to the
worker; the old dict side channel still works, with a DeprecationWarning (the last tests here)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from llm_server import ScriptedLLM

from mlgym.runs.rollout import run_agents
from mlgym.runlog.trace import load

MAIN = "openai/test-model"
BETTER = ("import pandas as pd\nfrom sklearn.svm import SVC\n"
          "tr = pd.read_csv('data/train.csv'); te = pd.read_csv('data/test.csv')\n"
          "m = SVC(gamma=0.001).fit(tr.drop(columns=['label']), tr['label'])\n"
          "pd.DataFrame({'id': te['id'], 'label': m.predict(te.drop(columns=['id']))}).to_csv('submission.csv', index=False)\n")


def call(name: str, args: dict) -> dict:
    return {"tool_calls": [{"name": name, "arguments": args}]}


@pytest.fixture
def llm(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with ScriptedLLM() as server:
        yield server


def test_tools_agent_in_a_worker_process(llm, tmp_path):
    llm.script(MAIN, call("list_files", {"dir_path": "."}), "Thinking.", call("write_file", {"file_name": "train.py", "content": BETTER}),
               call("execute_script", {"script_name": "train.py"}), call("final_answer", {"final_answer": "SVC"}))
    [ep] = run_agents("digits", "tools", 1, seed=0, log_dir=tmp_path / "r", work_dir=tmp_path / "ws",
                      agent_argv=["--llm-name", MAIN, "--llm-base-url", llm.url])
    assert ep.result is not None and ep.result["success"] and ep.result["reason"] == "final_answer"
    assert ep.result["llm_calls"] == 5 and ep.result["agent"] == "tools"
    records = load(ep.log_dir).records
    kinds = [r["type"] for r in records]
    assert kinds.count("llm") == 5 and kinds.index("llm") < kinds.index("step")  # each call before the step it chose
    assert kinds[-2:] == ["step", "result"] and load(ep.log_dir).steps[-1]["reward"] == ep.result["reward"]
    first_prompt = llm.calls(MAIN)[0]["messages"][1]["content"]
    assert "Research Problem" in first_prompt and "Action Input" not in first_prompt  # info's task_description


def test_tools_agent_budget_ends_the_episode(llm, tmp_path):
    llm.script(MAIN, *[call("list_files", {"dir_path": "."})] * 5)
    [ep] = run_agents("digits", "tools", 1, seed=0, log_dir=tmp_path / "r", work_dir=tmp_path / "ws",
                      agent_argv=["--llm-name", MAIN, "--llm-base-url", llm.url, "--max-tokens", "1500"])
    assert ep.result is not None and ep.result["reason"] == "budget"
    last = load(ep.log_dir).steps[-1]
    assert last["observation"] == "The agent ended the episode (budget)." and last["action"]["name"] is None


@pytest.mark.parametrize("agent", ["baseline", "search"])
def test_scripted_agents_in_worker_processes(agent, tmp_path):
    eps = run_agents("digits", agent, 2, seed=4, log_dir=tmp_path / "r", work_dir=tmp_path / "ws", max_steps=7)
    for ep in eps:
        result = json.loads((ep.log_dir / "result.json").read_text())
        assert result["agent"] == agent and result["seed"] == ep.seed and result["reason"] == "final_answer"
    if agent == "search":  # seed 4's one edit is a model swap
        assert eps[0].result is not None and eps[0].result["success"]


def test_agent_notes_cannot_rewrite_the_result(env_factory):
    env = env_factory(max_steps=1)
    env.reset(seed=0)
    env.set_run_info({"reward": 99.0, "success": True, "note": "n"})
    env.record_llm_calls([{"type": "step", "model": "m", "completion": "x"}, "junk"])
    *_, info = env.step({"name": "List Files", "arguments": {}})
    assert info["result"]["reward"] == 0.0 and info["result"]["success"] is False and info["result"]["note"] == "n"
    llm = [r for r in load(env.log_dir).records if r["type"] == "llm"]
    assert llm == [{"type": "llm", "model": "m", "completion": "x", "time": llm[0]["time"]}]


def test_deprecated_dict_notes_still_work_and_warn(env_factory):
    """The old side channel (notes inside dict actions) maps onto the public methods: same trace, same result."""
    env = env_factory(max_steps=2)
    env.reset(seed=0)
    with pytest.warns(DeprecationWarning, match="deprecated"):
        _obs, _r, _t, _tr, info = env.step({"name": "List Files", "arguments": {}, "run_info": {"reward": 99.0, "note": "n"},
                                            "llm_calls": [{"type": "step", "model": "m", "completion": "x"}, "junk"]})
    assert not info["error"] and info["step"] == 1
    obs, *_, info = env.step({"aside": {"name": "List Files", "arguments": {}}})  # warns once per env only
    assert info["error"] and info.get("aside") and "between steps" in obs and info["step"] == 1
    _obs, reward, _t, truncated, info = env.step({"end": "budget"})
    assert truncated and info["result"]["reason"] == "budget" and info["result"]["note"] == "n" and reward == 0.0
    trace = load(env.log_dir)
    assert [r["type"] for r in trace.records] == ["reset", "llm", "step", "aside", "step", "result"]
    assert trace.steps[-1]["observation"] == "The agent ended the episode (budget)."


def test_langchain_tool_calling_agent_in_a_worker_process(llm, tmp_path):
    llm.script(MAIN, call("write_file", {"file_name": "train.py", "content": BETTER}),
               call("execute_script", {"script_name": "train.py"}), call("final_answer", {"final_answer": "SVC"}))
    [ep] = run_agents("digits", "langchain", 1, seed=0, log_dir=tmp_path / "r", work_dir=tmp_path / "ws",
                      agent_argv=["--llm-name", MAIN, "--llm-base-url", llm.url, "--langchain-agent", "tool-calling"])
    assert ep.result is not None and ep.result["success"] and ep.result["llm_calls"] == 3
    assert [r["type"] for r in load(ep.log_dir).records].count("llm") == 3


@pytest.mark.parametrize("agent", ["baseline", "search", "tools", "langchain"])
def test_agents_inside_gymnasium_async_vector_env(agent, llm, tmp_path):
    llm.script(MAIN, call("write_file", {"file_name": "train.py", "content": BETTER}),
               call("execute_script", {"script_name": "train.py"}), call("final_answer", {"final_answer": "SVC"}))
    result = _async_episode(tmp_path, agent, ["--llm-name", MAIN, "--llm-base-url", llm.url, "--langchain-agent", "tool-calling"],
                            {"id": "mlgym/digits-v0", "max_steps": 7}, seed=4)
    assert result["reason"] == "final_answer" and result["success"] is (agent != "baseline")


# ------------------------------------------------------------------ the research agent and langchain's ReAct mode
# Their LLM-backed tools (Understand File, Edit Script (AI), the research log) run in the env's process, with
# models it builds from the agent's llm_tools; the agent's own calls travel with its actions.
FAST, EDIT = "openai/fast-model", "openai/edit-model"
LLM_STEPS = [
    ("Understand File", {"file_name": "train.py", "things_to_look_for": "the model"}),
    ("Edit Script (AI)", {"script_name": "train.py", "edit_instruction": "use an SVC", "save_name": "train.py"}),
    ("Execute Script", {"script_name": "train.py"}),
    ("List Files", {"dir_path": "."}),
    ("Final Answer", {"final_answer": "SVC"}),
]
PROFILES = {  # case -> (agent, its flags)
    "research-mlagentbench": ("research", ["--profile", "mlagentbench", "--retrieval"]),
    "research-mlgym": ("research", ["--profile", "mlgym"]),
    "langchain-react": ("langchain", ["--langchain-agent", "zero-shot-react-description"]),
}


def script_research(llm, case: str) -> list[str]:
    """The model's side of one episode; returns the runner flags of the case."""
    llm.default(FAST, "[Reasoning]: checked.\n[Action]: ran the tool.\n[Observation]: the model is a logistic regression.")
    llm.default(EDIT, f"```python\n{BETTER}```")
    if case == "langchain-react":
        turns = [f"Thought: go on\nAction: {n}\nAction Input: {json.dumps(a)}" for n, a in LLM_STEPS[:-1]]
        turns.append("Thought: I now know the final answer\nFinal Answer: SVC")
    else:
        turns = [f"Reflection: fine.\nResearch Plan and Status: 1. **improve**\nFact Check: none.\nThought: go on.\n"
                 f"Action: {n}\nAction Input: {json.dumps(a)}\n" for n, a in LLM_STEPS]
    llm.script(MAIN, *turns)
    return ["--llm-name", MAIN, "--fast-llm-name", FAST, "--edit-script-llm-name", EDIT, "--llm-base-url", llm.url, *PROFILES[case][1]]


def check_research_episode(llm, case: str, result: dict, log_dir) -> None:
    assert result is not None and result["success"] and result["reason"] == "final_answer", result
    assert result["agent"] == PROFILES[case][0] and result["tool_llms"]["fast"]["model"] == FAST
    assert result["llm_calls"] == len(llm.requests)  # the agent's calls and the env's tools' calls, one budget
    trace = load(log_dir)
    llm_records = [r for r in trace.records if r["type"] == "llm"]
    assert len(llm_records) == len(llm.requests)
    purposes = [r["purpose"] for r in llm_records]
    assert "Understand File 1/1" in purposes and "Edit Script (python script)" in purposes  # made in the env's process
    assert "sk-test" not in (log_dir / "trace.jsonl").read_text()  # no key in the trace
    names = [s["action"]["name"] for s in trace.steps]
    asides = [r["action"]["name"] for r in trace.records if r["type"] == "aside"]
    if case == "research-mlagentbench":  # --retrieval: the research log's tools are env steps, as in MLAgentBench
        assert names.count("Append Summary to Research Log") == 4 and names.count("Retrieval from Research Log") == 1
        assert not asides and "backup/" in trace.steps[names.index("List Files")]["observation"]
    elif case == "research-mlgym":  # the research log between steps, not steps
        assert names == [n for n, _ in LLM_STEPS]
        assert asides == ["Append Summary to Research Log"] * 4 + ["Retrieval from Research Log"]
        [retrieval] = [b["messages"][0]["content"] for b in llm.calls(FAST) if "Research log:" in b["messages"][0]["content"]]
        assert "Step 4:\n[Reasoning]: checked." in retrieval  # appended through the env, read back by its tool
        summary = [r for r in trace.records if r["type"] == "aside"][-1]["observation"]
        assert summary.startswith("[Reasoning]: checked.") and summary in llm.calls(MAIN)[-1]["messages"][0]["content"]
    else:
        assert names == [n for n, _ in LLM_STEPS] and not asides


@pytest.mark.parametrize("case", list(PROFILES))
def test_research_and_react_agents_in_a_worker_process(case, llm, tmp_path):
    argv = script_research(llm, case)
    [ep] = run_agents("digits", PROFILES[case][0], 1, seed=0, log_dir=tmp_path / "r", work_dir=tmp_path / "ws", agent_argv=argv)
    check_research_episode(llm, case, ep.result, ep.log_dir)


@pytest.mark.parametrize("case", list(PROFILES))
def test_research_and_react_agents_inside_gymnasium_async_vector_env(case, llm, tmp_path):
    import gymnasium as gym

    from mlgym.agents import load_agent
    from mlgym.agents.options import agent_tools
    from mlgym.runs.rollout import VectorSlot
    from mlgym.runs.runner import build_parser

    agent = PROFILES[case][0]
    args = build_parser().parse_args(["--agent", agent, *script_research(llm, case)])
    cls = load_agent(agent)
    tools = agent_tools(cls, args)
    envs = gym.vector.AsyncVectorEnv(
        [lambda: gym.make("mlgym/digits-v0", log_dir=tmp_path / "r", work_dir=tmp_path / "ws", tools=tools)], shared_memory=False)
    try:
        slot = VectorSlot(envs)
        obs, info = slot.reset(seed=0, options={"run_info": {"agent": agent}})
        result = cls(args).run(slot, obs, info)
    finally:
        envs.close()
    check_research_episode(llm, case, result, tmp_path / "r")


def test_llm_tools_share_the_agents_budget_and_refuse_bad_settings(llm, env_factory):
    import argparse

    from mlgym.llm.client import RunLLMs

    args = argparse.Namespace(llm_name=MAIN, fast_llm_name=FAST, edit_script_llm_name=None, llm_base_url=llm.url, max_tokens=3000)
    options = RunLLMs.from_args(args).tool_options()
    assert options["max_tokens"] == 3000 and "sk-test" not in json.dumps(options)
    llm.default(FAST, "train.py trains a logistic regression.")
    env = env_factory(tools=("Understand File", "List Files"))
    env.reset(seed=0, options={"llm_tools": options})
    understand = {"name": "Understand File", "arguments": {"file_name": "train.py", "things_to_look_for": "the model"}}
    obs, _r, _t, _tr, info = env.step(understand)
    assert obs == "train.py trains a logistic regression." and info["tool_llm_usage"]["calls"] == 1
    # the agent says it has spent nearly all of the budget itself: the tool's model is not called
    n = len(llm.requests)
    env.report_llm_usage({"calls": 9, "tokens": 2990, "cost": 0.0})
    obs, _r, _t, _tr, info = env.step(understand)
    assert info["error"] and "token budget spent" in obs and len(llm.requests) == n
    problem = env.configure_llm_tools({**options, "api_key": "sk-secret"})
    assert problem is not None and "unknown llm_tools keys ['api_key']" in problem
    obs, info = env.aside("List Files", {})
    assert info["error"] and info["step"] == 2 and "between steps" in obs
    text = (env.log_dir / "trace.jsonl").read_text()
    assert "sk-secret" not in text and '"type": "aside"' in text


# ------------------------------------------------------------------ the other built-in agents: aide, oracle, automl
def _async_episode(tmp_path, agent: str, argv: list[str], make_kwargs: dict, seed: int = 0) -> dict:
    """One episode of ``agent`` with its env inside a gymnasium AsyncVectorEnv (through VectorSlot)."""
    import gymnasium as gym

    from mlgym.agents import load_agent
    from mlgym.runs.rollout import VectorSlot
    from mlgym.runs.runner import build_parser

    args = build_parser().parse_args(["--agent", agent, *argv])
    kwargs = {k: v for k, v in make_kwargs.items() if k != "id"}
    envs = gym.vector.AsyncVectorEnv(
        [lambda: gym.make(make_kwargs["id"], log_dir=tmp_path / "r", work_dir=tmp_path / "ws", **kwargs)],
        shared_memory=False)
    try:
        slot = VectorSlot(envs)
        obs, info = slot.reset(seed=seed, options={"run_info": {"agent": agent}})
        result = load_agent(agent)(args).run(slot, obs, info)
    finally:
        envs.close()
    assert result is not None and result["agent"] == agent, result
    trace = load(tmp_path / "r")
    assert trace.steps[-1]["reward"] == result["reward"] and trace.result["run_id"] == result["run_id"]
    return result


def test_aide_agent_inside_gymnasium_async_vector_env(monkeypatch, tmp_path):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "agents"))  # test_aide_agent's scripted model
    from test_aide_agent import MAIN as AIDE_MODEL
    from test_aide_agent import reply

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    reply.drafts = 0
    with ScriptedLLM() as server:
        server.default(AIDE_MODEL, reply)
        result = _async_episode(tmp_path, "aide", ["--llm-name", AIDE_MODEL, "--llm-base-url", server.url],
                                {"id": "mlgym/digits-v0", "max_steps": 11})
        assert len(server.requests) == 3
    assert result["reason"] == "final_answer" and result["success"]


def test_oracle_agent_inside_gymnasium_async_vector_env(monkeypatch, tmp_path):
    import mlbench_fixtures

    rows = mlbench_fixtures.build(tmp_path / "fx")
    monkeypatch.setenv("MLGYM_MLBENCH", str(rows))
    monkeypatch.setenv("MLGYM_MLBENCH_REPOS", str(tmp_path / "fx" / "repos"))
    result = _async_episode(tmp_path, "oracle", [], {"id": "mlgym/mlbench-v0", "task": "mlbench-1"})
    assert result["score"] == 1.0 and result["reason"] == "final_answer"


def test_automl_agent_inside_gymnasium_async_vector_env(monkeypatch, tmp_path):
    from amlb_openml_cache import SHARED, write_cache

    if not (SHARED / "kc2_train.arff").is_file():
        pytest.skip(f"AMLB test resources missing in {SHARED}")
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("OPENML_CACHE_DIR", str(write_cache(tmp_path / "openml")))
    result = _async_episode(tmp_path, "automl", ["--framework", "sklearn"],
                            {"id": "mlgym/amlb-v0", "task": "amlb/test/kc2/0", "exec_timeout": 120})
    assert result["valid_submission"] and result["score"] > 0.5, result
