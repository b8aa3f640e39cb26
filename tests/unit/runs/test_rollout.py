"""``mlgym.runs.rollout``: episodes in worker processes, a batched policy that never waits for a slow one, agents in threads."""

from __future__ import annotations

import pytest

import json

from mlgym import cli
from mlgym.rollout import rollout
from mlgym.runlog.trace import load

SLOW = "import time\ntime.sleep(4)\nprint('slept')\n"


PLANS = {
    "slow": [{"name": "Write File", "arguments": {"file_name": "slow.py", "content": SLOW}},
             {"name": "Execute Script", "arguments": {"script_name": "slow.py"}}],
    # Cheap steps: on a loaded machine a CPU-bound step (train.py) can outlast the slow one's sleep.
    "fast": [{"name": "List Files", "arguments": {}},
             {"name": "Inspect Script Lines", "arguments": {"script_name": "train.py", "start_line_number": 1, "end_line_number": 5}}],
}


def policy_factory(calls):
    """Episode 0 runs a 4 s script; the others take two cheap steps; all then answer (one action per row)."""
    def policy(observations, infos):
        calls.append([i["episode"] for i in infos])
        plans = [PLANS["slow" if i["episode"] == 0 else "fast"] for i in infos]
        return [plan[i["step"]] if i["step"] < len(plan) else {"name": "Final Answer", "arguments": {"final_answer": "done"}}
                for plan, i in zip(plans, infos)]
    return policy


def _steps(log_dir):
    return [(s["action"], s["observation"], s["reward"]) for s in load(log_dir).steps]


@pytest.mark.slow
def test_batched_policy_is_not_held_by_a_slow_episode_and_is_reproducible(tmp_path):
    calls: list[list[int]] = []
    eps = rollout("digits", policy_factory(calls), 3, seed=5, log_dir=tmp_path / "a", work_dir=tmp_path / "ws", run_info={"agent": "p"})
    assert [e.seed for e in eps] == [5, 6, 7] and all(e.result and e.result["episode_finished"] for e in eps)
    for e in eps:
        trace = load(e.log_dir)
        assert trace.reset["seed"] == e.seed and trace.result["agent"] == "p"
        assert [s["reward"] for s in trace.steps] == e.rewards and e.rewards[-1] == e.result["reward"]
    assert eps[0].wall_time > 4
    last_with_0 = max(i for i, batch in enumerate(calls) if 0 in batch)
    assert any(0 not in batch for batch in calls[:last_with_0])  # the others were served while episode 0 slept
    again = rollout("digits", policy_factory([]), 3, seed=5, log_dir=tmp_path / "b", work_dir=tmp_path / "ws2")
    assert [_steps(e.log_dir) for e in again] == [_steps(e.log_dir) for e in eps]


@pytest.mark.slow
def test_rollout_command_runs_agents_in_workers(tmp_path, capsys):
    assert cli.main(["rollout", "--agent", "baseline", "-n", "2", "--seed", "3", "--log-dir", str(tmp_path / "r"),
                     "--work-dir", str(tmp_path / "ws")]) == 0
    out = capsys.readouterr().out
    assert "2 episodes in" in out and "ep001 seed 4" in out
    results = [json.loads((tmp_path / "r" / f"ep00{i}" / "result.json").read_text()) for i in range(2)]
    assert [r["seed"] for r in results] == [3, 4] and all(r["agent"] == "baseline" and r["steps"] == 3 for r in results)


def _by_turn(body):
    """The scripted model answers by the conversation's length: run the starter, think once, submit."""
    turn = len(body["messages"]) // 2
    if turn == 1:
        return 'Action: Execute Script\nAction Input: {"script_name": "train.py"}'
    return "Let me think." if turn == 2 else 'Action: Final Answer\nAction Input: {"final_answer": "the starter"}'


@pytest.mark.slow
def test_llm_policy_batches_and_replays_from_its_cache(tmp_path, monkeypatch):
    from llm_server import ScriptedLLM

    from mlgym.runs.llm_policy import LLMPolicy

    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    with ScriptedLLM() as llm:
        llm.default("openai/test-model", _by_turn)
        first = rollout("digits", LLMPolicy("openai/test-model", base_url=llm.url, cache=tmp_path / "cache"), 2, seed=0,
                        log_dir=tmp_path / "a", work_dir=tmp_path / "ws")
        assert len(llm.requests) == 6
        url = llm.url
    again = rollout("digits", LLMPolicy("openai/test-model", base_url=url, cache=tmp_path / "cache"), 2, seed=0,
                    log_dir=tmp_path / "b", work_dir=tmp_path / "ws2")  # the server is gone: replies from the cache
    assert [_steps(e.log_dir) for e in again] == [_steps(e.log_dir) for e in first]
    for e in first:
        trace = load(e.log_dir)
        assert [r["type"] for r in trace.records] == ["reset", "llm", "step", "step", "llm", "llm", "step", "result"]
        assert trace.steps[1]["observation"].startswith("ActionError") and e.result["reason"] == "final_answer"
