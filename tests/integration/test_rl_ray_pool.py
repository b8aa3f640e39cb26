"""The Ray env pool (issue 26) on a two-node local Ray cluster (one CPU each, as tests/integration/test_ray_two_nodes.py
starts it): mlgym.rollout runs a GRPO group of digits episodes on actors placed on both nodes, from this
process (the trainer's side, which hosts no env); rewards equal the result.json files; group statistics."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rl_helpers import ray_cluster

ray = pytest.importorskip("ray")
pytestmark = pytest.mark.timeout(300)

LIST = {"name": "List Files", "arguments": {}}
FINAL = {"name": "Final Answer", "arguments": {"final_answer": "done"}}


def _policy(observations: list[str], infos: list[dict]) -> list[dict]:
    return [LIST if info["step"] == 0 else FINAL for info in infos]


def test_rollout_on_a_two_node_ray_pool(tmp_path: Path) -> None:
    from mlgym.rollout import rollout
    from mlgym.runs.envpool import EnvPool

    with ray_cluster(2) as (address, nodes):
        with EnvPool(address) as pool:
            assert sorted(pool.nodes()) == sorted(n["id"] for n in nodes)
            probe = pool.make(task="digits", log_dir=tmp_path / "probe", work_dir=tmp_path / "ws")
            probe_node = probe.node()
            probe.close()
            eps = rollout("digits", _policy, 4, seed=3, group_size=2, pool=pool, log_dir=tmp_path / "r", work_dir=tmp_path / "ws")
            run_ids = {json.loads((e.log_dir / "result.json").read_text())["run_id"] for e in eps}
        ray.shutdown()
    assert probe_node in {n["id"] for n in nodes} and len(run_ids) == 4
    assert [e.seed for e in eps] == [3, 3, 4, 4] and [e.group for e in eps] == [0, 0, 1, 1]
    for e in eps:
        result = json.loads((e.log_dir / "result.json").read_text())
        assert result["reward"] == e.reward and result["group"] == e.group and result["group_size"] == 2
        assert e.rewards == [0.0, e.reward] and e.advantage == pytest.approx(e.reward - e.group_mean)
    placed_on = {(e.log_dir / "ray_nodes.txt").read_text().split()[0] for e in eps}
    assert placed_on == {n["id"] for n in nodes}  # both nodes hosted episodes
