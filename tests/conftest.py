"""Shared fixtures: a private data cache and a scratch working directory per session.

Tests are arranged by role: ``unit/`` (mirrors the packages), ``integration/`` (whole runs,
installs, services, the type and layer checks), ``adversarial/`` (escape attempts, fuzzing),
``helpers/`` (fixtures and servers the tests import: on ``sys.path`` here). Markers, added
below: ``slow`` (everything in integration/ and adversarial/, and unit tests marked so) and
``docker`` (needs the Docker engine). The fast set, for a developer's edit loop:
``pytest tests/unit -m "not slow and not docker"`` (under a minute).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
sys.path.insert(0, str(TESTS / "helpers"))

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
    from mlgym.env.core import MLGymEnv

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


@pytest.fixture(scope="session")
def docker_ready() -> None:
    """Docker tests fail (not skip) when Docker is unusable, unless MLGYM_SKIP_DOCKER=1."""
    from mlgym.sandbox.docker import DEFAULT_IMAGE, connect

    try:
        connect().images.get(os.environ.get("MLGYM_DOCKER_IMAGE") or DEFAULT_IMAGE)
    except Exception as e:  # daemon down, docker SDK missing, image not built
        msg = f"docker sandbox unusable: {e}; run .ci/setup_docker.sh (or set MLGYM_SKIP_DOCKER=1)"
        if os.environ.get("MLGYM_SKIP_DOCKER") == "1":
            pytest.skip(msg)
        pytest.fail(msg, pytrace=False)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Role markers: integration/ and adversarial/ tests are slow; Docker users are docker."""
    for item in items:
        try:
            role = Path(str(item.path)).resolve().relative_to(TESTS).parts[0]
        except ValueError:
            continue
        if role in ("integration", "adversarial"):
            item.add_marker(pytest.mark.slow)
        if "docker_ready" in getattr(item, "fixturenames", ()) or "docker" in item.path.stem:
            item.add_marker(pytest.mark.docker)
