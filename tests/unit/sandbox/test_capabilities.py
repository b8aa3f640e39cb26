"""The core asks backends and families for capabilities, never for names (issue 20).

Sandbox backends: :func:`mlgym.sandbox.base.capabilities` flags replace ``== "local-plain"`` /
``startswith("local")`` / ``== "docker"`` checks (grading, task environments, the runner, the
sandbox CLI).  Families: the catalog's runtime-checkable protocols (``Oracle``,
``FolderAliases``) replace ``getattr(family, ...)``.
"""

from __future__ import annotations

import re
import shutil
import sys
from pathlib import Path

import pytest

from mlgym.sandbox.base import capabilities
from mlgym.tasks.catalog import FolderAliases, Oracle, family
from mlgym.tasks.spec import TaskSpec

ROOT = Path(__file__).resolve().parents[3]


def test_backend_flags() -> None:
    plain, bwrap, local, docker = (capabilities(k) for k in ("local-plain", "local-bwrap", "local", "docker"))
    assert not plain.isolated and bwrap.isolated and local.isolated and docker.isolated
    assert plain.host_python and bwrap.host_python and not docker.host_python
    assert docker.images and docker.daemon and not (local.images or local.daemon or plain.images or plain.daemon)
    assert all(c.own_uid for c in (plain, bwrap, local, docker))


def test_task_environment_options_follow_the_flags() -> None:
    from mlgym.tasks.taskenv import sandbox_options

    task = TaskSpec.load("digits")
    for kind in ("local", "local-plain"):
        assert set(sandbox_options(task, kind)) == {"python"}
    assert "python" not in sandbox_options(task, "docker")


@pytest.mark.parametrize("kind", ["local-plain", "local"])
def test_grading_scores_alike_with_and_without_isolation(kind: str, tmp_path: Path) -> None:
    """local-plain (no mounts: the answers and grader are copied in) grades as an isolated backend does."""
    from mlgym.grading.scoring import evaluate
    from mlgym.tasks.data import prepare

    task = TaskSpec.load("digits")
    data = prepare(task)
    shutil.copy(data.private / "test_labels.csv", tmp_path / "submission.csv")  # every label right
    res = evaluate(task, data, tmp_path, sandbox=kind, sandbox_options={"python": sys.executable})
    assert res["valid_submission"] and res["score"] == 1.0, res


def test_families_offer_capabilities_as_protocols() -> None:
    assert isinstance(family("mlbench"), Oracle) and not isinstance(family("folder"), Oracle)
    assert isinstance(family("mlagentbench-folder"), FolderAliases) and not isinstance(family("folder"), FolderAliases)


def test_the_core_asks_for_capabilities_not_names() -> None:
    """No backend-name comparison, family getattr or signature sniffing left outside the sandbox and family packages."""
    banned = re.compile(r'[=!]= "local-|startswith\("local|== "docker"|!= "docker"|getattr\([\w.]*family|hasattr\([\w.]*(family|sandbox)')
    found = []
    for folder in (ROOT / "mlgym", ROOT / "agents"):
        for f in folder.rglob("*.py"):
            rel = f.relative_to(ROOT).as_posix()
            if rel.startswith(("mlgym/families/", "mlgym/sandbox/")):
                continue
            found += [f"{rel}:{n}: {ln.strip()}" for n, ln in enumerate(f.read_text().splitlines(), 1) if banned.search(ln)]
    assert found == []
