"""verifiers (issue 26): `load_environment` evaluated by verifiers' own evaluate_sync against the scripted
OpenAI-compatible server (native tool calls): 2 seeds x a group of 2 rollouts; the rubric's rewards are
exactly the rewards in the runs' result.json and traces."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llm_server import ScriptedLLM

vf = pytest.importorskip("verifiers")
pytestmark = pytest.mark.timeout(300)

PLAN = [("list_files", {}), ("execute_script", {"script_name": "train.py"}), ("final_answer", {"final_answer": "baseline"})]


def _policy(body: dict) -> dict:
    """Answers by the number of tool results so far (safe with rollouts in parallel)."""
    assert body.get("tools"), "the env's tools were not sent"
    n = sum(1 for m in body["messages"] if m.get("role") == "tool")
    name, args = PLAN[min(n, len(PLAN) - 1)]
    return {"tool_calls": [{"name": name, "arguments": args}], "content": None}


def test_verifiers_evaluates_an_mlgym_env_with_the_traces_rewards(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlgym.integrations.verifiers import load_environment
    from mlgym.runlog.trace import load

    env = load_environment(task="digits", seeds=[0, 1], max_turns=10, log_dir=str(tmp_path / "vf"))
    monkeypatch.setenv("SCRIPTED_KEY", "sk-test")
    with ScriptedLLM() as llm:
        llm.default("test-model", _policy)
        out = env.evaluate_sync(client=vf.ClientConfig(api_base_url=llm.url, api_key_var="SCRIPTED_KEY"),
                                model="test-model", num_examples=-1, rollouts_per_example=2, max_concurrent=4)
        tools = [t["function"]["name"] for t in llm.requests[0]["body"]["tools"]]
    assert "final_answer" in tools and "execute_script" in tools
    outputs = out["outputs"] if isinstance(out, dict) else out.outputs
    rewards = sorted(float(o["reward"]) for o in outputs)
    runs = sorted((tmp_path / "vf").glob("r*/result.json"))
    results = [json.loads(p.read_text()) for p in runs]
    assert len(rewards) == 4 and len(results) == 4
    assert rewards == sorted(r["reward"] for r in results)
    assert all(r["reason"] == "final_answer" and r["valid_submission"] for r in results)
    assert sorted(r["seed"] for r in results) == [0, 0, 1, 1]  # a group of two per seed
    for p in runs:  # the trace's last step reward is the episode's
        assert load(p.parent).steps[-1]["reward"] == json.loads(p.read_text())["reward"]
