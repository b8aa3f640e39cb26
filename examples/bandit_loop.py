"""A small research loop: rollouts -> export -> update, K rounds, on digits.

The policy is a bandit over the search agent's edit types (``numeric``, ``add``,
``model``; see mlgym/agents/search_space.py).  Each episode draws one edit type from the
bandit and runs ``--agent search`` restricted to it with 7 steps (room for exactly one
edit).  After each round the episodes are exported (``mlgym export --format openai``),
and the bandit reads back, per episode, the edit type of the candidate the agent wrote
(first line of its Write File call) and the episode's final reward; its arm values are the
mean rewards seen so far, and the next round draws arms by a softmax over them.

    python examples/bandit_loop.py --rounds 4 --episodes 4 --out runs/bandit
    mlgym plot runs/bandit --out runs/bandit/figures     # one "method" per round

Each round's runs are labelled ``agent = "bandit round k"``, so ``mlgym plot``'s
improvement figure is the reward curve (docs/figures/bandit_loop_improvement.png).
"""

from __future__ import annotations

import argparse
import json
import math
import random
from pathlib import Path

from mlgym.agents.search_space import EDIT_TYPES, marked_kind
from mlgym.analysis.export import export
from mlgym.rollout import run_agents


def edit_of(row: dict) -> str | None:
    """The edit type of the first candidate the search agent wrote in this exported episode."""
    for m in row["messages"]:
        for call in m.get("tool_calls") or []:
            if call["function"]["name"] == "write_file":
                return marked_kind(json.loads(call["function"]["arguments"])["content"])
    return None


def probabilities(values: dict[str, list[float]], temperature: float) -> dict[str, float]:
    """Softmax over each arm's mean reward; an arm never tried gets the best mean (it is tried soon)."""
    means = {a: sum(v) / len(v) for a, v in values.items() if v}
    top = max(means.values(), default=0.0)
    scores = {a: math.exp((means.get(a, top) - top) / temperature) for a in values}
    total = sum(scores.values())
    return {a: s / total for a, s in scores.items()}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=4)
    p.add_argument("--episodes", type=int, default=4, help="episodes per round, run at once")
    p.add_argument("--temperature", type=float, default=0.05)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", type=Path, default=Path("runs/bandit"))
    a = p.parse_args()
    rng = random.Random(a.seed)
    values: dict[str, list[float]] = {k: [] for k in EDIT_TYPES}
    curve = []
    for k in range(1, a.rounds + 1):
        probs = probabilities(values, a.temperature)
        arms = rng.choices(list(probs), weights=list(probs.values()), k=a.episodes)
        round_dir = a.out / f"round{k}"
        options = [{"weights": {t: float(t == arm) for t in EDIT_TYPES}} for arm in arms]  # one edit type per episode
        eps = run_agents("digits", "search", a.episodes, seed=1000 * k, log_dir=round_dir, max_steps=7,
                         work_dir=a.out / "workspaces", agent_options=options, run_info={"agent": f"bandit round {k}"})
        export([round_dir], "openai", a.out / f"round{k}.jsonl")
        rows = [json.loads(line) for line in (a.out / f"round{k}.jsonl").read_text().splitlines()]
        rewards = []
        for row in rows:
            kind, reward = edit_of(row), float(row["reward"] or 0.0)
            rewards.append(reward)
            if kind is not None:
                values[kind].append(reward)
        mean = sum(rewards) / len(rewards)
        curve.append({"round": k, "mean_reward": mean, "arms": arms, "probabilities": probs, "episodes": len(eps)})
        print(f"round {k}: arms {arms}  mean reward {mean:+.4f}  p={ {a_: round(v, 3) for a_, v in probs.items()} }")
    (a.out / "curve.json").write_text(json.dumps(curve, indent=2))


if __name__ == "__main__":
    main()
