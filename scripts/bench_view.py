"""Load time of `mlgym view` on many runs: writes N synthetic run folders (real log format) and times the index.

    .venv/bin/python scripts/bench_view.py [-n 10000] [--out /tmp/view-bench]

Runs are laid out like ``mlgym bench`` (OUT/<task>/<label>/seed<k>/): ~88% success, 4% error
(llm_unreachable), 2% cancelled, 3% interrupted (no result.json, old trace), 3% running (no
result.json, trace held open by a TraceWriter as a live runner holds it).  Prints the first full
index, a rescan with nothing changed, a query, and GET /, /api/index, /compare and a run page.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import threading
import time
import urllib.request
from pathlib import Path

from mlgym.analysis import view
from mlgym.runlog.trace import TraceWriter

TASKS = ["digits", "house-prices", "spaceship-titanic", "cifar10-small", "imdb", "ogbn-arxiv", "feedback", "fathomnet"]
CONFIGS = [("research", "openai/gpt-4o-mini", {}), ("research", "openai/gpt-4o-mini", {"profile": "mlgym"}),
           ("aide", "anthropic/claude-3-5-sonnet", {}), ("baseline", None, {}), ("tools", "openai/gpt-4o", {"temperature": 0.7})]


def generate(out: Path, n: int, seed: int = 0) -> list[TraceWriter]:
    rnd = random.Random(seed)
    live: list[TraceWriter] = []
    per = max(1, n // (len(TASKS) * len(CONFIGS)))
    k = 0
    while k < n:
        task, (agent, model, cfg) = TASKS[k % len(TASKS)], CONFIGS[(k // len(TASKS)) % len(CONFIGS)]
        label = "/".join([agent, *(f"{a}={b}" for a, b in cfg.items())]).replace("/", "-")
        d = out / task / label / f"seed{k // (len(TASKS) * len(CONFIGS)) % per}-{k}"
        d.mkdir(parents=True, exist_ok=True)
        recs: list[dict] = [{"type": "reset", "task": task, "run_id": f"r{k}", "seed": k, "agent": agent, "model": model,
                             "agent_config": cfg, "observation": "task description " * 40}]
        steps = rnd.randint(2, 12)
        for s in range(1, steps + 1):
            if model:
                recs.append({"type": "llm", "model": model, "purpose": f"{agent} agent", "completion": "Thought: try things. " * 20,
                             "prompt": [{"role": "user", "content": "p " * 200}], "prompt_tokens": 900, "completion_tokens": 120,
                             "cost": 0.0004, "latency": 1.2})
            recs.append({"type": "step", "step": s, "action": {"name": "Execute Script", "arguments": {"script_name": "train.py"}},
                         "observation": "accuracy 0.9 " * 30, "reward": 0.0, "duration": 3.0})
        x = rnd.random()
        status = "success" if x < 0.88 else "error" if x < 0.92 else "cancelled" if x < 0.94 else "interrupted" if x < 0.97 else "running"
        result = {"task": task, "status": status, "reason": {"error": "llm_unreachable", "cancelled": "interrupted"}.get(status, "final_answer"),
                  "score": round(rnd.uniform(0.7, 0.99), 4), "baseline": 0.8, "improvement": round(rnd.uniform(-0.1, 0.3), 4),
                  "success": rnd.random() < 0.4, "valid_submission": True, "steps": steps, "agent": agent, "model": model,
                  "agent_config": cfg, "episode_finished": status != "cancelled", "run_id": f"r{k}", "llm_cost": 0.0004 * steps}
        if status in ("running",):
            w = TraceWriter(d, fsync=False)
            for r in recs:
                w.append(r)
            live.append(w)
        else:
            (d / "trace.jsonl").write_text("".join(json.dumps(r) + "\n" for r in recs + ([{"type": "result", **result}] if status != "interrupted" else [])))
            if status != "interrupted":
                (d / "result.json").write_text(json.dumps(result))
            else:
                old = time.time() - 7200
                os.utime(d / "trace.jsonl", (old, old))
        k += 1
    return live


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=10_000)
    p.add_argument("--out", type=Path, default=Path("/tmp/mlgym-view-bench"))
    a = p.parse_args()
    t0 = time.perf_counter()
    live = generate(a.out, a.n) if not a.out.exists() else []
    print(f"{a.n} runs in {a.out} (written in {time.perf_counter() - t0:.1f}s)")
    t0 = time.perf_counter()
    idx = view.RunIndex([a.out])
    idx.refresh(force=True)
    print(f"first full index: {time.perf_counter() - t0:.2f}s for {len(idx.rows)} runs; statuses {view.status_counts(idx)}")
    ts = []
    for _ in range(5):
        t0 = time.perf_counter()
        idx.refresh(force=True)
        ts.append(time.perf_counter() - t0)
    print(f"rescan, nothing changed: median {statistics.median(ts) * 1000:.0f} ms")
    t0 = time.perf_counter()
    _rows, total = idx.query("status:error", "score", True, 0)
    print(f"query status:error sorted by score: {total} rows in {(time.perf_counter() - t0) * 1000:.0f} ms")
    srv = view.ViewServer(idx, "127.0.0.1", 0)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    run = next(iter(idx.rows.values()))["href"]
    for path in ("/", "/api/index?page=3&sort=score", "/compare", run):
        ts = []
        for _ in range(5):
            t0 = time.perf_counter()
            body = urllib.request.urlopen(srv.url.rstrip("/") + path).read()
            ts.append(time.perf_counter() - t0)
        print(f"GET {path}: median {statistics.median(ts) * 1000:.0f} ms ({len(body) / 1024:.0f} KiB)")
    srv.shutdown()
    for w in live:
        w.close()


if __name__ == "__main__":
    main()
