"""``mlgym eval -j 4`` over 50 runs gives the same table as ``-j 1``, five times in a row.

The runs are written directly (a reset record, content-addressed submissions, a few
steps), so only scoring costs time: half the runs carry a result.json, the other half
were "killed" and are scored from their last snapshot in a sandbox, several at once
(this crashed with EBADF when the output pump closed an fd twice)."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

from mlgym import cli
from mlgym.tasks.spec import TaskSpec

N_RUNS = 50


def _put(log_dir: Path, data: bytes) -> str:
    digest = hashlib.sha256(data).hexdigest()
    obj = log_dir / "objects" / digest[:2] / digest
    obj.parent.mkdir(parents=True, exist_ok=True)
    obj.write_bytes(data)
    return digest


def _write_runs(root: Path) -> None:
    task = TaskSpec.load("digits")
    data = task.family.prepare(task)
    ids = [line.split(",")[0] for line in (data.public / "test.csv").read_text().splitlines()[1:]]
    rng = random.Random(0)
    for i in range(N_RUNS):
        log_dir = root / f"run{i:02d}"
        log_dir.mkdir(parents=True)
        subs = [("id,label\n" + "".join(f"{x},{rng.randrange(10) if rng.random() < 0.3 else 0}\n" for x in ids)).encode()
                for _ in range(2)]
        records = [{"type": "reset", "task": "digits", "run_id": f"r{i}", "seed": i, "agent": f"a{i % 3}",
                    "files": {"train.py": _put(log_dir, b"print(1)\n")}, "time": 1000.0}]
        for step, sub in enumerate(subs, start=1):
            records.append({"type": "step", "step": step, "action": {"name": "Execute Script", "arguments": {}},
                            "observation": "ok", "error": False, "files": {"submission.csv": _put(log_dir, sub)},
                            "time": 1000.0 + step})
        if i % 2:  # finished: the result is read as written
            result = {"task": "digits", "metric": "accuracy", "direction": "higher", "score": 0.1 + i / 100, "baseline": 0.77,
                      "improvement": (0.1 + i / 100 - 0.77) / 0.77, "valid_submission": True, "reason": "final_answer",
                      "run_id": f"r{i}", "agent": f"a{i % 3}", "seed": i, "steps": 2, "wall_time": 2.0, "episode_finished": True}
            records.append({"type": "result", **result, "time": 1003.0})
            (log_dir / "result.json").write_text(json.dumps(result))
        (log_dir / "trace.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))


def _table(root: Path, out: Path, jobs: int) -> dict:
    assert cli.main(["eval", str(root), "--out", str(out), "-j", str(jobs), "--no-cache", "--max-rescore", "0", "-q"]) == 0
    table = json.loads((out / "table.json").read_text())
    table.pop("meta")  # timing and creation time
    return table


def test_parallel_eval_gives_the_same_table_as_serial(tmp_path):
    root = tmp_path / "runs"
    _write_runs(root)
    serial = _table(root, tmp_path / "serial", 1)
    assert len(serial["runs"]) == N_RUNS
    scored = [r for r in serial["runs"] if r["scored_from"] == "trace (last snapshot)"]
    assert len(scored) == N_RUNS // 2 and all(r["valid_submission"] and r["score"] is not None for r in scored), scored[:2]
    for k in range(5):
        assert _table(root, tmp_path / f"par{k}", 4) == serial, f"parallel try {k} differs"
