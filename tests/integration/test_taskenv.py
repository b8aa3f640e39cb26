"""Task environments (mlgym.tasks.taskenv): agent code and the eval run in a lean per-task venv.

Real builds (pip from the package registry / its cache), real sandboxes: no mocks.  The
extra requirement is ``tabulate`` (tiny, pure Python, pinned here), absent from the default
environment, in two versions to show that a change of requirements makes a new environment.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from mlgym.tasks import taskenv
from mlgym.env.core import MLGymEnv
from mlgym.tasks.spec import DEFAULT_REQUIREMENTS, TaskSpec

REPO = Path(__file__).resolve().parents[2]
PROBE = (
    "import sys, importlib\n"
    "print('PREFIX', sys.prefix)\n"
    "for m in ('numpy', 'pandas', 'sklearn', 'scipy', 'tabulate', 'mlgym', 'litellm', 'gymnasium', 'rich', 'docker'):\n"
    "    try:\n"
    "        mod = importlib.import_module(m)\n"
    "        print('HAS', m, getattr(mod, '__version__', '?'))\n"
    "    except ImportError:\n"
    "        print('LACKS', m)\n"
)


def _probe(env: MLGymEnv) -> dict[str, str]:
    env.step({"name": "Write File", "arguments": {"file_name": "probe.py", "content": PROBE}})
    obs, *_ = env.step({"name": "Execute Script", "arguments": {"script_name": "probe.py"}})
    found = {}  # module -> its version or "LACKS"; "PREFIX" -> sys.prefix
    for line in obs.splitlines():
        kind, *rest = line.split() or [""]
        if kind == "PREFIX":
            found["PREFIX"] = rest[0]
        elif kind == "HAS":
            found[rest[0]] = rest[1]
        elif kind == "LACKS":
            found[rest[0]] = "LACKS"
    return found


def _task_with(tmp: Path, name: str, requirements: list[str]) -> Path:
    """A copy of the digits folder task whose environment adds ``requirements``."""
    dest = tmp / name
    shutil.copytree(REPO / "benchmarks" / "digits", dest, ignore=shutil.ignore_patterns("__pycache__"))
    text = (dest / "task.yaml").read_text().replace("name: digits", f"name: {name}", 1)
    text += "environment:\n  requirements: " + json.dumps(requirements) + "\n"
    (dest / "task.yaml").write_text(text)
    return dest


def test_offline_task_runs_in_the_lean_default_environment(tmp_path: Path) -> None:
    env = MLGymEnv("digits", log_dir=tmp_path / "log", work_dir=tmp_path / "ws")
    try:
        env.reset(seed=0)
        assert env.sandbox is not None and env.sandbox.name == "local-bwrap"
        found = _probe(env)
        plan = taskenv.plan(env.task)
        assert Path(found["PREFIX"]) == plan.path, found
        assert plan.requirements == tuple(sorted(DEFAULT_REQUIREMENTS))
        for lib in ("numpy", "pandas", "sklearn", "scipy"):
            assert found[lib] != "LACKS", found
        for harness in ("mlgym", "litellm", "gymnasium", "rich", "docker", "tabulate"):
            assert found[harness] == "LACKS", (harness, found)
        # the locked versions, not whatever the index offers today
        lock = (REPO / "requirements.lock").read_text()
        assert f"numpy=={found['numpy']}" in lock and f"scikit-learn=={found['sklearn']}" in lock
        env.step({"name": "Execute Script", "arguments": {"script_name": "train.py"}})
        _, reward, terminated, _, info = env.step({"name": "Final Answer", "arguments": {"final_answer": "done"}})
        assert terminated and info["result"]["valid_submission"], info["result"]  # the eval ran in the same env
        # no import hook of the harness's editable install in the environment
        site = next((plan.path / "lib").glob("python3*/site-packages"))
        assert not [p.name for p in site.glob("*.pth") if "mlgym" in p.read_text() or "editable" in p.name]
        assert not (plan.path / "bin" / "pip").exists()
    finally:
        env.close()


def test_extra_requirement_is_installed_and_environments_are_shared_by_content(tmp_path: Path,
                                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    bench = tmp_path / "bench"
    bench.mkdir()
    _task_with(bench, "envtask-a", ["tabulate==0.9.0"])
    _task_with(bench, "envtask-b", ["tabulate==0.9.0"])
    _task_with(bench, "envtask-c", ["tabulate==0.8.10"])
    monkeypatch.setenv("MLGYM_BENCHMARKS", str(bench))
    from mlgym.tasks.spec import _scan

    _scan.cache_clear()
    a, b, c = (TaskSpec.load(n) for n in ("envtask-a", "envtask-b", "envtask-c"))
    pa, pb, pc = (taskenv.plan(t) for t in (a, b, c))
    assert pa.key == pb.key and pa.path == pb.path  # same requirements: one environment
    assert pc.key != pa.key  # requirements changed: another one
    py = taskenv.ensure(a)
    marker = pa.path / taskenv.MARKER
    stamp = marker.stat().st_mtime_ns
    assert taskenv.ensure(b) == py and marker.stat().st_mtime_ns == stamp  # not rebuilt

    for name, version in (("envtask-a", "0.9.0"), ("envtask-c", "0.8.10")):
        env = MLGymEnv(name, log_dir=tmp_path / f"log-{name}", work_dir=tmp_path / "ws")
        try:
            env.reset(seed=0)
            found = _probe(env)
            assert found["tabulate"] == version, found
            assert found["mlgym"] == "LACKS" and found["numpy"] != "LACKS"
        finally:
            env.close()
    rec = json.loads((pc.path / taskenv.MARKER).read_text())
    assert "tabulate==0.8.10" in rec["installed"] and rec["requirements"] == sorted(rec["requirements"])
    _scan.cache_clear()


def test_missing_environment_is_one_line_naming_the_command(tmp_path: Path) -> None:
    bench = tmp_path / "bench"
    bench.mkdir()
    _task_with(bench, "envtask-never", ["tabulate==0.8.9"])
    env = {**os.environ, "MLGYM_BENCHMARKS": str(bench), "MLGYM_ENV_BUILD": "never",
           "MLGYM_ENV_DIR": str(tmp_path / "envs")}
    r = subprocess.run([sys.executable, "-m", "mlgym.runs.runner", "--task", "envtask-never", "--agent", "baseline",
                        "--log-dir", str(tmp_path / "log")], env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if "error" in ln.lower()]
    assert lines and "mlgym env build envtask-never" in lines[-1], r.stderr[-2000:]


def test_killed_build_is_resumed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A build cut short (no completion marker) is continued by the next one, not trusted."""
    monkeypatch.setenv("MLGYM_ENV_DIR", str(tmp_path / "envs"))
    plan = taskenv.plan_for(["tabulate==0.9.0"], base_python=None)
    # a venv with nothing in it, as a build killed right after `python -m venv` leaves it
    subprocess.run([plan.base_python, "-m", "venv", "--without-pip", str(plan.path)], check=True)
    assert not plan.ready
    taskenv.build(plan)
    assert plan.ready
    out = subprocess.run([str(plan.python), "-c", "import tabulate; print(tabulate.__version__)"], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "0.9.0"


def test_cli_build_list_which(tmp_path: Path) -> None:
    r = subprocess.run([sys.executable, "-m", "mlgym.cli", "env", "build", "digits"], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "[1/1]" in r.stderr
    w = subprocess.run([sys.executable, "-m", "mlgym.cli", "env", "which", "digits"], capture_output=True, text=True, timeout=60)
    assert "ready" in w.stdout and str(taskenv.plan(TaskSpec.load("digits")).python) in w.stdout
    bad = subprocess.run([sys.executable, "-m", "mlgym.cli", "env", "build"], capture_output=True, text=True, timeout=60)
    assert bad.returncode != 0 and "Traceback" not in bad.stderr and "--all" in bad.stderr


def test_yaml_mistakes_in_environment_are_one_line(tmp_path: Path) -> None:
    from mlgym.core.errors import TaskError

    dest = _task_with(tmp_path, "envtask-bad", ["tabulate"])
    for bad, key in (("environment:\n  requirement: [x]\n", "environment.requirement"),
                     ("environment:\n  requirements: ['--index-url=http://evil']\n", "environment.requirements"),
                     ("environment:\n  requirements_file: nope.txt\n", "environment.requirements_file")):
        text = (dest / "task.yaml").read_text().split("environment:")[0] + bad
        (dest / "task.yaml").write_text(text)
        with pytest.raises(TaskError) as e:
            TaskSpec.from_yaml(dest / "task.yaml")
        assert key in str(e.value) and "\n" not in str(e.value)


def test_extra_requirement_on_docker(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, docker_ready: None) -> None:
    bench = tmp_path / "bench"
    bench.mkdir()
    _task_with(bench, "envtask-docker", ["tabulate==0.9.0"])
    monkeypatch.setenv("MLGYM_BENCHMARKS", str(bench))
    from mlgym.tasks.spec import _scan

    _scan.cache_clear()
    env = MLGymEnv("envtask-docker", sandbox="docker", log_dir=tmp_path / "log", work_dir=tmp_path / "ws")
    try:
        env.reset(seed=0)
        found = _probe(env)
        assert found["tabulate"] == "0.9.0", found
        assert found["mlgym"] == "LACKS" and found["litellm"] == "LACKS"
        image = getattr(env.sandbox, "image", "")
        assert image.startswith("mlgym-task-env:"), image
        env.step({"name": "Execute Script", "arguments": {"script_name": "train.py"}})
        *_, info = env.step({"name": "Final Answer", "arguments": {"final_answer": "done"}})
        assert info["result"]["valid_submission"], info["result"]
    finally:
        env.close()
        _scan.cache_clear()


def test_offline_build_from_a_wheelhouse(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`mlgym env download` fills a wheelhouse (where there is network); a build with it
    installs with --no-index: no index is asked (here none is even reachable)."""
    wheels = tmp_path / "wheels"
    taskenv.download(["tabulate==0.9.0"], wheels)
    assert [p.name for p in wheels.glob("tabulate-0.9.0-*.whl")]
    monkeypatch.setenv("MLGYM_ENV_DIR", str(tmp_path / "envs"))
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # no configured index or find-links either
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")  # nothing listens there
    plan = taskenv.plan_for(["tabulate==0.9.0"])
    with pytest.raises(taskenv.EnvBuildError) as e:  # without the wheelhouse: the index is unreachable
        taskenv.build(plan)
    assert "wheelhouse" in str(e.value) and "\n" not in str(e.value)
    taskenv.build(plan, wheelhouse=str(wheels))
    out = subprocess.run([str(plan.python), "-c", "import tabulate; print(tabulate.__version__)"], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "0.9.0"
