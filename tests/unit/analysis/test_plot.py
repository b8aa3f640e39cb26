"""``mlgym plot``: every figure, PNG and SVG, from a table.json and from folders of runs."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from evalruns import make_runs

from mlgym import cli

from mlgym.analysis import plot
from mlgym.analysis import eval as ev
from mlgym.core.errors import MLGymError

pytestmark = pytest.mark.slow  # episodes and module fixtures that take seconds (the fast set leaves them out)

NAMES = ["success_rate", "improvement", "performance_profiles", "score_over_steps", "cost_vs_improvement"]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_runs(tmp_path_factory.mktemp("evalruns"))


@pytest.fixture(scope="module")
def table_json(runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("evalout")
    assert ev.main([str(runs["root"]), "--out", str(out), "-q"]) == 0
    return out / "table.json"


def _svg_text(path: Path) -> str:
    root = ET.parse(path).getroot()  # well-formed XML
    return " ".join(t for t in root.itertext())


@pytest.mark.slow
def test_all_figures_from_a_table(table_json: Path, tmp_path: Path) -> None:
    out = tmp_path / "figs"
    assert cli.main(["plot", str(table_json), "--out", str(out), "--format", "png,svg"]) == 0
    for name in NAMES:
        png = out / f"{name}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
        assert (out / f"{name}.svg").is_file()
    # labels are real text in the SVGs (svg.fonttype none): readable and searchable
    assert "success rate" in _svg_text(out / "success_rate.svg")
    assert "digits" in _svg_text(out / "success_rate.svg")
    profiles = _svg_text(out / "performance_profiles.svg")
    assert "Best attempt" in profiles and "Best submission" in profiles and "AUP" in profiles
    assert "scripted (fake-llm)" in profiles and "task baseline" in profiles
    assert "accuracy" in _svg_text(out / "score_over_steps.svg")
    assert "LLM cost" in _svg_text(out / "cost_vs_improvement.svg")
    # one score-over-steps figure per run (--per-run, default 10), named by run id
    per_run = sorted(p.suffix for p in (out / "runs").iterdir())
    assert per_run == [".png"] * 4 + [".svg"] * 4


def test_many_runs_are_summarised_per_method(table_json: Path) -> None:
    table = json.loads(table_json.read_text())
    many = {**table, "runs": [dict(r, run_id=f"{r['run_id']}-{i}") for i in range(5) for r in table["runs"]]}
    assert len(many["runs"]) > plot.MAX_RUNS_PER_PANEL
    fig = plot.plot_score_over_steps(many)
    assert "median over runs" in fig._suptitle.get_text()
    labels = {t.get_text() for t in fig.legends[0].get_texts()}
    assert {"baseline", "scripted (fake-llm)", "task baseline score"} <= labels


@pytest.mark.slow
def test_figures_from_folders_of_runs(runs: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "figs"
    assert plot.main([str(runs["base0"]), str(runs["improved"]), "--out", str(out), "--format", "png", "--per-run", "0"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{n}.png" for n in NAMES)


def test_empty_table_still_draws(tmp_path: Path) -> None:
    table = ev.evaluate_runs([tmp_path])
    written = plot.save_all(table, tmp_path / "figs", ["png"])
    assert len(written) == len(NAMES) and all(p.stat().st_size > 0 for p in written)


def test_bad_arguments(table_json: Path, tmp_path: Path) -> None:
    with pytest.raises(MLGymError, match="--format"):
        plot.main([str(table_json), "--out", str(tmp_path), "--format", "gif"])
    bad = tmp_path / "x.json"
    bad.write_text(json.dumps({"nope": 1}))
    with pytest.raises(MLGymError, match="table.json"):
        plot.main([str(bad), "--out", str(tmp_path)])
