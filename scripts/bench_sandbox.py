#!/usr/bin/env python3
"""Sandbox latency per backend: reset (workspace copy + start) and exec overhead.

    .venv/bin/python scripts/bench_sandbox.py [-n 20] [--backends local-plain,local-bwrap,docker]

Exec overhead is the median of ``sandbox.exec(["python3", "-c", "pass"])`` over the
median of the same command run bare: ``subprocess.run`` for local backends, a plain
``docker exec`` through the SDK (same container) for docker.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from mlgym.sandbox import Limits, Mount, make_sandbox

ARGV = ["python3", "-c", "pass"]


def timed(fn: Callable[[], object], n: int) -> float:
    samples = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def template(root: Path) -> tuple[Path, Path]:
    """A workspace like a small task's (a few source files, 1 MB of data) and a data dir."""
    ws, data = root / "template", root / "data"
    (ws / "src").mkdir(parents=True)
    for i in range(20):
        (ws / "src" / f"mod{i}.py").write_text(f"X = {i}\n" * 50)
    data.mkdir()
    (data / "train.csv").write_bytes(b"1,2,3\n" * 170_000)
    return ws, data


def bench(kind: str, n: int, root: Path) -> dict[str, float]:
    tpl, data = template(root / kind)
    limits = Limits(timeout=60, memory_mb=2048)
    sandboxes = []

    def reset() -> None:
        ws = root / kind / f"ws{len(sandboxes)}"
        shutil.copytree(tpl, ws)
        sb = make_sandbox(kind, ws, limits=limits, mounts=[Mount(data, "data")])
        sb.start()
        sandboxes.append(sb)

    reset_s = timed(reset, n)
    t = time.perf_counter()
    for sb in sandboxes[1:]:
        sb.stop()
    stop_s = (time.perf_counter() - t) / max(1, len(sandboxes) - 1)
    sb = sandboxes[0]
    assert sb.exec(ARGV).ok
    exec_s = timed(lambda: sb.exec(ARGV), n)
    if kind == "docker":
        container = sb.container  # type: ignore[attr-defined]
        bare_s = timed(lambda: container.exec_run(ARGV, user=f"{sb.uid}:{sb.gid}"), n)  # type: ignore[attr-defined]
    else:
        python3 = shutil.which("python3", path=f"{Path(sys.executable).parent}:/usr/bin") or "python3"
        bare_s = timed(lambda: subprocess.run([python3, "-c", "pass"], cwd=sb.workspace, check=True), n)
    sb.stop()
    return {"reset": reset_s, "stop": stop_s, "exec": exec_s, "bare": bare_s}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("-n", type=int, default=20, help="runs per measurement (median)")
    p.add_argument("--backends", default="local-plain,local-bwrap,docker")
    args = p.parse_args()
    print(f"{'backend':12} {'reset ms':>9} {'stop ms':>8} {'exec ms':>8} {'bare ms':>8} {'overhead':>9}  (median of {args.n})")
    with tempfile.TemporaryDirectory(prefix="mlgym-bench-") as tmp:
        for kind in args.backends.split(","):
            try:
                r = bench(kind, args.n, Path(tmp))
            except Exception as e:  # one missing backend should not hide the others
                print(f"{kind:12} unavailable: {e}")
                continue
            print(f"{kind:12} {r['reset'] * 1e3:9.1f} {r['stop'] * 1e3:8.1f} {r['exec'] * 1e3:8.1f} "
                  f"{r['bare'] * 1e3:8.1f} {r['exec'] / r['bare']:8.2f}x", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
