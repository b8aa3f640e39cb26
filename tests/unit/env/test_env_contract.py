"""Issue 20: the env's honest contract (action space, public methods), per-episode logs, typed versioned records."""

from __future__ import annotations

import pytest

import json
import warnings

from mlgym.env.spaces import ActionSpace
from mlgym.runlog.records import SCHEMA_VERSION, Result, StepRecord, parse_record
from mlgym.runlog.trace import load


def test_action_space_contains_tool_calls_and_text():
    space = ActionSpace(max_length=1000, sample_names=["List Files"])
    assert space.contains({"name": "List Files", "arguments": {"dir_path": "."}})
    assert space.contains({"name": "Execute Script", "arguments": '{"script_name": "a.py"}'})
    assert space.contains({"name": "List Files"}) and space.contains("Action: List Files\nAction Input: {}")
    assert not space.contains({"name": "List Files", "llm_calls": []}) and not space.contains({"end": "budget"})
    assert not space.contains("x" * 1001) and not space.contains(3) and not space.contains({"name": 1, "arguments": {}})
    space.seed(0)
    assert all(space.contains(space.sample()) for _ in range(20))


@pytest.mark.slow
def test_env_action_space_and_check_env(env_factory):
    from gymnasium.utils.env_checker import check_env

    env = env_factory()
    assert env.action_space.contains({"name": "List Files", "arguments": {"dir_path": "."}})
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    assert not [w for w in caught if "gymnasium" in str(w.filename) or "mlgym" in str(w.message)], [str(w.message) for w in caught]


def test_two_envs_each_log_only_their_own_episode(env_factory, tmp_path):
    a, b = env_factory(log_dir=tmp_path / "a"), env_factory(log_dir=tmp_path / "b")
    a.reset(seed=0)
    b.reset(seed=1)
    a.step({"name": "List Files", "arguments": {}})
    b.step({"name": "Read File", "arguments": {"file_name": "nope.txt"}})
    la, lb = (tmp_path / "a" / "env.log").read_text(), (tmp_path / "b" / "env.log").read_text()
    assert a.run_id in la and b.run_id not in la and "List Files" in la and "Read File" not in la
    assert b.run_id in lb and a.run_id not in lb and "Read File" in lb and "List Files" not in lb


def test_public_methods_and_versioned_records(env_factory):
    env = env_factory()
    env.reset(seed=0, options={"run_info": {"agent": "t"}})
    env.record_llm_calls([{"model": "m", "purpose": "p", "completion": "c"}, "junk"])
    env.set_run_info({"reward": 99.0, "note": "n"})  # a result key is never replaced
    assert env.configure_llm_tools({"api_key": "x"}) is not None  # refused, not raised
    obs, info = env.aside("List Files", {})
    assert info["error"] and "between steps" in obs
    obs, reward, terminated, truncated, info = env.end_episode("budget")
    assert truncated and not terminated and obs == "The agent ended the episode (budget)."
    result = json.loads((env.log_dir / "result.json").read_text())
    assert result["version"] == SCHEMA_VERSION and result["reason"] == "budget" and result["note"] == "n" and result["reward"] != 99.0
    model = Result.from_dict(result)
    assert model.reason == "budget" and model.extra["agent"] == "t" and model.metrics is not None
    assert list(model.to_dict().items()) == list(result.items())  # the env writes result.json through this model
    assert trace_schemas(env.log_dir) == info["tools"]  # the reset record keeps the schemas the agent saw
    trace = load(env.log_dir)
    assert trace.version == SCHEMA_VERSION
    kinds = [type(r).__name__ for r in trace.typed()]
    assert kinds[:3] == ["ResetRecord", "LLMRecord", "AsideRecord"] and "StepRecord" in kinds and kinds[-1] == "ResultRecord"
    assert (env.log_dir / "trace.json").is_file()  # the MLAgentBench run exporter


def test_old_records_still_load():
    old = {"type": "reset", "task": "digits", "run_id": "r", "seed": 0, "time": 1.0}
    rec = parse_record(old)
    assert rec.version == 0 and rec.task == "digits"  # type: ignore[attr-defined]
    step = parse_record({"type": "step", "step": 1, "action": {"name": "x", "arguments": {}}, "observation": "o", "reward": 0.0,
                         "note": 1})
    assert isinstance(step, StepRecord) and step.extra == {"note": 1}
    assert Result.from_dict({"task": "digits", "reward": 0.5}).version == 0


def trace_schemas(log_dir):
    return (load(log_dir).reset or {}).get("tool_schemas")


def test_result_model_keeps_the_keys_and_their_order():
    graded = {"task": "t", "metric": "acc", "direction": "higher", "score": 0.9, "baseline": 0.8, "baseline_source": "yaml",
              "improvement": 0.125, "success": True, "valid_submission": True, "error": None, "metrics": {}, "rank": 3}
    res = Result.from_dict(graded)
    assert res.details == {"rank": 3} and res.eval_seconds is None and res.version == 0
    res.run_id, res.reason, res.version = "r", "final_answer", SCHEMA_VERSION
    res.add_run_info({"agent": "a", "label": "L", "reward": 99.0, "agent_config": {"x": 1}})
    out = res.to_dict()
    assert list(out)[:12] == list(graded) and out["reward"] == 0.0 and res.label == "L" and res.agent_config == {"x": 1}
    assert list(out)[-3:] == ["agent", "label", "agent_config"] and "eval_seconds" not in out
    assert Result.from_dict(out).to_dict() == out


def test_env_options_group_the_keyword_arguments():
    from mlgym.env.core import EnvOptions, MLGymEnv

    env = MLGymEnv("digits", options=EnvOptions(max_steps=3, reward_mode="final", sandbox="local-plain"), max_steps=4)
    assert env.max_steps == 4 and env.sandbox_kind == "local-plain" and env.options.max_steps == 4
    assert MLGymEnv("digits").options == EnvOptions()
