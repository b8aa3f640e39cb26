"""Time ``mlgym eval`` (and ``plot``, ``report``) on many synthetic runs in the real on-disk format.

    python scripts/bench_eval.py               # 1,000 runs in a temporary folder
    python scripts/bench_eval.py --n 5000 --keep /tmp/bench-runs

Each run is a log folder as ``MLGymEnv`` writes it: ``trace.jsonl`` (reset, 5-30 steps
with observations and ``files`` maps, ``llm`` records, result) and ``result.json``, over
the bundled tasks (their real baselines and directions) and five agent/model pairs.
Intermediate submissions carry an ``eval_cache.json`` as a previous ``eval`` leaves it,
so nothing is re-scored: the time is reading, aggregating and writing.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

METHODS = [("baseline", None), ("react", "openai/gpt-4o"), ("react", "anthropic/claude-3-5-sonnet"),
           ("research", "openai/gpt-4o-mini"), ("research", "openai/o3-mini")]
SKILL = {"baseline": 0.0, "react": 0.08, "research": 0.12}


def _digest(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def make_run(root: Path, i: int, task, agent: str, model: str | None, seed: int, rng: np.random.Generator) -> None:
    d = root / task.name / f"{agent}-{(model or 'none').replace('/', '_')}" / f"run{i:05d}"
    d.mkdir(parents=True)
    higher = task.higher_is_better
    base = task.baseline.score
    t = 1_790_000_000.0 + i * 100
    n_steps = int(rng.integers(5, 31))
    run_id = f"bench-{i:05d}"
    records = [{"type": "reset", "task": task.name, "run_id": run_id, "seed": seed, "sandbox": "local-bwrap",
                "files": {"train.py": _digest("start", task.name)}, "time": t}]
    cache = {}
    score = None
    gain = SKILL[agent] + (0.02 if model and "claude" in model else 0.0)
    for s in range(1, n_steps + 1):
        t += float(rng.uniform(0.5, 30))
        submit = s > 1 and (s == n_steps - 1 or rng.random() < 0.15)
        files = {}
        if submit:
            rel = float(rng.normal(gain, 0.08))
            score = base * (1 + rel) if higher else base * (1 - rel)
            dg = _digest(i, s)
            files = {"submission.csv": dg}
            cache[dg] = {"score": score, "error": None, "step": s}
        name = "Execute Script" if submit else str(rng.choice(["List Files", "Read File", "Write File", "Inspect Script Lines"]))
        records.append({"type": "step", "step": s, "action": {"name": name, "arguments": {"script_name": "train.py"}},
                        "observation": "epoch 1 loss 0.52\n" * int(rng.integers(1, 12)), "duration": 1.0, "error": False,
                        "reward": 0.0, "files": files, "time": t})
        if model:
            records.append({"type": "llm", "model": model, "prompt_tokens": int(rng.integers(1000, 6000)),
                            "completion_tokens": int(rng.integers(50, 600)), "cost": float(rng.uniform(0.001, 0.03)),
                            "latency": float(rng.uniform(0.5, 5)), "time": t})
    valid = score is not None and rng.random() > 0.05
    final = score if valid else None
    imp = None
    if final is not None:
        imp = (final - base) / abs(base) * (1 if higher else -1)
    result = {"task": task.name, "metric": task.metric, "direction": task.direction, "score": final, "baseline": base,
              "baseline_source": "task.yaml", "improvement": imp, "success": bool(imp is not None and imp > 0.1),
              "valid_submission": valid, "error": None if valid else "no submission: submission.csv not found in the workspace",
              "run_id": run_id, "log_dir": str(d), "reason": "final_answer", "steps": n_steps, "reward": imp or 0.0,
              "wall_time": round(t - records[0]["time"], 3), "sandbox": "local-bwrap", "final_answer": "done",
              "agent": agent, "model": model, "seed": seed}
    if not valid and cache:  # the last submission vanished: its snapshot says deleted
        records[-1]["files"] = {"submission.csv": None}
    records.append({"type": "result", **result, "time": t + 1})
    with open(d / "trace.jsonl", "w") as f:
        f.writelines(json.dumps(r) + "\n" for r in records)
    (d / "result.json").write_text(json.dumps(result, indent=2))
    if cache:
        (d / "eval_cache.json").write_text(json.dumps({"version": 1, "scores": {k: v for k, v in cache.items()}}))


def generate(root: Path, n: int, seed: int = 0) -> None:
    from mlgym.tasks.spec import TaskSpec, list_tasks

    tasks = [TaskSpec.load(t) for t in list_tasks()]
    rng = np.random.default_rng(seed)
    for i in range(n):
        task = tasks[i % len(tasks)]
        agent, model = METHODS[(i // len(tasks)) % len(METHODS)]
        make_run(root, i, task, agent, model, i // (len(tasks) * len(METHODS)), rng)


def _timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--keep", type=Path, default=None, help="make the runs here and keep them")
    args = p.parse_args()
    tmp = None
    if args.keep is None:
        tmp = tempfile.TemporaryDirectory(prefix="mlgym-bench-eval-")
        base = Path(tmp.name)
    else:
        base = args.keep
    runs, out = base / "runs", base / "eval"
    t0 = time.perf_counter()
    generate(runs, args.n)
    print(f"generated {args.n} runs in {time.perf_counter() - t0:.1f}s under {runs}")

    from mlgym.analysis.eval import evaluate_runs, write_table

    t0 = time.perf_counter()
    table = evaluate_runs([runs])
    write_table(table, out)
    t_eval = time.perf_counter() - t0
    rescored = sum(r["n_rescored"] for r in table["runs"])
    print(f"eval (in process): {t_eval:.2f}s for {len(table['runs'])} runs, {len(table['aggregates'])} task x agent groups, "
          f"{rescored} re-scored")
    mlgym = [sys.executable, "-m", "mlgym"]
    print(f"mlgym eval (CLI, incl. start-up): {_timed([*mlgym, 'eval', str(runs), '--out', str(out), '-q']):.2f}s")
    print(f"mlgym plot (from table.json, png+svg): {_timed([*mlgym, 'plot', str(out / 'table.json'), '--out', str(base / 'figs')]):.2f}s")
    print(f"mlgym report (from table.json, 100 runs step by step): "
          f"{_timed([*mlgym, 'report', str(out), '--out', str(base / 'report.html')]):.2f}s")
    if tmp is not None:
        tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
