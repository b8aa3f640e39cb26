"""`mlgym serve` (issue 26): OpenEnv's own GenericEnvClient, sync and async, completes digits episodes
against the server; the final reward equals the one `gym.make("mlgym/digits-v0")` gives for the same
actions, result.json is written on the server side, and 8 sessions run at once."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import gymnasium as gym
import pytest

from rl_helpers import mlgym_serve

pytest.importorskip("openenv")
pytestmark = pytest.mark.timeout(300)

TRAIN = {"name": "execute_script", "arguments": {"script_name": "train.py"}}
FINAL = {"name": "Final Answer", "arguments": {"final_answer": "baseline"}}


def _in_process(tmp_path: Path) -> tuple[float, dict]:
    import mlgym  # noqa: F401 - registers mlgym/<task>-v0

    env = gym.make("mlgym/digits-v0", log_dir=tmp_path / "inproc", work_dir=tmp_path / "ws-in")
    env.reset(seed=0)
    env.step({"name": "List Files", "arguments": {}})
    env.step(TRAIN)
    _, reward, *_, info = env.step(FINAL)
    env.close()
    return float(reward), info["result"]


async def _short_episode(url: str) -> tuple[float, bool, str]:
    from openenv.core import GenericEnvClient

    async with GenericEnvClient(base_url=url) as env:
        r = await env.reset(seed=1)
        assert "Research Problem" in r.observation["text"]
        r = await env.step({"name": "list_files", "arguments": {}})
        assert "train.py" in r.observation["text"] and not r.done
        r = await env.step({"name": "final_answer", "arguments": {"final_answer": "nothing"}})
    return float(r.reward), bool(r.done), str(r.observation["info"]["log_dir"])


def test_openenv_client_runs_digits_episodes_against_mlgym_serve(tmp_path: Path) -> None:
    from openenv.core import GenericEnvClient

    logs = tmp_path / "served"
    with mlgym_serve("--task", "digits", "--host", "127.0.0.1", "--log-dir", str(logs), "--work-dir", str(tmp_path / "ws")) as url:
        env = GenericEnvClient(base_url=url)  # sync use
        r = env.reset(seed=0)
        assert "Research Problem" in r.observation["text"] and r.reward == 0.0 and not r.done
        assert "final_answer" in [t["function"]["name"] for t in r.observation["info"]["tools"]]
        r = env.step({"name": "List Files", "arguments": {}})
        assert "train.py" in r.observation["text"] and r.reward == 0.0 and r.done is False
        r = env.step(TRAIN)
        assert not r.done
        r = env.step(FINAL)
        env.close()
        assert r.done
        served_reward, served_result = float(r.reward), r.observation["info"]["result"]
        log_dir = Path(r.observation["info"]["log_dir"])

        outs = asyncio.run(_gather(url, 8))  # 8 sessions at once, each its own env and log folder
    assert log_dir.parent == logs and (log_dir / "result.json").is_file()
    on_disk = json.loads((log_dir / "result.json").read_text())
    assert on_disk["reward"] == served_reward and on_disk["reason"] == "final_answer"
    reward, result = _in_process(tmp_path)
    assert served_reward == reward and served_result["score"] == result["score"] and result["valid_submission"]
    assert len(outs) == 8 and all(done for _, done, _ in outs) and len({d for *_, d in outs}) == 8
    for r8, _, d in outs:
        assert json.loads((Path(d) / "result.json").read_text())["reward"] == r8


async def _gather(url: str, n: int) -> list[tuple[float, bool, str]]:
    return list(await asyncio.gather(*(_short_episode(url) for _ in range(n))))
