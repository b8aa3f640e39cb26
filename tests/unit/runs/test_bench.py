"""`mlgym bench`: a grid of runs in parallel processes, skipped when done, resumed when cut short."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mlgym.runs import bench

from mlgym import cli
from mlgym.core.errors import MLGymError


def _grid(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "grid.yaml"
    path.write_text(text)
    return path


@pytest.mark.slow
def test_grid_runs_skips_and_resumes(tmp_path, capsys):
    grid = _grid(tmp_path, "name: g\ntasks: [digits]\nagents: [baseline]\nseeds: 2\n")
    out = tmp_path / "out"
    assert bench.main([str(grid), "--out", str(out), "-j", "2"]) == 0
    results = sorted(out.glob("digits/baseline/seed*/result.json"))
    assert len(results) == 2
    table = json.loads((out / "eval" / "table.json").read_text())
    assert len(table["runs"]) == 2 and {r["seed"] for r in table["runs"]} == {0, 1}
    done_mtime = results[0].stat().st_mtime_ns
    # a run cut short (killed before its result record) is resumed; a finished one is left alone
    results[1].unlink()
    trace = results[1].parent / "trace.jsonl"
    trace.write_bytes(b"".join(line for line in trace.read_bytes().splitlines(keepends=True) if b'"type": "result"' not in line))
    from mlgym import cli

    assert cli.main(["score", str(results[1].parent), "--write"]) == 0  # scored from the snapshot: still not finished
    capsys.readouterr()
    assert bench.main([str(grid), "--out", str(out)]) == 0
    assert "1 done, 1 to run" in capsys.readouterr().out
    assert results[0].stat().st_mtime_ns == done_mtime
    resumed = json.loads(results[1].read_text())
    assert resumed["valid_submission"] and resumed["steps"] == 6  # 3 before the cut + 3 after resuming


@pytest.mark.parametrize(
    "text, message",
    [
        ("tasks: [nope]\nagents: [baseline]\n", "unknown task 'nope'"),
        ("tasks: [digits]\nagents: [nobody]\n", "unknown agent 'nobody'"),
        ("tasks: [digits]\nagents: []\n", "agents: give at least one agent"),
        ("tasks: [digits]\nagents: [baseline]\nseeds: -1\n", "seeds: give a positive count"),
        ("tasks: digits\nagents: [baseline]\n", "tasks: give a list"),
        ("tasks: [digits]\nagents: [baseline]\nsedes: 2\n", "unknown fields ['sedes']"),
        ("tasks: [digits\n", "not valid YAML"),
    ],
)
def test_bad_grid_is_one_line(tmp_path, capsys, text, message):
    grid = _grid(tmp_path, text)
    with pytest.raises(MLGymError) as err:
        bench.load_grid(grid)
    assert message in str(err.value)
    assert cli.main(["bench", str(grid)]) == 2
    assert message in capsys.readouterr().err


@pytest.mark.slow
def test_grid_on_a_local_ray_cluster(tmp_path):
    grid = _grid(tmp_path, "tasks: [digits]\nagents: [baseline]\nseeds: [3]\n")
    out = tmp_path / "ray-out"
    assert bench.main([str(grid), "--out", str(out), "--ray", "local"]) == 0
    result = json.loads((out / "digits" / "baseline" / "seed3" / "result.json").read_text())
    assert result["valid_submission"] and result["seed"] == 3
