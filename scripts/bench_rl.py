"""Speed of mlgym's RL plumbing (issue 26), as ratios measured in one run:

1. a step through `mlgym serve` (OpenEnv's GenericEnvClient over the WebSocket) vs the same step in process
   (``List Files`` on digits, median of N); target: within +2 ms;
2. 32 concurrent OpenEnv sessions on one server (reset, List Files, Final Answer) vs one session alone;
3. episodes per hour with the Ray env pool on 1 vs 2 local nodes of one CPU each (reset, Execute train.py,
   Final Answer), each cluster started here as tests/integration/test_ray_two_nodes.py starts it.

    .venv/bin/python scripts/bench_rl.py [--steps 25] [--sessions 32] [--episodes 6] [--skip-ray]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "helpers"))
from rl_helpers import mlgym_serve, ray_cluster  # noqa: E402

LS = {"name": "List Files", "arguments": {}}
TRAIN = {"name": "Execute Script", "arguments": {"script_name": "train.py"}}
FINAL = {"name": "Final Answer", "arguments": {"final_answer": "done"}}


def _median_ms(step, n: int) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1000


def step_overhead(url: str, root: Path, n: int) -> tuple[float, float]:
    from openenv.core import GenericEnvClient

    from mlgym.env.core import MLGymEnv

    served = GenericEnvClient(base_url=url)
    served.reset(seed=0)
    served_ms = _median_ms(lambda: served.step(LS), n)
    served.close()
    env = MLGymEnv("digits", log_dir=root / "inproc", work_dir=root / "ws")
    env.reset(seed=0)
    inproc_ms = _median_ms(lambda: env.step(LS), n)
    env.close()
    return served_ms, inproc_ms


async def _session(url: str) -> bool:
    from openenv.core import GenericEnvClient

    async with GenericEnvClient(base_url=url, message_timeout_s=600) as env:
        await env.reset(seed=0)
        await env.step(LS)
        r = await env.step(FINAL)
    return bool(r.done)


async def sessions(url: str, k: int) -> tuple[int, float]:
    t = time.perf_counter()
    done = await asyncio.gather(*(_session(url) for _ in range(k)), return_exceptions=True)
    return sum(1 for d in done if d is True), time.perf_counter() - t


def pool_rate(nodes: int, episodes: int, root: Path) -> tuple[float, int]:
    import ray

    from mlgym.rollout import rollout
    from mlgym.runs.envpool import EnvPool

    def policy(observations: list[str], infos: list[dict]) -> list[dict]:
        return [TRAIN if i["step"] == 0 else FINAL for i in infos]

    with ray_cluster(nodes) as (address, _):
        with EnvPool(address) as pool:
            t = time.perf_counter()
            eps = rollout("digits", policy, episodes, pool=pool, log_dir=root / f"ray{nodes}", work_dir=root / "ws")
            wall = time.perf_counter() - t
        ray.shutdown()
    used = {(e.log_dir / "ray_nodes.txt").read_text().split()[0] for e in eps}
    return episodes / wall * 3600, len(used)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=25, help="steps timed (digits ends after 30)")
    ap.add_argument("--sessions", type=int, default=32)
    ap.add_argument("--episodes", type=int, default=6)
    ap.add_argument("--skip-ray", action="store_true")
    a = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-rl-"))
    out: dict[str, object] = {}
    with mlgym_serve("--task", "digits", "--log-dir", str(root / "served"), "--work-dir", str(root / "ws"),
                     "--max-sessions", str(max(32, a.sessions))) as url:
        served, inproc = step_overhead(url, root, a.steps)
        print(f"step: served {served:.2f} ms, in process {inproc:.2f} ms: +{served - inproc:.2f} ms "
              f"(ratio {served / inproc:.1f}x; target +2 ms: {'ok' if served - inproc <= 2 else 'MISSED'})")
        one_ok, one = asyncio.run(sessions(url, 1))
        many_ok, many = asyncio.run(sessions(url, a.sessions))
        print(f"sessions: {many_ok}/{a.sessions} concurrent episodes done in {many:.1f} s vs 1 alone {one:.1f} s "
              f"(ratio {many / one:.1f}x for {a.sessions}x the episodes)")
        out.update(step_served_ms=served, step_inproc_ms=inproc, sessions=a.sessions, sessions_ok=many_ok,
                   sessions_wall_s=many, one_session_s=one)
    if not a.skip_ray:
        r1, used1 = pool_rate(1, a.episodes, root)
        r2, used2 = pool_rate(2, a.episodes, root)
        print(f"ray pool: {r1:.0f} episodes/h on 1 node, {r2:.0f} on 2 nodes ({used2} used): ratio {r2 / r1:.2f}x")
        out.update(ray_1_node_eph=r1, ray_2_nodes_eph=r2, ray_ratio=r2 / r1)
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
