"""TRL (issue 26): examples/trl_grpo.py trains GRPOTrainer on digits episodes on this CPU with a tiny model built
from a config (random weights, a tokenizer trained on the spot; nothing downloaded): rewards.jsonl holds one line
per scored rollout with mlgym's reward (== result.json's), final/ holds a model whose weights changed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("trl")
pytestmark = pytest.mark.timeout(420)
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "trl_grpo.py"


def test_trl_grpo_example_trains_on_cpu(tmp_path: Path) -> None:
    out = tmp_path / "grpo"
    proc = subprocess.run([sys.executable, str(EXAMPLE), "--task", "digits", "--steps", "1", "--out", str(out)],
                          capture_output=True, text=True, timeout=400, env={**os.environ, "CUDA_VISIBLE_DEVICES": ""})
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    lines = [json.loads(x) for x in (out / "rewards.jsonl").read_text().splitlines()]
    assert len(lines) == summary["rollouts"] == 4  # one group of num_generations=4, one seed
    assert len({x["seed"] for x in lines}) == 1 and len({x["reward"] for x in lines}) > 1
    for x in lines:
        assert json.loads((Path(x["log_dir"]) / "result.json").read_text())["reward"] == x["reward"]
        assert x["advantage"] == pytest.approx(x["reward"] - x["group_mean"])
    assert summary["max_weight_change"] > 0
    assert (out / "final" / "model.safetensors").is_file() and (out / "final" / "tokenizer.json").is_file()
