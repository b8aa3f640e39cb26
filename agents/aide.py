"""``--agent aide``: an AIDE-style tree search over whole solution scripts, written by the LLM.

A node is a script and what running it gave.  Each round the agent picks what to grow:
a *draft* (a new solution from the task; ``num_drafts`` of them first), a *debug* of a
failed node (with probability ``debug_prob``, up to ``max_debug_depth`` fixes in a row), or
an *improvement* of the best node; asks the model for the whole script (one ```python
block), writes it to ``train.py``, runs it and reads the validation score it prints (as
``--agent search`` does: a line naming ``valid``).  A run that fails or prints no score is
a buggy node.  When the step budget is nearly spent the best node is run again (so the
submission is its) and submitted.  Uses only the public env API; the model calls go to
the trace with the steps (:meth:`mlgym.llm.client.RunLLMs.notes`).  After AIDE (Jiang et al.,
2025, "AIDE: AI-Driven Exploration in the Space of Code"): draft, debug and improve
operators, greedy improvement of the best node.
"""

from __future__ import annotations

import dataclasses
import random
import re
from typing import Any

import gymnasium as gym
from mlgym.agents.base import Agent, end_episode, hand_over
from mlgym.agents.search import validation_score

from mlgym.core.errors import BudgetExceededError
from mlgym.llm.client import RunLLMs

_CODE = re.compile(r"```(?:python|py)?[ \t]*\n(.*?)```", re.S)
RULES = ("The script must read the data as the task describes, print a line `validation <metric>: <value>` measured on a "
         "hold-out split of the training data (never the test data), and write the submission file. "
         "Answer with the whole script in one ```python code block.")


@dataclasses.dataclass
class Node:
    kind: str  # draft, debug, improve
    code: str
    parent: int | None
    score: float | None = None
    output: str = ""
    depth: int = 0  # debug fixes in a row

    @property
    def buggy(self) -> bool:
        return self.score is None


class AIDEAgent(Agent):
    name = "aide"
    script = "train.py"
    num_drafts = 2
    debug_prob = 0.5
    max_debug_depth = 2
    max_no_code = 3  # replies without a code block in a row before giving up

    def __init__(self, args: Any = None) -> None:
        super().__init__(args)
        self.llms = RunLLMs.from_args(args, needs="--agent aide")
        seed = getattr(args, "seed", 0)
        self.rng = random.Random(0 if seed is None else seed)
        self.nodes: list[Node] = []

    def _pick(self, higher: bool) -> tuple[str, Node | None]:
        good = [n for n in self.nodes if not n.buggy]
        parents = {c.parent for c in self.nodes}
        buggy = [n for i, n in enumerate(self.nodes) if n.buggy and n.depth < self.max_debug_depth and i not in parents]
        if sum(n.kind == "draft" for n in self.nodes) < self.num_drafts:
            return "draft", None
        if buggy and (not good or self.rng.random() < self.debug_prob):
            return "debug", self.rng.choice(buggy)
        if good:
            return "improve", (max if higher else min)(good, key=lambda n: n.score or 0.0)
        return "draft", None

    def _prompt(self, kind: str, task: str, starter: str, metric: str, parent: Node | None) -> list[dict[str, str]]:
        system = f"You are a Kaggle grandmaster solving a machine learning task. {RULES}"
        if kind == "draft" or parent is None:
            user = f"Task:\n{task}\n\nThe starter script, for reference:\n```python\n{starter}```\nWrite a new solution."
        elif kind == "debug":
            user = (f"Task:\n{task}\n\nThis script failed or printed no validation score:\n```python\n{parent.code}```\n"
                    f"Its output (the end):\n{parent.output[-3000:]}\n\nFix it.")
        else:
            user = (f"Task:\n{task}\n\nThis script reached validation {metric} {parent.score}:\n```python\n{parent.code}```\n"
                    "Make one change that should improve the validation score.")
        return [{"role": "system", "content": system}, {"role": "user", "content": user}]

    def run(self, env: gym.Env, obs: str, info: dict[str, Any]) -> dict[str, Any] | None:  # type: ignore[type-arg]
        self.llms.collect()
        budget = int(info.get("max_steps") or 30) - int(info.get("step") or 0)
        higher = info.get("direction", "higher") != "lower"
        task, metric = str(info.get("task_description") or obs), str(info.get("metric") or "score")
        used = 0

        def act(name: str, **arguments: Any) -> tuple[str, bool]:
            nonlocal used, info
            used += 1
            hand_over(env, self.llms)
            out, _r, term, trunc, info = env.step({"name": name, "arguments": arguments})
            return out, term or trunc

        try:
            starter, done = act("Read File", file_name=self.script)
            no_code, last_ran = 0, starter
            while not done and budget - used >= 5 and no_code < self.max_no_code:
                kind, parent = self._pick(higher)
                reply = self.llms.main.complete(self._prompt(kind, task, starter, metric, parent), purpose=f"aide {kind}")
                m = _CODE.search(reply.content)
                if m is None:
                    no_code += 1
                    continue
                no_code = 0
                node = Node(kind, m.group(1), None if parent is None else next(i for i, n in enumerate(self.nodes) if n is parent),
                            depth=parent.depth + 1 if kind == "debug" and parent is not None else 0)
                _, done = act("Write File", file_name=self.script, content=node.code)
                if not done:
                    node.output, done = act("Execute Script", script_name=self.script)
                    last_ran = node.code
                    found = validation_score(node.output)
                    node.score = found[0] if found else None
                self.nodes.append(node)
            good = [n for n in self.nodes if not n.buggy]
            best = (max if higher else min)(good, key=lambda n: n.score or 0.0) if good else None
            if not done and best is not None and best.code != last_ran:
                _, done = act("Write File", file_name=self.script, content=best.code)
                if not done:
                    _, done = act("Execute Script", script_name=self.script)
            if not done and not self.nodes:  # the model never gave code: nothing was tried, say so (reason no_nodes)
                *_, info = end_episode(env, "no_nodes", self.llms)
                done = True
            if not done:
                act("Final Answer", final_answer=f"AIDE tree search: {len(self.nodes)} nodes, best validation {metric} "
                                                 f"{best.score if best else None} ({best.kind if best else 'none'}).")
        except BudgetExceededError:
            if not info.get("result"):
                *_, info = end_episode(env, "budget", self.llms)
        if not info.get("result"):  # the model gave no code: end here, its calls recorded
            *_, info = end_episode(env, "agent_stopped", self.llms)
        return info.get("result")
