"""The Gymnasium API: registration, reset/step, check_env, limits, results, traces."""

from __future__ import annotations

import json
import warnings

import gymnasium as gym
import pytest
from gymnasium.utils.env_checker import check_env

import mlgym
from mlgym.core.errors import MLGymError


@pytest.mark.slow
def test_registered_and_make(tmp_path):
    assert "mlgym/digits-v0" in gym.registry
    env = gym.make("mlgym/digits-v0", sandbox="local", log_dir=tmp_path / "log", work_dir=tmp_path / "ws")
    try:
        obs, info = env.reset(seed=0)
        assert "Research Problem" in obs and "Execute Script" in obs
        assert {t["function"]["name"] for t in info["tools"]} >= {"list_files", "execute_script", "final_answer"}
        obs, reward, terminated, truncated, info = env.step({"name": "List Files", "arguments": {"dir_path": "."}})
        assert obs.splitlines() == ["data/", "train.py"]
        assert (reward, terminated, truncated) == (0.0, False, False)
        obs, *_ = env.step('Action: Execute Script\nAction Input: {"script_name": "train.py"}')
        assert "wrote submission.csv" in obs
    finally:
        env.close()


@pytest.mark.slow
def test_check_env_passes_without_warnings(env_factory):
    env = env_factory(max_steps=50)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    assert [str(w.message) for w in caught] == []


def test_random_actions_give_error_observations(env_factory):
    env = env_factory()
    env.reset(seed=1)
    for _ in range(5):
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        assert obs.startswith("ActionError") and info["error"]
        assert reward == 0.0 and not terminated


@pytest.mark.slow
def test_baseline_episode_scores_and_writes_result(env_factory):
    env = env_factory()
    env.reset(seed=0)
    env.step({"name": "Execute Script", "arguments": {"script_name": "train.py"}})
    obs, reward, terminated, truncated, info = env.step({"name": "Final Answer", "arguments": {"final_answer": "done"}})
    assert terminated and not truncated
    result = json.loads((env.log_dir / "result.json").read_text())
    assert result["valid_submission"] and 0.5 < result["score"] < 1.0
    assert reward == pytest.approx(result["improvement"])
    assert result["improvement"] == pytest.approx((result["score"] - result["baseline"]) / result["baseline"])
    assert result["success"] is (result["improvement"] > 0.10)
    assert (env.log_dir / "trace.json").is_file() and (env.log_dir / "env.log").is_file()
    with pytest.raises(MLGymError):
        env.step({"name": "List Files", "arguments": {}})


@pytest.mark.slow
def test_better_model_succeeds(env_factory):
    env = env_factory()
    env.reset(seed=0)
    code = (
        "import pandas as pd\nfrom sklearn.svm import SVC\n"
        "tr = pd.read_csv('data/train.csv'); te = pd.read_csv('data/test.csv')\n"
        "m = SVC(gamma=0.001).fit(tr.drop(columns=['label']), tr['label'])\n"
        "pd.DataFrame({'id': te['id'], 'label': m.predict(te.drop(columns=['id']))}).to_csv('submission.csv', index=False)\n"
    )
    env.step({"name": "Write File", "arguments": {"file_name": "train.py", "content": code}})
    env.step({"name": "Execute Script", "arguments": {"script_name": "train.py"}})
    _, reward, terminated, _, info = env.step({"name": "Final Answer", "arguments": {"final_answer": "SVC"}})
    assert terminated and info["result"]["success"] and reward > 0.10


def test_step_limit_truncates_and_scores_missing_submission(env_factory):
    env = env_factory(max_steps=2)
    env.reset(seed=0)
    _, _, terminated, truncated, _ = env.step({"name": "List Files", "arguments": {}})
    assert not (terminated or truncated)
    _, reward, terminated, truncated, info = env.step({"name": "List Files", "arguments": {}})
    assert truncated and not terminated and reward == 0.0
    assert info["result"]["reason"] == "max_steps"
    assert info["result"]["valid_submission"] is False and "no submission" in info["result"]["error"]


def test_invalid_submission_is_reported(env_factory):
    env = env_factory()
    env.reset(seed=0)
    env.step({"name": "Write File", "arguments": {"file_name": "submission.csv", "content": "id,wrong\n1,2\n"}})
    _, reward, *_, info = env.step({"name": "Final Answer", "arguments": {"final_answer": "x"}})
    assert reward == 0.0 and "needs columns id,label" in info["result"]["error"]


def test_hidden_eval_not_in_workspace(env_factory):
    env = env_factory()
    _, info = env.reset(seed=0)
    names = {p.name for p in env.workspace.rglob("*")}
    assert "eval.py" not in names and "prepare.py" not in names and "test_labels.csv" not in names


def test_unknown_task_is_one_line_error():
    with pytest.raises(MLGymError, match="unknown task 'nope'; known tasks: .*digits"):
        mlgym.make("nope")
    with pytest.raises(gym.error.Error):
        gym.make("mlgym/nope-v0")


def test_reset_twice_gives_fresh_workspace_and_new_log(env_factory):
    env = env_factory()
    env.reset(seed=0)
    first_ws, first_log = env.workspace, env.log_dir
    env.step({"name": "Write File", "arguments": {"file_name": "x.txt", "content": "x"}})
    env.reset(seed=1)
    assert env.workspace != first_ws and env.log_dir != first_log
    assert not (env.workspace / "x.txt").exists()


@pytest.mark.slow
def test_time_limit_caps_a_running_script_and_truncates(env_factory):
    import time

    env = env_factory(max_time=3)
    env.reset(seed=0)
    env.step({"name": "Write File", "arguments": {"file_name": "slow.py", "content": "import time\ntime.sleep(30)\n"}})
    t0 = time.monotonic()
    obs, reward, terminated, truncated, info = env.step({"name": "Execute Script", "arguments": {"script_name": "slow.py"}})
    assert time.monotonic() - t0 < 10
    assert "killed after the time limit" in obs
    assert truncated and not terminated and info["result"]["reason"] == "max_time"


def test_device_flag_reaches_the_sandbox(env_factory):
    env = env_factory(device="0")
    env.reset(seed=3)
    env.step({"name": "Write File", "arguments": {"file_name": "d.py",
                                                  "content": "import os\nprint(os.environ.get('CUDA_VISIBLE_DEVICES'), os.environ.get('MLGYM_SEED'))\n"}})
    obs, *_ = env.step({"name": "Execute Script", "arguments": {"script_name": "d.py"}})
    assert "0 3" in obs


@pytest.mark.slow
def test_async_vector_env_runs_episodes_in_parallel(tmp_path):
    envs = gym.vector.AsyncVectorEnv(
        [lambda i=i: gym.make("mlgym/digits-v0", log_dir=tmp_path / f"run{i}", work_dir=tmp_path / "ws") for i in range(2)],
        shared_memory=False,  # Text observations cannot live in shared memory
    )
    try:
        obs, _ = envs.reset(seed=[0, 1])
        assert all(o.startswith("Research Problem") for o in obs)
        obs, reward, terminated, truncated, _ = envs.step(
            [{"name": "List Files", "arguments": {}}, 'Action: Execute Script\nAction Input: {"script_name": "train.py"}'])
        assert obs[0] == "data/\ntrain.py" and "wrote submission.csv" in obs[1]
        assert list(reward) == [0.0, 0.0] and not any(terminated)
    finally:
        envs.close()
    assert (tmp_path / "run0" / "trace.jsonl").is_file() and (tmp_path / "run1" / "trace.jsonl").is_file()


def test_symlinked_submission_is_not_followed(env_factory, tmp_path):
    secret = tmp_path / "host_secret.csv"
    secret.write_text("id,label\nTOP,SECRET\n")
    env = env_factory()
    env.reset(seed=0)
    (env.workspace / "submission.csv").symlink_to(secret)
    _, reward, *_, info = env.step({"name": "Final Answer", "arguments": {"final_answer": "x"}})
    assert reward == 0.0 and "symbolic link" in info["result"]["error"]
    assert "SECRET" not in (env.log_dir / "result.json").read_text()


@pytest.mark.slow
def test_python_flag_uses_another_interpreter(env_factory, tmp_path):
    import subprocess
    import sys

    venv = tmp_path / "otherpy"
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", str(venv)], check=True)
    env = env_factory(python=str(venv / "bin" / "python"))
    env.reset(seed=0)
    env.step({"name": "Write File", "arguments": {"file_name": "w.py", "content": "import sys\nprint(sys.prefix)\n"}})
    obs, *_ = env.step({"name": "Execute Script", "arguments": {"script_name": "w.py"}})
    assert str(venv) in obs
    zeros = (  # stdlib only: the other interpreter has no pandas
        "import csv\nids = [r['id'] for r in csv.DictReader(open('data/test.csv'))]\n"
        "w = csv.writer(open('submission.csv', 'w', newline=''))\nw.writerow(['id', 'label'])\nw.writerows([i, 0] for i in ids)\n"
    )
    env.step({"name": "Write File", "arguments": {"file_name": "zeros.py", "content": zeros}})
    env.step({"name": "Execute Script", "arguments": {"script_name": "zeros.py"}})
    *_, info = env.step({"name": "Final Answer", "arguments": {"final_answer": "x"}})
    assert info["result"]["valid_submission"], info["result"]["error"]  # eval ran with it too
    assert 0.05 < info["result"]["score"] < 0.2
