"""Strict mypy over mlgym, so the README's test command (and .ci/run) keeps the package typed.

The configuration is setup.cfg's ``[mypy]`` section.  ``python -m mypy mlgym`` is the command the
docs give; ``mlgym.agents`` and ``mlgym.benchmarks`` live in ``agents/`` and ``benchmarks/``
(setup.cfg's package_dir), which that command cannot map, so they are checked here through
mypy's API under their installed module names.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.timeout(900)  # a cold run (no .mypy_cache) takes ~90 s on 2 cores


def mypy(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "mypy", *args], cwd=ROOT, capture_output=True, text=True)


def test_config_is_strict():
    """Guards the checks below: an unannotated function must be an error under our config."""
    r = mypy("-c", "def f(x): return x")
    assert r.returncode == 1 and "missing a type annotation" in r.stdout, r.stdout + r.stderr


def test_mlgym_agents_and_benchmarks_are_strictly_typed():
    """One mypy build over mlgym (what ``python -m mypy mlgym`` checks), mlgym.agents and mlgym.benchmarks."""
    from mypy import build
    from mypy.main import process_options
    from mypy.modulefinder import BuildSource

    sources, options = process_options(["--config-file", str(ROOT / "setup.cfg"), str(ROOT / "mlgym")])
    for package, folder in (("mlgym.agents", ROOT / "agents"), ("mlgym.benchmarks", ROOT / "benchmarks")):
        for f in sorted(folder.glob("*.py")):  # only the package modules, not the tasks' starter code
            sources.append(BuildSource(str(f), package if f.stem == "__init__" else f"{package}.{f.stem}"))
    assert len(sources) > 3
    errors = build.build(sources, options).errors
    assert not errors, "\n".join(errors)
