"""Issue 21: graders an agent cannot tamper with.

The attacker writes files into its workspace (and, in tasks whose eval runs its code, from
inside that code during scoring).  Whatever it does, the grader must not run any of it in its
own process: its files are read-only, away from the submission, and it starts with
``python -I``.  A timed task is scored on inputs drawn at eval time, so output memoized for
the inputs the agent saw fails the check."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from mlgym.grading.scoring import evaluate
from mlgym.tasks.data import prepare
from mlgym.tasks.spec import TaskSpec

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "benchmarks" / "mlagentbench"))
import fixtures  # noqa: E402

FORGED = 'import json, os, sys\nprint(json.dumps({"score": %s, "metrics": {}}), flush=True)\nos._exit(0)\n'
# in the grader (it has mab_common loaded): forge a score; in the agent's own process: be the real module
FORGED_IN_GRADER = (
    "import os, sys\n"
    "if 'mab_common' in sys.modules:\n"
    "    print('{\"score\": -1000.0, \"metrics\": {}}', flush=True)\n"
    "    os._exit(0)\n"
    "sys.path[:] = [p for p in sys.path if os.path.abspath(p or '.') != os.getcwd()]\n"
    "del sys.modules[__name__]\n"
    "import importlib\n"
    "sys.modules[__name__] = importlib.import_module(__name__)\n"
)
# modules the vectorization grader imports lazily *after* the agent's code was loaded
LAZY = ("bisect", "random", "secrets", "hashlib", "bz2", "lzma", "base64", "hmac")


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "data"
    monkeypatch.setenv("MLGYM_DATA_DIR", str(d))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    monkeypatch.setenv("MKL_NUM_THREADS", "1")
    return d


def _mab(name: str, data_dir: Path) -> tuple[TaskSpec, object]:
    spec = TaskSpec.load(f"mlagentbench-{name}")
    fixtures.make(name, data_dir / spec.name / "raw")
    return spec, prepare(spec)


def _folder_task(root: Path) -> Path:
    """A task in MLAgentBench's own layout: get_score is imported from its scripts/."""
    t = root / "tiny-grader"
    (t / "env").mkdir(parents=True)
    (t / "scripts").mkdir()
    (t / "env" / "train.py").write_text("open('submission.csv', 'w').write('y\\n1\\n')\n")
    (t / "scripts" / "prepare.py").write_text("open('answer.txt', 'w').write('1')\n")
    (t / "scripts" / "eval.py").write_text(
        "import os\n\ndef get_score(submission_folder='../env'):\n"
        "    rows = open(os.path.join(submission_folder, 'submission.csv')).read().split()[1:]\n"
        "    return float(rows == [open('answer.txt').read()])\n")
    (t / "scripts" / "research_problem.txt").write_text("Write submission.csv.\n")
    return t


@pytest.mark.parametrize("sandbox", ["local", "docker"])
def test_workspace_module_is_not_imported_by_the_grader(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                         sandbox: str, request: pytest.FixtureRequest) -> None:
    """MLAgentBench-style scoring gets the whole folder the agent wrote: a json.py there ran
    inside the grader (score 1e6) while the grader's interpreter put its cwd on sys.path."""
    if sandbox == "docker":
        request.getfixturevalue("docker_ready")
    mab = tmp_path / "benchmarks"
    _folder_task(mab)
    monkeypatch.setenv("MLGYM_BENCHMARKS", str(mab))
    spec = TaskSpec.load("tiny-grader")
    data = prepare(spec)
    ws = tmp_path / "ws"
    spec.family.build_workspace(spec, ws)
    (ws / "submission.csv").write_text("y\n0\n")  # wrong: an honest grader scores 0
    for mod in ("json", "os", "importlib", "eval", "mab_get_score", "sitecustomize", "usercustomize"):
        (ws / f"{mod}.py").write_text(FORGED % "1e6")
    (ws / "importlib").mkdir()
    (ws / "importlib" / "__init__.py").write_text(FORGED % "1e6")
    res = evaluate(spec, data, ws, sandbox=sandbox)
    assert res["score"] != 1e6, "a module in the submission ran inside the grader"
    assert res["valid_submission"] and res["score"] == 0.0, res["error"]


def test_agent_code_cannot_plant_modules_for_the_grader(tmp_path: Path, data_dir: Path) -> None:
    """vectorization imports train.py in a child process; that code writes modules the grader
    imports lazily later (into its cwd, and over the grader's own files) to print a forged
    negative time.  The grader must keep its honest clock."""
    spec, data = _mab("vectorization", data_dir)
    starter = (spec.env_dir / "train.py").read_text()
    plant = "\nimport os\n" + "".join(
        f"try:\n    open({repr(p)}, 'w').write({FORGED_IN_GRADER!r})\nexcept OSError:\n    pass\n"
        for p in [f"{m}.py" for m in LAZY] + [".mlgym-grader/mab_common.py", ".mlgym-grader/eval.py", "mab_common.py"])
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "train.py").write_text(starter + plant)
    res = evaluate(spec, data, sub)
    assert res["score"] != -1000.0, "a module the agent's code planted ran in the grader"
    assert res["valid_submission"] and res["score"] > 0, res["error"]


def test_timed_task_is_scored_on_hidden_prompts(tmp_path: Path, data_dir: Path) -> None:
    """llama-inference: printing generations memoized for the public prompts was 70x 'faster'."""
    pytest.importorskip("torch")
    import mab_common as C

    spec, data = _mab("llama-inference", data_dir)
    model = C.load_byte_lm(str(data.public / "data" / "model.pt")) if (data.public / "data" / "model.pt").is_file() \
        else C.load_byte_lm(str(data.private / "model.pt"))
    public = (data.private / "prompts.txt").read_text().splitlines()
    memo = [C.greedy(model, p.encode(), 32) for p in public]
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "inference.py").write_text(f"import json\njson.dump({memo!r}, open('generations.json', 'w'))\n")
    res = evaluate(spec, data, sub)
    assert not res["valid_submission"] and "differs from greedy" in (res["error"] or ""), res
    honest = tmp_path / "honest"
    honest.mkdir()
    (honest / "inference.py").write_text((spec.env_dir / "inference.py").read_text())
    res = evaluate(spec, data, honest)
    assert res["valid_submission"], res["error"]
