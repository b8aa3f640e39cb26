"""Per-step overhead of the env against bare commands measured in the same run.

    .venv/bin/python scripts/bench_steps.py [--runs 50] [--sandbox local]

Prints medians and ratios:
* List Files step vs a bare ``subprocess.run(["ls"])`` (MLAgentBench: 5 ms vs 1.2 ms);
* Execute Script on an empty script vs a bare ``subprocess.run([python, "empty.py"])``
  (MLAgentBench: 1.65x);
* a step with a 50 MB file in the workspace: time and bytes written (MLAgentBench: 82 ms,
  50 MB per step);
* interpreter start (``python -c pass``) of the task environment inside the sandbox vs the
  same interpreter bare, and the harness's own interpreter bare (mlgym.tasks.taskenv);
* bytes stored by snapshots per step over a 20-step episode.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mlgym.env.core import MLGymEnv


def median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times) * 1000


def paired_ms(bare, step, runs: int) -> tuple[float, float]:
    """Medians of two commands timed alternately, so load changes hit both alike."""
    a, b = [], []
    for _ in range(runs):
        for fn, out in ((bare, a), (step, b)):
            t0 = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t0)
    return statistics.median(a) * 1000, statistics.median(b) * 1000


def dir_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--sandbox", default="local")
    ap.add_argument("--task", default="digits")
    a = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp_p = Path(tmp)
        env = MLGymEnv(a.task, sandbox=a.sandbox, log_dir=tmp_p / "log", work_dir=tmp_p / "ws", max_steps=10**6)
        t0 = time.perf_counter()
        env.reset(seed=0)
        reset_ms = (time.perf_counter() - t0) * 1000
        ws = env.workspace
        assert ws is not None and env.log_dir is not None
        (ws / "empty.py").write_text("")
        py = env.python
        print(f"sandbox: {env.sandbox.name if env.sandbox else '?'}   reset: {reset_ms:.1f} ms   runs per median: {a.runs}")

        bare_ls, step_ls = paired_ms(
            lambda: subprocess.run(["ls"], cwd=ws, capture_output=True),
            lambda: env.step({"name": "List Files", "arguments": {"dir_path": "."}}), a.runs)
        print(f"List Files step      {step_ls:8.2f} ms   bare ls        {bare_ls:8.2f} ms   ratio {step_ls / bare_ls:5.2f}x")

        bare_py, step_py = paired_ms(
            lambda: subprocess.run([py, "empty.py"], cwd=ws, capture_output=True),
            lambda: env.step({"name": "Execute Script", "arguments": {"script_name": "empty.py"}}), a.runs)
        print(f"Execute Script empty {step_py:8.2f} ms   bare python    {bare_py:8.2f} ms   ratio {step_py / bare_py:5.2f}x")

        # Interpreter start: the task environment (lean venv) inside the sandbox vs bare, and
        # the harness's own interpreter (what agent code ran with before mlgym.tasks.taskenv).
        box = env.sandbox
        assert box is not None
        bare_lean, box_lean = paired_ms(
            lambda: subprocess.run([py, "-c", "pass"], cwd=ws, capture_output=True),
            lambda: box.exec([py, "-c", "pass"]), a.runs)
        harness = median_ms(lambda: subprocess.run([sys.executable, "-c", "pass"], cwd=ws, capture_output=True), a.runs)
        print(f"python -c pass       {box_lean:8.2f} ms in sandbox   bare task env {bare_lean:8.2f} ms   ratio "
              f"{box_lean / bare_lean:5.2f}x   (harness venv python bare: {harness:.2f} ms)")
        print(f"  task env: {py}")

        # 50 MB file in the workspace: hashed and stored once, then one stat per step.
        (ws / "big.bin").write_bytes(os.urandom(50 * 2**20))
        env.step({"name": "Execute Script", "arguments": {"script_name": "empty.py"}})  # first sight: store it
        before = dir_bytes(env.log_dir)
        step_big = median_ms(lambda: env.step({"name": "Execute Script", "arguments": {"script_name": "empty.py"}}), a.runs)
        written = (dir_bytes(env.log_dir) - before) / a.runs
        print(f"with a 50 MB file    {step_big:8.2f} ms per Execute Script step, {written / 1024:.1f} KiB written per step (trace line only)")
        env.close()

        # A 20-step episode that edits and runs the script: snapshot bytes per step.
        env = MLGymEnv(a.task, sandbox=a.sandbox, log_dir=tmp_p / "log20", work_dir=tmp_p / "ws20", max_steps=10**6)
        env.reset(seed=0)
        assert env.log_dir is not None
        objects = env.log_dir / "objects"
        base = dir_bytes(objects)
        src = (env.task.env_dir / "train.py").read_text()
        per_step = []
        for i in range(20):
            before = dir_bytes(objects)
            if i % 4 == 0:
                env.step({"name": "Write File", "arguments": {"file_name": "train.py", "content": src + f"\n# edit {i}\n"}})
            elif i % 4 == 1:
                env.step({"name": "Execute Script", "arguments": {"script_name": "train.py"}})
            elif i % 4 == 2:
                env.step({"name": "Read File", "arguments": {"file_name": "train.py"}})
            else:
                env.step({"name": "List Files", "arguments": {"dir_path": "."}})
            per_step.append(dir_bytes(objects) - before)
        print(f"20-step episode: initial snapshot {base} B; per step: {per_step}")
        print(f"  mean {statistics.mean(per_step):.0f} B/step, steps storing nothing: {sum(1 for b in per_step if b == 0)}/20, "
              f"trace.jsonl {dir_bytes(env.log_dir) - dir_bytes(objects)} B")
        env.close()


if __name__ == "__main__":
    sys.exit(main())
