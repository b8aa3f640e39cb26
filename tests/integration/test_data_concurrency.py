"""Parallel runs preparing the same task at once (a bench grid, a rollout): one prepares,
the others wait for it; nobody crashes or sees half-written data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

CODE = (
    "import sys\n"
    "from mlgym.tasks.data import prepare\n"
    "from mlgym.tasks.spec import TaskSpec\n"
    "data = prepare(TaskSpec.load(sys.argv[1]))\n"
    "print(sorted(p.name for p in data.public.iterdir()))\n"
)


def test_concurrent_prepare_of_one_task(tmp_path: Path) -> None:
    env = {**os.environ, "MLGYM_DATA_DIR": str(tmp_path / "data")}
    procs = [subprocess.Popen([sys.executable, "-c", CODE, "digits"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True) for _ in range(4)]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-1500:] for o in outs]
    assert len({o[0] for o in outs}) == 1 and "train.csv" in outs[0][0]
    manifest = json.loads((tmp_path / "data" / "digits" / "manifest.json").read_text())
    assert manifest["task"] == "digits" and manifest["files"]
    assert not list((tmp_path / "data" / "digits").glob("*.tmp"))
