"""ML-Bench rows on a repository in the real layout that declares its own requirements (issue 24).

Built at test time, offline: a wheelhouse holding a pure-Python package (``mlbtoydep``, a wheel
written here), git repositories whose ``requirements.txt`` / ``setup.py`` name it, and rows in
ML-Bench's schema.  No ``MLGYM_MLBENCH_PYTHON_*`` is set: the repository's environment is built
from what it declares (``MLGYM_WHEELHOUSE`` keeps pip off the network).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from mlgym.core.errors import MLGymError
from mlgym.families.mlbench import envs
from mlgym.families.mlbench import family as mlbench
from mlgym.grading.base import Submission
from mlgym.runs import runner
from mlgym.tasks import taskenv
from mlgym.tasks.spec import TaskSpec

DEP = '''"""A pure-Python dependency of the test repositories."""
def scale(values, s):
    return [v * s for v in values]
'''

ATTN = '''from mlbtoydep import scale


class Attention:
    def __init__(self, d_model, S):
        self.d_model, self.S = d_model, S

    def __call__(self, values):
        return scale(values, self.S / self.d_model)
'''

RUN_ATTN = '''import argparse
from toyattn.attention import Attention

p = argparse.ArgumentParser()
p.add_argument("--d_model", type=int, required=True)
p.add_argument("--S", type=int, required=True)
a = p.parse_args()
print(Attention(a.d_model, a.S)([1.0, 2.0]))
'''

SETUP = '''from setuptools import setup, find_packages

REQUIRES = ["mlbtoydep>=1.0"]
setup(name="toyattn", version="0.1", packages=find_packages(), install_requires=REQUIRES)
'''


def _wheel(out: Path, name: str, version: str, module: str) -> Path:
    """A minimal pure-Python wheel (PEP 427), written by hand: no build backend, no network."""
    dist = f"{name}-{version}.dist-info"
    files = {f"{name}.py": module.encode(),
             f"{dist}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode(),
             f"{dist}/WHEEL": b"Wheel-Version: 1.0\nGenerator: mlgym-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"}
    record = []
    for path, data in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(data)}")
    record.append(f"{dist}/RECORD,,")
    whl = out / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(whl, "w") as z:
        for path, data in files.items():
            z.writestr(path, data)
        z.writestr(f"{dist}/RECORD", "\n".join(record) + "\n")
    return whl


def _git_repo(root: Path, files: dict[str, str]) -> None:
    root.mkdir(parents=True)
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@t", "GIT_AUTHOR_DATE": "2024-01-01T00:00:00", "GIT_COMMITTER_DATE": "2024-01-01T00:00:00"}
    for argv in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "init"]):
        subprocess.run(["git", "-C", str(root), *argv], check=True, env=env, capture_output=True)


def _row(rid: str, repo: str, kind: str, output: str, arguments: dict[str, str], path: str = "./") -> dict[str, object]:
    return {"github_id": 900 + len(repo), "github": f"https://github.com/mlgym-tests/{repo}", "repo_id": 1, "id": rid,
            "path": path, "arguments": repr(arguments), "instruction": f"row {rid} of {repo}", "oracle": output,
            "type": kind, "output": output, "prefix_code": ""}


def _locked_torch() -> str:
    return next(c.split("==", 1)[1] for c in taskenv.lock_constraints() if c.startswith("torch=="))


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("mlbench-env")
    (out / "wheels").mkdir()
    _wheel(out / "wheels", "mlbtoydep", "1.0", DEP)
    _wheel(out / "wheels", "torch", _locked_torch(), "__version__ = 'a stand-in for the CPU build'\n")
    _git_repo(out / "repos" / "toyattn", {
        "README.md": "# toyattn\n\n```python\nfrom toyattn.attention import Attention\n```\n",
        "requirements.txt": "mlbtoydep==1.0  # the scaling helper\n-e .\n",
        "setup.py": SETUP, "toyattn/__init__.py": "", "toyattn/attention.py": ATTN, "run_attn.py": RUN_ATTN})
    _git_repo(out / "repos" / "toytorch", {
        "README.md": "# toytorch\n", "requirements.txt": "torch==1.7.1\nmlbtoydep==1.0\n", "use.py": "import torch\n"})
    _git_repo(out / "repos" / "toypartial", {
        "README.md": "# toypartial\n", "requirements.txt": "mlbtoydep==1.0\nmlbtoymissing==9.9\n",
        "use.py": "from mlbtoydep import scale\nprint(scale([1], 2))\n"})
    py_answer = "from toyattn.attention import Attention\nprint(Attention(d_model=16, S=4)([1.0, 2.0]))"
    rows = [
        _row("501", "toyattn", "Python Code", py_answer, {"d_model": "16", "S": "4"}),
        _row("502", "toyattn", "Bash Script", "python run_attn.py --d_model 16 --S 4", {"d_model": "16", "S": "4"}),
        _row("503", "toyattn", "Python Code",
             "import urllib.request\nurllib.request.urlopen('https://weights.example.org/attn-16.pth').read()", {}),
        _row("601", "toypartial", "Bash Script", "python use.py 2", {}),
        _row("651", "toytorch", "Bash Script", "python use.py 2", {}),
    ]
    (out / "rows.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return out


@pytest.fixture
def rows(world: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for var in list(os.environ):
        if var.startswith(("MLGYM_MLBENCH_PYTHON_", "MLGYM_MLBENCH_IMAGE_")):
            monkeypatch.delenv(var)
    monkeypatch.delenv("MLGYM_ALLOW_PARTIAL_ENV", raising=False)
    monkeypatch.delenv("MLGYM_MLBENCH_NETWORK", raising=False)
    monkeypatch.setenv("MLGYM_MLBENCH", str(world / "rows.jsonl"))
    monkeypatch.setenv("MLGYM_MLBENCH_REPOS", str(world / "repos"))
    monkeypatch.setenv("MLGYM_MLBENCH_TIMEOUT", "30")
    monkeypatch.setenv("MLGYM_WHEELHOUSE", str(world / "wheels"))  # offline: --no-index
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # only that wheelhouse: no find-links or indexes of this machine
    for var in ("PIP_FIND_LINKS", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_CONSTRAINT"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLGYM_ENV_DIR", str(world / "envs"))  # shared by the tests of this module: built once
    monkeypatch.setenv("MLGYM_DATA_DIR", str(world / "data"))
    return world


def _run(tmp: Path, task: str, *extra: str) -> dict:
    log = tmp / f"run-{task}"
    assert runner.main(["--task", task, "--agent", "oracle", "--log-dir", str(log), "--work-dir", str(tmp / "ws"), "-q", *extra]) == 0
    return json.loads((log / "result.json").read_text())


def _evaluate(task: str, script: str, tmp: Path) -> tuple[float | None, dict[str, float], str]:
    spec = TaskSpec.load(task)
    fam = mlbench.MLBenchFamily()
    data = fam.prepare(spec)
    row = mlbench.options(spec).row
    (tmp / row.workdir).mkdir(parents=True, exist_ok=True)
    (tmp / row.run_sh).write_text(script)
    res = fam.evaluate(spec, data, Submission(tmp), python=str(taskenv.ensure(spec)))
    return res.score, res.metrics, res.error or ""


def test_declarations_are_read_without_running_the_repository(world, tmp_path):
    dec = envs.declared(world / "repos" / "toyattn")
    assert dec.requirements == ["mlbtoydep>=1.0", "mlbtoydep==1.0"] and dec.sources == ["setup.py", "requirements.txt"]
    assert any("-e ." in s for s in dec.skipped)
    tree = tmp_path / "t"
    tree.mkdir()
    (tree / "setup.py").write_text("import os\nos.system('touch PWNED')\nsetup(install_requires=['a>=1'] + ['torch==1.7.1'])\n")
    (tree / "environment.yml").write_text("dependencies:\n  - python=3.7\n  - pip:\n    - b==2\n    - git+https://x/y.git\n")
    (tree / "pyproject.toml").write_text("[project]\nname='x'\ndependencies=['c<3; python_version < \"3\"', 'd']\n")
    p = envs.plan(tree, {"add": ["torchvision>=0.8"], "drop": ["b"], "why": {"b": "a test"}, "local": [".", "../x"]})
    assert p.requirements == ["a>=1", "torch", "d", "torchvision"] and p.local == ["."]
    assert not (tree / "PWNED").exists()  # setup.py is parsed, never run
    assert any("torch==1.7.1 -> torch" in n for n in p.notes) and any("dropped b==2 (a test" in n for n in p.notes)
    assert any("python=3.7 (a conda package" in n for n in p.notes) and any("a URL" in n for n in p.notes)
    assert envs.torch_constraint(["numpy==2.4.6", "torch==2.13.0+cpu"]) == ["torch==2.13.0+cpu"]
    assert envs.extras_for("External-Attention-pytorch")["conda"] == "EAP_DS" and envs.extras_for("nope") == {}


@pytest.mark.slow
def test_oracle_passes_in_the_repository_environment_built_from_its_declarations(rows, tmp_path):
    spec = TaskSpec.load("mlbench-501")
    assert spec.environment.python is None and spec.environment.resolve is not None
    env = taskenv.plan(spec)
    assert env.requirements == ("mlbtoydep==1.0",) and all(c.startswith("torch==") for c in env.constraints)
    for task in ("mlbench-501", "mlbench-502"):
        res = _run(tmp_path, task)
        assert res["score"] == 1.0 and res["reward"] == 1.0 and res["success"] is True, res
        m = res["metrics"]
        assert m["exec_pass"] == m["args_pass"] == m["type_pass"] == m["all_pass"] == m["args_code_pass"] == 1.0
    rec = env.record()  # one environment for the repository's rows, with exactly what it declares
    assert rec["key"] == env.key and any(p.startswith("mlbtoydep==") for p in rec["installed"])  # type: ignore[union-attr]
    assert not any(p.lower().startswith(("numpy==", "pandas==")) for p in rec["installed"])  # type: ignore[union-attr]
    assert taskenv.plan(TaskSpec.load("mlbench-502")).key == env.key


@pytest.mark.slow
def test_wrong_answers_fail_with_the_check_named_and_doing_nothing_scores_zero(rows, tmp_path):
    score, m, err = _evaluate("mlbench-501", "python - <<'EOF'\nfrom toyattn.attention import Attention\n"
                              "print(Attention(d_model=16, S=32)([1.0]))\nEOF\n", tmp_path / "a")
    assert score == 0.0 and m["exec_pass"] == 1.0 and m["args_pass"] == 0.0 and "arguments missing from run.sh: S=4" in err
    score, m, err = _evaluate("mlbench-501", "exit 0\n", tmp_path / "b")
    assert score == 0.0 and m["exec_pass"] == 1.0 and m["all_pass"] == 0.0 and "d_model=16, S=4" in err
    # the values only in a comment: ML-Bench's substring check passes it (all_pass stays its number), the reward does not
    score, m, err = _evaluate("mlbench-501", "# d_model 16, S 4\nexit 0\n", tmp_path / "c")
    assert score == 0.0 and m["all_pass"] == 1.0 and m["args_code_pass"] == 0.0
    assert "arguments only in comments of run.sh: d_model=16, S=4" in err
    score, m, err = _evaluate("mlbench-502", "python run_attn.py --d_model 16 --S x4\n", tmp_path / "d")
    assert score == 0.0 and m["exec_pass"] == 0.0 and "run.sh failed (exit 2)" in err and "invalid int value" in err


@pytest.mark.slow
def test_a_download_without_the_network_fails_in_one_line_naming_it(rows, tmp_path):
    t0 = time.monotonic()
    res = _run(tmp_path, "mlbench-503")
    assert res["score"] == 0.0 and res["metrics"]["exec_pass"] == 0.0 and time.monotonic() - t0 < 60
    assert res["error"] == ("run.sh needs the network: https://weights.example.org/attn-16.pth "
                            "(MLGYM_MLBENCH_NETWORK=1 allows downloads)"), res["error"]


@pytest.mark.slow
def test_an_uninstallable_requirement_is_named_and_partial_envs_run_with_the_rest(rows, tmp_path, monkeypatch, capsys):
    spec = TaskSpec.load("mlbench-601")
    with pytest.raises(MLGymError) as e:
        taskenv.ensure(spec)
    msg = str(e.value)
    assert "\n" not in msg and msg.startswith("cannot install mlbtoymissing==9.9") and "--allow-partial-env" in msg
    assert "mlbtoydep" not in msg.split(" (--allow")[0]
    log = tmp_path / "partial"
    assert runner.main(["--task", "mlbench-601", "--agent", "oracle", "--log-dir", str(log), "--work-dir",
                        str(tmp_path / "ws"), "-q", "--allow-partial-env"]) == 0
    res = json.loads((log / "result.json").read_text())
    assert res["score"] == 1.0, res
    rec = taskenv.plan(spec).record()
    assert rec["partial"] is True and list(rec["failed"]) == ["mlbtoymissing==9.9"]  # type: ignore[call-overload]
    monkeypatch.delenv("MLGYM_ALLOW_PARTIAL_ENV")  # set by the flag; a run that does not allow it is refused again
    assert not taskenv.plan(spec).ready


def test_listing_without_the_hub_is_fast_and_uses_the_cached_rows(tmp_path, monkeypatch, capsys):
    from mlgym import cli

    monkeypatch.delenv("MLGYM_MLBENCH", raising=False)
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HF_ENDPOINT", "https://hub.invalid")  # nothing answers: as offline
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    for var in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    t0 = time.monotonic()
    assert cli.main(["tasks", "--family", "mlbench"]) == 2
    assert time.monotonic() - t0 < 2.0
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: cannot load super-dainiu/ml-bench split 'full': hub.invalid unreachable")
    cached = mlbench.rows_cache("full")
    cached.parent.mkdir(parents=True)
    row = _row("701", "toyattn", "Bash Script", "python run_attn.py --d_model 16 --S 4", {"d_model": "16"})
    cached.write_text(json.dumps(row) + "\n")
    assert cli.main(["tasks", "--family", "mlbench"]) == 0
    assert "mlbench-701" in capsys.readouterr().out


def test_docker_gets_the_same_environment_as_a_layer(rows, tmp_path):
    from mlgym.sandbox.base import EnvLayer

    spec = TaskSpec.load("mlbench-501")
    layer = taskenv.sandbox_options(spec, "docker")["env_layer"]
    assert isinstance(layer, EnvLayer) and layer.key == taskenv.plan(spec).key
    assert layer.requirements == ("mlbtoydep==1.0",) and all(c.startswith("torch==") for c in layer.constraints)


@pytest.mark.slow
def test_repository_environments_share_one_pytorch_by_hard_links(rows, tmp_path):
    spec = TaskSpec.load("mlbench-651")
    env = taskenv.plan(spec)
    assert env.requirements == ("mlbtoydep==1.0", "torch")  # the repository's torch==1.7.1: the CPU build's pin decides
    taskenv.ensure(spec)
    base = taskenv.plan_for(["torch"], constraints=env.constraints)
    assert base.ready and base.record()["installed"] == [f"torch=={_locked_torch()}"]
    mine, shared = (next((e.path / "lib").glob("python3*/site-packages/torch.py")) for e in (env, base))
    assert mine.stat().st_ino == shared.stat().st_ino  # one copy on disk
    assert _run(tmp_path, "mlbench-651")["score"] == 1.0


def test_a_mirror_without_some_blobs_is_extracted_with_the_rest_listed(tmp_path, monkeypatch):
    repo = tmp_path / "repos" / "toybig"
    _git_repo(repo, {"README.md": "# toybig\n", "weights/big.bin": "pretend this is large\n", "run.py": "print('ok')\n"})
    blob = subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD:weights/big.bin"], capture_output=True, text=True,
                          check=True).stdout.strip()
    (repo / ".git" / "objects" / blob[:2] / blob[2:]).unlink()  # as in a mirror made without its largest files
    row = _row("801", "toybig", "Bash Script", "python run.py ", {})
    (tmp_path / "rows.jsonl").write_text(json.dumps(row) + "\n")
    monkeypatch.setenv("MLGYM_MLBENCH", str(tmp_path / "rows.jsonl"))
    monkeypatch.setenv("MLGYM_MLBENCH_REPOS", str(tmp_path / "repos"))
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path / "data"))
    tree, _sha = mlbench.pristine(mlbench.load_rows()[0])
    assert (tree / "run.py").read_text() == "print('ok')\n" and not (tree / "weights" / "big.bin").exists()
    assert (tree / mlbench.MISSING).read_text() == "weights/big.bin\n"
    data = mlbench.MLBenchFamily().prepare(TaskSpec.load("mlbench-801"))
    assert json.loads((data.public / "task.json").read_text())["missing_files"] == ["weights/big.bin"]


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-q"]))
