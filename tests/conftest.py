"""Shared fixtures: a private data cache and a scratch working directory per session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Set before any mlgym import so every test (and subprocess) uses the private cache.
_SESSION_DATA = Path(os.environ.get("MLGYM_TEST_DATA_DIR", "/tmp/mlgym-test-data"))
os.environ.setdefault("MLGYM_DATA_DIR", str(_SESSION_DATA))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


@pytest.fixture(autouse=True)
def _scratch_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run every test in its own folder so default runs/ and workspaces/ go there."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def env_factory(tmp_path: Path):
    """Build MLGymEnv instances that are closed after the test."""
    from mlgym.env import MLGymEnv

    made = []

    def make(task: str = "digits", **kw):
        kw.setdefault("log_dir", tmp_path / f"log{len(made)}")
        kw.setdefault("work_dir", tmp_path / "ws")
        env = MLGymEnv(task, **kw)
        made.append(env)
        return env

    yield make
    for env in made:
        env.close()
