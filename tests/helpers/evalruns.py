"""Real log folders for the eval / plot / report / importer tests, made once per process.

Four runs of the digits task, all made for real (a real sandbox, the real scorer):

* ``base0``, ``base1``: the baseline agent via ``mlgym.runs.runner.main`` (seeds 0 and 1);
* ``improved``: a scripted episode on ``MLGymEnv`` that runs the starter, replaces
  ``train.py`` by an SVM (its output holds HTML, to test escaping), runs it and gives
  the Final Answer; two ``llm`` records are written between steps;
* ``killed``: a scripted episode that submits the SVM, then a worse tree, and is then
  "killed": no Final Answer, no ``result.json``, and a partial last line in the trace.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

SVM = '''"""An SVM on the digits pixels."""
import pandas as pd
from sklearn.svm import SVC

train = pd.read_csv("data/train.csv")
test = pd.read_csv("data/test.csv")
model = SVC(gamma=0.001, C=10).fit(train.drop(columns=["label"]), train["label"])
pd.DataFrame({"id": test["id"], "label": model.predict(test.drop(columns=["id"]))}).to_csv("submission.csv", index=False)
print("<script>window.__xss = 1</script><img src=x onerror=\\"window.__xss = 2\\"> & done")
'''

STUMP = '''"""A depth-2 tree: worse than the starter."""
import pandas as pd
from sklearn.tree import DecisionTreeClassifier

train = pd.read_csv("data/train.csv")
test = pd.read_csv("data/test.csv")
model = DecisionTreeClassifier(max_depth=2, random_state=0).fit(train.drop(columns=["label"]), train["label"])
pd.DataFrame({"id": test["id"], "label": model.predict(test.drop(columns=["id"]))}).to_csv("submission.csv", index=False)
'''

_lock = threading.Lock()
_made: dict[str, Path] = {}


def _llm(env, tokens: tuple[int, int], cost: float) -> None:
    env.writer.append({"type": "llm", "model": "fake-llm", "prompt_tokens": tokens[0], "completion_tokens": tokens[1],
                       "cost": cost, "latency": 0.5})


def _scripted(log_dir: Path, work: Path, seed: int, actions: list, *, finish: bool) -> Path:
    from mlgym.env.core import MLGymEnv

    env = MLGymEnv("digits", log_dir=log_dir, work_dir=work)
    env.run_info = {"agent": "scripted", "model": "fake-llm", "seed": seed}
    try:
        env.reset(seed=seed)
        for a in actions:
            if callable(a):
                a(env)
            else:
                env.step(a)
    finally:
        env.close()
    if not finish:
        with open(log_dir / "trace.jsonl", "ab") as f:
            f.write(b'{"type": "step", "step": 99, "observation": "half a li')
    return log_dir


def make_runs(base: Path) -> dict[str, Path]:
    """The four runs under ``base/runs`` (made on the first call; later calls reuse them)."""
    with _lock:
        if _made:
            return dict(_made)
        os.environ.setdefault("MLGYM_DATA_DIR", "/tmp/mlgym-test-data")
        from mlgym.runs import runner

        runs, work = base / "runs", base / "work"
        for seed in (0, 1):
            rc = runner.main(["--task", "digits", "--agent", "baseline", "--log-dir", str(runs / f"base{seed}"),
                              "--work-dir", str(work), "--seed", str(seed), "-q"])
            assert rc == 0
        run = {"name": "Execute Script", "arguments": {"script_name": "train.py"}}
        _scripted(runs / "improved", work, 0, [
            run, lambda e: _llm(e, (1000, 200), 0.01),
            {"name": "Write File", "arguments": {"file_name": "train.py", "content": SVM}}, lambda e: _llm(e, (1500, 300), 0.02),
            run, {"name": "Final Answer", "arguments": {"final_answer": "An SVM <b>beats</b> the tree."}},
        ], finish=True)
        _scripted(runs / "killed", work, 1, [
            {"name": "Write File", "arguments": {"file_name": "train.py", "content": SVM}}, run, lambda e: _llm(e, (800, 100), 0.005),
            {"name": "Write File", "arguments": {"file_name": "train.py", "content": STUMP}}, run,
        ], finish=False)
        assert not (runs / "killed" / "result.json").exists()
        _made.update({p.name: p for p in sorted(runs.iterdir())})
        _made["root"] = runs
        return dict(_made)


def result(path: Path) -> dict:
    return json.loads((path / "result.json").read_text())
