"""Reset time of an ML-Bench task on a repository of N files (default 10,000).

    .venv/bin/python scripts/mlbench_reset_bench.py [--files 10000] [--resets 3]

Builds a git repository of N small Python files, a one-row dataset pointing at it, then
times: the first prepare (extracting the pinned commit once), the per-episode checkout
(copy of the extracted tree), a whole ``env.reset()`` (checkout + sandbox start + the
reset snapshot of the workspace), and for comparison a ``git clone`` per episode.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path


def make_repo(root: Path, n: int) -> None:
    rng = random.Random(0)
    root.mkdir(parents=True)
    for i in range(n):
        d = root / f"pkg{i % 100}" / f"sub{i % 7}"
        d.mkdir(parents=True, exist_ok=True)
        (d / f"f{i}.py").write_text(f"x = {i}\n" * rng.randint(10, 400))
    (root / "main.py").write_text("import argparse\np = argparse.ArgumentParser()\np.add_argument('--n', type=int)\nprint(p.parse_args().n)\n")
    env = {**os.environ, "GIT_AUTHOR_NAME": "b", "GIT_AUTHOR_EMAIL": "b@b", "GIT_COMMITTER_NAME": "b", "GIT_COMMITTER_EMAIL": "b@b"}
    for cmd in (["init", "-q"], ["add", "-A"], ["commit", "-qm", "big"]):
        subprocess.run(["git", *cmd], cwd=root, env=env, check=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--files", type=int, default=10_000)
    p.add_argument("--resets", type=int, default=3)
    args = p.parse_args()
    with tempfile.TemporaryDirectory(prefix="mlbench-bench-") as tmp:
        t = Path(tmp)
        make_repo(t / "repos" / "big", args.files)
        row = {"github_id": 900, "github": "https://github.com/example/big", "repo_id": 1, "id": 1, "path": "./",
               "arguments": "{'n': '3'}", "instruction": "Run main.py with n 3.", "oracle": "", "type": "Bash Script",
               "output": "python main.py --n 3", "prefix_code": ""}
        (t / "rows.jsonl").write_text(json.dumps(row) + "\n")
        os.environ.update(MLGYM_MLBENCH=str(t / "rows.jsonl"), MLGYM_MLBENCH_REPOS=str(t / "repos"), MLGYM_DATA_DIR=str(t / "data"))
        from mlgym.env.core import MLGymEnv
        from mlgym.families.mlbench import family as mlbench
        from mlgym.tasks.spec import TaskSpec

        spec = TaskSpec.load("mlbench-1")
        r = mlbench.options(spec).row
        t0 = time.perf_counter()
        spec.family.prepare(spec)
        first = time.perf_counter() - t0
        copies, clones, resets = [], [], []
        for i in range(args.resets):
            t0 = time.perf_counter()
            mlbench.checkout(r, t / f"copy{i}")
            copies.append(time.perf_counter() - t0)
            t0 = time.perf_counter()
            subprocess.run(["git", "clone", "-q", str(t / "repos" / "big"), str(t / f"clone{i}")], check=True)
            clones.append(time.perf_counter() - t0)
            shutil.rmtree(t / f"copy{i}")
            shutil.rmtree(t / f"clone{i}")
            env = MLGymEnv(spec, log_dir=t / f"log{i}", work_dir=t / "ws")
            t0 = time.perf_counter()
            env.reset(seed=i)
            resets.append(time.perf_counter() - t0)
            env.close()
        med = statistics.median
        print(f"{args.files} files: first prepare (extract once) {first:.2f}s; per episode: checkout copy {med(copies):.2f}s, "
              f"git clone {med(clones):.2f}s, whole env.reset() {med(resets):.2f}s (median of {args.resets})")


if __name__ == "__main__":
    main()
