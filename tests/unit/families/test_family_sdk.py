"""An outside family built from the documented SDK alone (``mlgym.sdk``, docs/family_sdk.md):
written to a temporary package, named by a task YAML's ``kind: "module:Class"`` and, a second
time, by :func:`mlgym.sdk.register_family`; the baseline agent's episode reaches a score."""

from __future__ import annotations

import ast
import sys
import textwrap
from pathlib import Path

import pytest

import mlgym

OUTSIDE = '''
"""A family outside mlgym: predict the mean of data/train.txt; scored by absolute error."""
from pathlib import Path

from mlgym.sdk import FamilyBase, Fields, Submission, TaskSpec, build, common_fields, run_eval

CHECK = (b"import json\\n"
         b"guess = float(open('answer.txt').read())\\n"
         b"truth = float(open('answers/mean.txt').read())\\n"
         b"print(json.dumps({'score': abs(guess - truth)}))\\n")


class MeanFamily(FamilyBase):
    kind = "meanfam.family:MeanFamily"

    def expand(self, path, raw):
        values = Fields(path, raw).get("values", list)
        return [TaskSpec(root=path.parent, kind=self.kind, options=tuple(values),
                         **common_fields(path, raw, name=path.stem, own_keys=["values"], submission="answer.txt"))]

    def prepare(self, task, *, root=None, force=False, verify=False, progress=None):
        def produce(raw, public, private, say):
            (public / "train.txt").write_text("\\n".join(str(v) for v in task.options) + "\\n")
            (private / "mean.txt").write_text(str(sum(task.options) / len(task.options)))
        return build(task, produce, root=root, force=force, verify=verify, progress=progress)

    def build_workspace(self, task, workspace):
        (workspace / "train.py").write_text(
            "xs = [float(x) for x in open('data/train.txt').read().split()]\\n"
            "open('answer.txt', 'w').write(str(sum(xs) / len(xs)))\\n")

    def evaluate(self, task, data, submission: Submission, *, sandbox="local", python="python", sandbox_options=None):
        return run_eval(task, data, submission, {"check.py": CHECK}, [python, "check.py"],
                        sandbox=sandbox, sandbox_options=sandbox_options)
'''


def test_the_outside_family_imports_only_the_sdk() -> None:
    tree = ast.parse(OUTSIDE)
    mods = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)} | {
        a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert {m for m in mods if m and m.startswith("mlgym")} == {"mlgym.sdk"}


@pytest.fixture
def outside(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    pkg = tmp_path / "site" / "meanfam"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "family.py").write_text(OUTSIDE)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "mean.yaml").write_text(textwrap.dedent("""\
        kind: meanfam.family:MeanFamily
        name: mean
        description: Write the mean of data/train.txt to answer.txt.
        metric: mae
        values: [1, 2, 3, 6]
        baseline: {score: 1.0, measured: "a guess of 2"}
        limits: {max_steps: 5, exec_timeout: 60}
    """))
    monkeypatch.setenv("MLGYM_BENCHMARKS", str(bench))
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path / "data"))
    for mod in ("meanfam", "meanfam.family"):  # a package of this name from another test's folder
        monkeypatch.delitem(sys.modules, mod, raising=False)
    from mlgym.tasks import catalog

    catalog.family.cache_clear()
    return bench


def _episode(task: str, tmp_path: Path) -> dict[str, object]:
    from mlgym.agents.baseline import BaselineAgent

    env = mlgym.make(task, sandbox="local", python=sys.executable, log_dir=tmp_path / "log", work_dir=tmp_path / "ws")
    try:
        obs, info = env.reset(seed=0)
        assert "Write the mean" in obs
        result = BaselineAgent().run(env, obs, info)
    finally:
        env.close()
    assert isinstance(result, dict)
    return result


def test_outside_family_by_module_class_kind(outside: Path, tmp_path: Path) -> None:
    result = _episode("mean", tmp_path)
    assert result["valid_submission"] and result["score"] == 0.0 and result["success"]


def test_outside_family_by_register_family(outside: Path, tmp_path: Path) -> None:
    from mlgym.sdk import register_family
    from mlgym.tasks import catalog

    y = outside / "mean.yaml"
    y.write_text(y.read_text().replace("kind: meanfam.family:MeanFamily", "kind: meanfam"))
    (outside.parent / "site" / "meanfam" / "family.py").write_text(OUTSIDE.replace('kind = "meanfam.family:MeanFamily"', 'kind = "meanfam"'))
    register_family("meanfam", "meanfam.family:MeanFamily")
    try:
        assert "meanfam" in catalog.kinds()
        result = _episode("mean", tmp_path)
        assert result["valid_submission"] and result["score"] == 0.0
    finally:
        catalog._REGISTERED.pop("meanfam", None)
        catalog.family.cache_clear()
