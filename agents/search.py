"""``--agent search``: a seeded local search over the starter script, without an LLM.

The agent reads the training script (``train.py``), runs it as it is, then, while the step
budget allows, writes an edited copy (:mod:`mlgym.agents.search_space`: a number, a new
hyperparameter, or another model), runs it and keeps the edit when the *validation* score
the script prints improved.  The script prints that score on a line such as
``validation accuracy: 0.8796`` (the last line naming ``valid`` with a number); it is
computed on a split of the training data, never on the hidden test answers.  At the end
the best script is run again when the last run was not the best (so ``submission.csv`` is
the best one's) and the agent submits.

It uses only the public env API: ``reset``'s info (``max_steps``, ``direction``) and
``step``.  Same seed, same task: the same edits in the same order (``--seed``).
Every step is an ordinary tool call, so the trace, eval, plots and export work as for
any agent.  ``weights`` (edit type -> weight) lets a learner steer the search (see
``examples/bandit_loop.py``); ``history`` keeps what each edit did.
"""

from __future__ import annotations

import dataclasses
import random
import re
from typing import Any

import gymnasium as gym
from mlgym.agents.base import Agent
from mlgym.agents.search_space import propose

_VALID = re.compile(r"valid\w*[^\n:=]*[:=]\s*([-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)", re.IGNORECASE)
_LOWER = ("loss", "error", "rmse", "mse", "mae", "logloss")


def validation_score(output: str) -> tuple[float, bool | None] | None:
    """The last ``valid... : number`` in a script's output, and whether higher is better
    (None when the line does not say; the task's direction is used then)."""
    if "The script exited with code" in output or "The script was killed" in output:
        return None
    last: tuple[float, bool | None] | None = None
    for line in output.splitlines():
        for m in _VALID.finditer(line):
            lower = any(w in line.lower() for w in _LOWER)
            last = (float(m.group(1)), False if lower else None)
    return last


@dataclasses.dataclass
class Tried:
    kind: str  # edit type, "start" for the unchanged script
    what: str
    score: float | None  # validation score; None when the run failed or printed none
    kept: bool


class SearchAgent(Agent):
    name = "search"
    script = "train.py"

    def __init__(self, args: Any = None, *, weights: dict[str, float] | None = None) -> None:
        super().__init__(args)
        seed = getattr(args, "seed", 0)
        self.rng = random.Random(0 if seed is None else seed)
        self.weights = weights
        self.history: list[Tried] = []

    def run(self, env: gym.Env, obs: str, info: dict[str, Any]) -> dict[str, Any] | None:  # type: ignore[type-arg]
        budget = int(info.get("max_steps") or 30) - int(info.get("step") or 0)
        higher = info.get("direction", "higher") != "lower"
        used = 0

        def act(name: str, **arguments: Any) -> tuple[str, bool, dict[str, Any]]:
            nonlocal used, info
            used += 1
            obs, _r, terminated, truncated, info = env.step({"name": name, "arguments": arguments})
            return obs, terminated or truncated, info

        source, done, _ = act("Read File", file_name=self.script)
        if done:
            return info.get("result")
        out, done, _ = act("Execute Script", script_name=self.script)
        if done:
            return info.get("result")
        found = validation_score(out)
        best_score = found[0] if found else None
        if found and found[1] is not None:
            higher = found[1]
        best_source, last_ran = source, source
        self.history.append(Tried("start", "the script as given", best_score, True))
        # each candidate takes 2 steps; keep 2 to re-run the best and 1 to submit
        while budget - used >= 5:
            edit = propose(best_source, self.rng, self.weights)
            if edit is None:
                break
            _, done, _ = act("Write File", file_name=self.script, content=edit.source)
            if done:
                return info.get("result")
            out, done, _ = act("Execute Script", script_name=self.script)
            if done:
                return info.get("result")
            last_ran = edit.source
            found = validation_score(out)
            score = found[0] if found else None
            better = score is not None and (best_score is None or (score > best_score if higher else score < best_score))
            self.history.append(Tried(edit.kind, edit.what, score, better))
            if better:
                best_source, best_score = edit.source, score
        if last_ran != best_source:
            _, done, _ = act("Write File", file_name=self.script, content=best_source)
            if not done:
                _, done, _ = act("Execute Script", script_name=self.script)
            if done:
                return info.get("result")
        kept = [t.what for t in self.history[1:] if t.kept]
        summary = f"Local search kept {len(kept)} of {len(self.history) - 1} edits" + (f": {'; '.join(kept)}" if kept else "")
        act("Final Answer", final_answer=f"{summary}. Best validation score: {best_score}.")
        return info.get("result")
