"""The TaskFamily protocol: a family of one's own in an outside package, named by ``kind:``
as ``"module:Class"``, runs episodes through the same env; folder tasks validate strictly."""

from __future__ import annotations

import shutil
import sys
import textwrap
from pathlib import Path

import pytest

import mlgym
from mlgym.core.errors import TaskError
from mlgym.families.base import EvalResult, TaskFamily
from mlgym.tasks.catalog import family
from mlgym.tasks.spec import TaskSpec

REPO = Path(__file__).resolve().parents[3]

OWN_FAMILY = '''
"""A family outside mlgym: the agent must write the secret number (hidden in private/) to answer.txt."""
from pathlib import Path

from mlgym.tasks.data import build
from mlgym.families.base import data_mounts
from mlgym.grading.scoring import run_eval
from mlgym.tasks.spec import Fields, TaskSpec, common_fields

CHECK = b"import json; a = open('answer.txt').read().strip(); s = open('answers/secret.txt').read().strip(); print(json.dumps({'score': float(a == s)}))"


class Guess:
    kind = "guessfam.family:Guess"

    def expand(self, path, raw):
        secret = Fields(path, raw).get("secret", int)
        spec = TaskSpec(root=path.parent, kind=self.kind, options=secret,
                        **common_fields(path, raw, name=path.stem, own_keys=["secret"], submission="answer.txt"))
        return [spec]

    def prepare(self, task, *, root=None, force=False, verify=False, progress=None):
        def produce(raw, public, private, say):
            (public / "hint.txt").write_text(f"the number is {task.options}\\n")
            (private / "secret.txt").write_text(f"{task.options}\\n")
        return build(task, produce, root=root, force=force, verify=verify, progress=progress)

    def build_workspace(self, task, workspace):
        (workspace / "train.py").write_text("open('answer.txt', 'w').write(open('data/hint.txt').read().split()[-1])\\n")

    def mounts(self, task, data):
        return data_mounts(data)

    def describe(self, task):
        return f"Research Problem: {task.description}"

    def evaluate(self, task, data, submission, *, sandbox="local", python="python", sandbox_options=None):
        return run_eval(task, data, submission, {"check.py": CHECK}, [python, "check.py"], sandbox=sandbox, sandbox_options=sandbox_options)
'''


@pytest.fixture
def own_family(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    pkg = tmp_path / "site" / "guessfam"
    pkg.mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "family.py").write_text(OWN_FAMILY)
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    bench = tmp_path / "bench"
    bench.mkdir()
    (bench / "guess.yaml").write_text(textwrap.dedent("""\
        kind: guessfam.family:Guess
        name: guess
        description: Write the number to answer.txt.
        metric: accuracy
        secret: 42
        baseline: {score: 1.0, measured: "the starter reads the hint"}
        limits: {max_steps: 5, exec_timeout: 60}
    """))
    monkeypatch.setenv("MLGYM_BENCHMARKS", str(bench))
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path / "data"))
    return bench


def test_a_family_from_an_outside_package_runs_an_episode(own_family: Path, tmp_path: Path) -> None:
    spec = TaskSpec.load("guess")
    assert spec.kind == "guessfam.family:Guess" and isinstance(spec.family, TaskFamily) and spec.options == 42
    env = mlgym.make("guess", sandbox="local", python=sys.executable, log_dir=tmp_path / "log", work_dir=tmp_path / "ws")
    try:
        obs, _info = env.reset(seed=0)
        assert "Write the number to answer.txt" in obs
        env.step({"name": "Execute Script", "arguments": {"script_name": "train.py"}})
        _obs, reward, terminated, _trunc, info = env.step({"name": "Final Answer", "arguments": {"final_answer": "done"}})
    finally:
        env.close()
    assert terminated and info["result"]["valid_submission"] and info["result"]["score"] == 1.0 and reward == 0.0


def test_own_family_keys_are_strict_too(own_family: Path) -> None:
    y = own_family / "guess.yaml"
    y.write_text(y.read_text().replace("secret: 42", "secret: forty-two"))
    with pytest.raises(TaskError, match=r"guess\.yaml: secret: expected int"):
        TaskSpec.load("guess")
    y.write_text(y.read_text().replace("secret: forty-two", "secret: 42\nsecrets: 1"))
    with pytest.raises(TaskError, match=r"guess\.yaml: secrets: unknown field"):
        TaskSpec.load("guess")


def test_unknown_or_incomplete_family(tmp_path: Path) -> None:
    with pytest.raises(TaskError, match="unknown family 'nope'"):
        family("nope")
    with pytest.raises(TaskError, match="cannot load family"):
        family("no_such_module_xyz:Family")
    with pytest.raises(TaskError, match="lacks the TaskFamily methods"):
        family("mlgym.grading.base:EvalResult")
    assert EvalResult(score=1.0, valid=True).as_dict()["valid_submission"] is True


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("metric: accuracy", "metric: accuracy\nfolds: 5", "folds: unknown field"),
        ("metric: accuracy", "metric: acuracy", "metric: unknown metric 'acuracy'"),
        ("  - sklearn/datasets/data/digits.csv.gz", "  - digits.csv.gz", "hide: give package-data paths"),
        ("metric: accuracy", "metric: accuracy\nkind: kaggle", "kind: a Kaggle competition is a single-file entry"),
    ],
)
def test_folder_task_yaml_is_strict(tmp_path: Path, old: str, new: str, message: str) -> None:
    dest = tmp_path / "digits"
    shutil.copytree(REPO / "benchmarks" / "digits", dest)
    y = dest / "task.yaml"
    y.write_text(y.read_text().replace(old, new, 1))
    with pytest.raises(TaskError) as err:
        TaskSpec.load(dest)
    assert "\n" not in str(err.value) and str(y) in str(err.value) and message in str(err.value)
