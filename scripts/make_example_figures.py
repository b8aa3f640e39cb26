"""Make a small benchmark for real and draw its table, figures and report.

    .venv/bin/python scripts/make_example_figures.py [--out docs/figures] [--seeds 2]

Runs, on the offline `digits` task (and `house-prices` when its Kaggle files are found):
the baseline agent, and a scripted "improver" that writes a better model, runs it and
submits, for each seed; then `mlgym eval`, `mlgym plot` and `mlgym report` on the runs.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from mlgym import cli

from mlgym.runs import runner
from mlgym.tasks.data import prepare
from mlgym.env.core import MLGymEnv
from mlgym.core.errors import DataError
from mlgym.tasks.spec import TaskSpec

BETTER = {
    "digits": (
        "import pandas as pd\nfrom sklearn.svm import SVC\n"
        "tr = pd.read_csv('data/train.csv'); te = pd.read_csv('data/test.csv')\n"
        "m = SVC(gamma=0.001).fit(tr.drop(columns=['label']), tr['label'])\n"
        "pd.DataFrame({'id': te['id'], 'label': m.predict(te.drop(columns=['id']))}).to_csv('submission.csv', index=False)\n"
        "print('SVC written')\n"
    ),
}


def improver(task: str, log_dir: Path, work_dir: Path, seed: int) -> None:
    env = MLGymEnv(task, log_dir=log_dir, work_dir=work_dir)
    env.run_info = {"agent": "scripted-improver", "model": None, "seed": seed}
    try:
        env.reset(seed=seed)
        env.step({"name": "Execute Script", "arguments": {"script_name": "train.py"}})
        env.step({"name": "Write File", "arguments": {"file_name": "train.py", "content": BETTER[task]}})
        env.step({"name": "Execute Script", "arguments": {"script_name": "train.py"}})
        env.step({"name": "Final Answer", "arguments": {"final_answer": "an SVM"}})
    finally:
        env.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, default=Path("docs/figures"))
    ap.add_argument("--seeds", type=int, default=2)
    a = ap.parse_args()
    tasks = ["digits"]
    try:
        prepare(TaskSpec.load("house-prices"))
        tasks.append("house-prices")
    except DataError as e:
        print(f"skipping house-prices: {e}")
    with tempfile.TemporaryDirectory(prefix="mlgym-example-") as tmp:
        runs, ws = Path(tmp) / "runs", Path(tmp) / "ws"
        for task in tasks:
            for seed in range(a.seeds):
                runner.main(["--task", task, "--agent", "baseline", "--seed", str(seed), "-q",
                             "--log-dir", str(runs / f"{task}-baseline-{seed}"), "--work-dir", str(ws)])
                if task in BETTER:
                    improver(task, runs / f"{task}-improver-{seed}", ws, seed)
        a.out.mkdir(parents=True, exist_ok=True)
        table = Path(tmp) / "eval"
        cli.main(["eval", str(runs), "--out", str(table)])
        cli.main(["plot", str(table), "--out", str(a.out), "--format", "png"])
        cli.main(["report", str(runs), "--out", str(a.out / "report.html")])
        for name in ("runs.csv", "aggregates.csv", "aup.csv"):
            shutil.copyfile(table / name, a.out / name)
    print(f"figures, runs.csv, aggregates.csv, aup.csv and report.html in {a.out}")


if __name__ == "__main__":
    main()
