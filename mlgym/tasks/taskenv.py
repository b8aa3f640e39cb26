"""Task environments: the Python that agent code and the eval run with, never the harness's.

A task declares pip requirements (``TaskSpec.environment``, on top of
:data:`mlgym.tasks.spec.DEFAULT_REQUIREMENTS`).  :func:`ensure` returns the interpreter of a
venv holding exactly those, built once into ``$MLGYM_ENV_DIR`` (default
``~/.cache/mlgym/envs``) under a *content key*: the sorted requirements, the base
interpreter's version and the version constraints.  Tasks with the same stack share one
environment; a change of requirements makes a new one.

* Versions: pip runs with ``-c`` constraints, ``requirements.lock`` of the source tree when
  there is one, else the versions installed in the harness's own environment, so the
  agent's numpy is the numpy the test suite passed with.
* Lean: ``python -m venv --without-pip`` + ``pip --python ENV install``: no pip, no
  setuptools, no harness package, no editable-install finder in it (`import mlgym` or
  `import litellm` fail inside).
* Resumable: the build goes into ``<key>/`` and is marked complete by ``<key>/.mlgym-env.json``
  only at the end; a killed build is continued (pip skips what is installed).  A lock file
  serialises concurrent builds of the same key (parallel episodes of a bench grid).
* Offline: ``MLGYM_WHEELHOUSE=DIR`` (or ``mlgym env build --wheelhouse DIR``) installs with
  ``--no-index --find-links DIR``; ``mlgym env download --wheelhouse DIR`` fills it where
  there is network.  pip's own cache serves repeated builds too.
* ``environment: {python: /path/to/python}`` uses an existing interpreter as it is.
* A stack of its own (``TaskEnvironment(defaults=False, constraints=(...))``, e.g. an ML-Bench
  repository's declared requirements): no default packages and its own pins instead of the lock;
  ``local`` folders are installed last (``--no-deps``).  A requirement pip cannot install is
  named on one line (each is tried alone to find it); with ``MLGYM_ALLOW_PARTIAL_ENV=1``
  (``--allow-partial-env``) the rest is installed and the marker records ``partial`` and
  ``failed`` (such an environment is not "ready" for a run that did not allow it).
"""

from __future__ import annotations

import dataclasses
import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Callable, Iterable, Sequence

from mlgym.core.errors import MLGymError
from mlgym.sandbox.base import EnvLayer, capabilities
from mlgym.tasks.spec import TaskSpec

__all__ = ["EnvBuildError", "TaskEnv", "build", "env_root", "ensure", "lock_constraints", "partial_allowed", "plan",
           "write_constraints"]

MARKER = ".mlgym-env.json"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


class EnvBuildError(MLGymError):
    """A task environment could not be built (one line saying why and what to run)."""


def env_root() -> Path:
    from mlgym.tasks.data import cache_dir

    return cache_dir("MLGYM_ENV_DIR", "envs")


def _canon(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _names(requirements: Iterable[str]) -> set[str]:
    """The canonical project names ``requirements`` ask for (``torch==2.13.0`` -> ``torch``)."""
    return {_canon(m.group(1)) for r in requirements if (m := _NAME.match(r))}


def write_constraints(path: Path, constraints: Sequence[str]) -> Path:
    """``constraints`` as a pip constraints file (``-c``) at ``path``."""
    path.write_text("".join(c + "\n" for c in constraints))
    return path


def lock_constraints() -> list[str]:
    """``name==version`` lines that pin the task environment's versions.

    ``requirements.lock`` beside the package (a source checkout), else the harness's own
    installed distributions (an install from a wheel: what pip resolved for it)."""
    lock = Path(__file__).resolve().parents[2] / "requirements.lock"
    if lock.is_file():
        lines = [ln.split("#", 1)[0].strip() for ln in lock.read_text().splitlines()]
        return sorted(ln for ln in lines if "==" in ln)
    out = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name and _canon(name) not in ("mlgym",):
            out[_canon(name)] = f"{name}=={dist.version}"
    return sorted(out.values())


@dataclasses.dataclass(frozen=True)
class TaskEnv:
    """One task environment: where it lives and what goes in."""

    key: str
    path: Path
    requirements: tuple[str, ...]
    constraints: tuple[str, ...]
    base_python: str
    existing: bool = False  # an interpreter the task named: used as it is, never built
    local: tuple[str, ...] = ()  # folders installed as packages last (pip install --no-deps)

    @property
    def python(self) -> Path:
        return Path(self.base_python) if self.existing else self.path / "bin" / "python"

    @property
    def ready(self) -> bool:
        if self.existing:
            return self.python.exists()
        if not ((self.path / MARKER).is_file() and self.python.exists()):
            return False
        return partial_allowed() or not self.record().get("partial")

    def record(self) -> dict[str, object]:
        """The marker of a built environment (empty when there is none)."""
        try:
            rec = json.loads((self.path / MARKER).read_text())
        except (OSError, ValueError):
            return {}
        return rec if isinstance(rec, dict) else {}


def partial_allowed() -> bool:
    """Whether an environment may lack requirements pip could not install (``--allow-partial-env``)."""
    return os.environ.get("MLGYM_ALLOW_PARTIAL_ENV", "") not in ("", "0")


def _base_python() -> str:
    """The interpreter the harness's venv is built on (a venv of a venv would carry ours)."""
    base = getattr(sys, "_base_executable", None) or sys.executable
    return str(Path(base).absolute())


def plan(task: TaskSpec, *, base_python: str | None = None) -> TaskEnv:
    """The environment ``task`` runs in, without building it."""
    spec = task.environment
    if spec.python:
        exe = shutil.which(spec.python) or spec.python
        return TaskEnv("existing", Path(exe).parent, (), (), str(Path(exe).absolute()), existing=True)
    if spec.resolve is not None:  # the family knows the stack once its data is there
        return plan(dataclasses.replace(task, environment=dataclasses.replace(spec.resolve(), resolve=None)), base_python=base_python)
    return plan_for(spec.all_requirements, base_python=base_python, constraints=spec.constraints, local=spec.local)


def plan_for(requirements: Sequence[str], *, base_python: str | None = None, constraints: Sequence[str] | None = None,
             local: Sequence[str] = ()) -> TaskEnv:
    """``constraints``: the pins (None: the harness's lock); ``local``: folders installed last, ``--no-deps``."""
    reqs = tuple(sorted(dict.fromkeys(r.strip() for r in requirements if r.strip())))
    base = base_python or _base_python()
    cons = tuple(lock_constraints()) if constraints is None else tuple(sorted(dict.fromkeys(constraints)))
    version = f"{sys.version_info.major}.{sys.version_info.minor}" if base == _base_python() else _version_of(base)
    content: dict[str, object] = {"python": version, "requirements": reqs,
                                  "constraints": _relevant(cons, reqs) if constraints is None else list(cons)}
    if local:
        content["local"] = list(local)
    key = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()[:16]
    return TaskEnv(key, env_root() / key, reqs, cons, base, local=tuple(local))


def _relevant(constraints: Sequence[str], reqs: Sequence[str]) -> list[str]:
    """Constraints that can matter for ``reqs``: all of them (transitive dependencies are
    unknown before resolving), except the harness-only tools that no task asks for."""
    asked = _names(reqs)
    tools = {"mypy", "pytest", "ray", "litellm", "langchain-core", "docker", "kaggle", "openai", "rich"}
    return [c for c in constraints if _canon(c.split("==")[0]) not in tools - asked]


def _version_of(python: str) -> str:
    try:
        out = subprocess.run([python, "-I", "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                             capture_output=True, text=True, timeout=60, check=True)
    except (OSError, subprocess.SubprocessError) as e:
        raise EnvBuildError(f"cannot run the interpreter {python!r}: {e}") from None
    return out.stdout.strip()


def ensure(task: TaskSpec, *, progress: Callable[[str], None] | None = None, wheelhouse: str | None = None) -> Path:
    """The interpreter for ``task``'s agent code and eval; builds the environment if needed.

    With ``MLGYM_ENV_BUILD=never`` a missing one is an :class:`EnvBuildError` naming the
    command that builds it."""
    env = plan(task)
    if env.ready:
        return env.python
    if env.existing:
        raise EnvBuildError(f"task {task.name}: environment.python {env.base_python!r} does not exist")
    if os.environ.get("MLGYM_ENV_BUILD") == "never":
        raise EnvBuildError(f"the environment of task {task.name} is not built; run `mlgym env build {task.name}`")
    return build(env, progress=progress, wheelhouse=wheelhouse).python


def build(env: TaskEnv, *, progress: Callable[[str], None] | None = None, wheelhouse: str | None = None,
          force: bool = False) -> TaskEnv:
    """Build ``env`` (idempotent, resumable, one builder per key at a time)."""
    say = progress or (lambda _msg: None)
    env.path.parent.mkdir(parents=True, exist_ok=True)
    with open(env.path.parent / f"{env.key}.lock", "w") as lockf:
        fcntl.flock(lockf, fcntl.LOCK_EX)  # a parallel episode may be building the same key
        if force and env.path.exists():
            shutil.rmtree(env.path)
        if env.ready:
            return env
        t0 = time.monotonic()
        if not (env.path / "bin" / "python").exists():
            say(f"creating the environment {env.key} ({len(env.requirements)} requirements)")
            _run([env.base_python, "-m", "venv", "--without-pip", "--clear", str(env.path)], say, "python -m venv")
            seed = _seed_for(env)
            if seed is None or not _has_torch(seed):  # PyTorch is most of such an environment: share it
                seed = _torch_base(env, say, wheelhouse) or seed
            if seed is not None:  # pip then adds only what the seed lacks
                say(f"starting from environment {seed.name} (hard links)")
                _link_site_packages(seed, env.path)
        failed = _pip_install(env, say, wheelhouse or os.environ.get("MLGYM_WHEELHOUSE"))
        installed = _installed(env.python)
        bad = [n for n in installed if _canon(n) in ("mlgym", "litellm", "langchain-core", "ray", "docker")]
        if bad:  # a requirement dragged a harness package in: say so, do not hide it
            say(f"note: the environment holds harness packages {bad} because a requirement asked for them")
        record = {"key": env.key, "requirements": list(env.requirements), "python": env.base_python,
                  "installed": installed, "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                  "seconds": round(time.monotonic() - t0, 1)}
        if env.local:
            record["local"] = list(env.local)
        if failed:
            record.update(partial=True, failed=failed)
        tmp = env.path / (MARKER + ".tmp")
        tmp.write_text(json.dumps(record, indent=1))
        os.replace(tmp, env.path / MARKER)  # complete only now: a killed build is resumed
        _open_up(env.path)
        say(f"environment {env.key} ready in {record['seconds']} s ({len(installed)} packages)"
            + (f"; PARTIAL, without {', '.join(failed)}" if failed else ""))
    return env


def _has_torch(venv: Path) -> bool:
    try:
        rec = json.loads((venv / MARKER).read_text())
    except (OSError, ValueError):
        return False
    return "torch" in _names(str(r) for r in rec.get("requirements") or [])


def _torch_base(env: TaskEnv, say: Callable[[str], None], wheelhouse: str | None) -> Path | None:
    """For an environment asking for ``torch`` among other things: an environment of ``torch``
    alone at the same pins, built once, to start from (hard links), so that each repository's
    environment costs its own packages on disk, not another copy of PyTorch (about 1 GiB)."""
    if "torch" not in env.requirements or len(env.requirements) < 2:
        return None
    base = plan_for(["torch"], base_python=env.base_python, constraints=env.constraints)
    try:
        return build(base, progress=say, wheelhouse=wheelhouse).path
    except EnvBuildError as e:  # the environment's own install says what is wrong
        say(f"no shared PyTorch environment ({e}); installing torch into {env.key} itself")
        return None


def _site_packages(venv: Path) -> Path:
    return next(iter(sorted((venv / "lib").glob("python3*/site-packages"))), venv / "lib" / "site-packages")


def _seed_for(env: TaskEnv) -> Path | None:
    """A complete environment of the same interpreter whose requirements are a subset of
    ``env``'s: the biggest one, so a task adding a package to the default stack costs the
    new package only, not another copy of numpy, pandas and scikit-learn.  Its versions
    may differ (another lock): pip, constrained by ours, then changes just those."""
    want = _names(env.requirements)
    best: tuple[int, Path] | None = None
    for rec in list_envs():
        if rec.get("incomplete") or rec.get("python") != env.base_python or rec.get("key") == env.key:
            continue
        listed = rec.get("requirements")
        reqs = [str(r) for r in listed] if isinstance(listed, list) else []
        if not reqs or not _names(reqs) <= want or not set(reqs) <= set(env.requirements):
            continue
        if best is None or len(reqs) > best[0]:
            best = (len(reqs), env_root() / str(rec["key"]))
    return best[1] if best else None


def _link_site_packages(seed: Path, dest: Path) -> None:
    src, dst = _site_packages(seed), _site_packages(dest)
    dst.mkdir(parents=True, exist_ok=True)
    for dirpath, dirnames, filenames in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        target = dst / rel
        target.mkdir(exist_ok=True)
        for name in filenames:
            s, d = os.path.join(dirpath, name), target / name
            if os.path.islink(s) or d.exists():
                continue
            try:
                os.link(s, d)  # same file system (one cache folder): no copy
            except OSError:
                shutil.copy2(s, d)


def _pip_install(env: TaskEnv, say: Callable[[str], None], wheelhouse: str | None) -> dict[str, str]:
    """Install the requirements (then the ``local`` folders); returns what could not be
    installed (requirement -> pip's reason), which is empty unless partial builds are allowed."""
    cons = write_constraints(env.path / "constraints.txt", env.constraints)
    argv = [sys.executable, "-m", "pip", "--python", str(env.python), "install", "--progress-bar", "off",
            "--no-input", "--disable-pip-version-check", "-c", str(cons)]
    if wheelhouse:
        argv += ["--no-index", "--find-links", str(Path(wheelhouse).resolve())]
    say("pip install " + " ".join(env.requirements))
    hint = (" (offline? fill a wheelhouse with `mlgym env download --wheelhouse DIR` where there is network, "
            "then `mlgym env build --wheelhouse DIR`)")
    wants_torch = "torch" in _names(env.requirements)
    failed: dict[str, str] = {}
    error = _try(argv + list(env.requirements), say, hint)
    if error and wants_torch and not wheelhouse:
        # The lock pins PyTorch's CPU build (+cpu), which PyPI lacks: as install.sh does, try
        # PyTorch's CPU index too (where pip was not configured with a local copy of the wheel).
        say("retrying with PyTorch's CPU index")
        argv = argv[:6] + ["--extra-index-url", TORCH_CPU_INDEX] + argv[6:]
        error = _try(argv + list(env.requirements), say, hint)
    if error:
        failed = _install_each(env, argv, say, error, hint)
    for folder in env.local:
        try:
            with tempfile.TemporaryDirectory(prefix="mlgym-local-") as tmp:  # setuptools writes build/ and *.egg-info
                copy = Path(tmp) / Path(folder).name  # into the folder: never into a shared tree
                shutil.copytree(folder, copy, symlinks=True, ignore=shutil.ignore_patterns(".git"))
                _run(argv + ["--no-deps", str(copy)], say, "pip install")
        except (OSError, shutil.Error) as e:
            raise EnvBuildError(f"cannot copy {folder}: {e}") from None
        except EnvBuildError as e:
            failed[folder] = _reason(str(e))
            say(f"cannot install {folder}: {failed[folder]}")
            if not partial_allowed():
                raise EnvBuildError(f"cannot install {folder} (the repository's own package): {failed[folder]}") from None
    return failed


def _try(argv: list[str], say: Callable[[str], None], hint: str) -> str | None:
    try:
        _run(argv, say, "pip install", hint=hint)
    except EnvBuildError as e:
        return str(e)
    return None


def _reason(text: str) -> str:
    text = re.sub(r"\s*\(from versions:[^)]*\)", "", text).removeprefix("pip install failed: ").removeprefix("ERROR: ")
    return text.split(" (offline?")[0].strip()[:240]


def _install_each(env: TaskEnv, argv: list[str], say: Callable[[str], None], together: str, hint: str) -> dict[str, str]:
    """After a failed install of everything: try each requirement alone (a dry run) and name
    each one that cannot be installed on one line; install the rest when partial builds are
    allowed, else raise :class:`EnvBuildError` naming them."""
    say(f"pip could not install the {len(env.requirements)} requirements together; trying each alone")
    failed: dict[str, str] = {}
    for req in env.requirements:
        try:
            _run(argv + ["--dry-run", req], lambda _m: None, "pip install")
        except EnvBuildError as e:
            failed[req] = _reason(str(e))
            say(f"cannot install {req}: {failed[req]}")
    if not failed:  # each goes in alone, together they conflict
        failed["(together)"] = _reason(together)
    if not partial_allowed():
        missing = any("No matching distribution" in w or "Could not find a version" in w for w in failed.values())
        raise EnvBuildError("cannot install " + "; ".join(f"{r}: {w}" for r, w in failed.items())
                            + " (--allow-partial-env or MLGYM_ALLOW_PARTIAL_ENV=1 runs with the rest)" + (hint if missing else ""))
    rest = [r for r in env.requirements if r not in failed]
    try:
        _run(argv + rest, say, "pip install")
    except EnvBuildError:  # still conflicting: one at a time, keep what goes in
        for req in rest:
            try:
                _run(argv + [req], say, "pip install")
            except EnvBuildError as e:
                failed[req] = _reason(str(e))
                say(f"cannot install {req}: {failed[req]}")
    return failed


def _run(argv: list[str], say: Callable[[str], None], what: str, hint: str = "") -> None:
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace",
                            env={**os.environ, "PIP_NO_WARN_SCRIPT_LOCATION": "1", "PYTHONNOUSERSITE": "1"})
    tail: list[str] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        line = line.rstrip()
        if line:
            tail = (tail + [line])[-20:]
            if line.startswith(("Collecting", "Installing", "Successfully", "Processing", "ERROR")):
                say(line)
    if proc.wait() != 0:
        errors = [ln for ln in tail if "ERROR" in ln or "error" in ln] or tail[-1:]
        raise EnvBuildError(f"{what} failed: {(errors[-1] if errors else 'exit ' + str(proc.returncode)).strip()}{hint}")


def _installed(python: Path) -> list[str]:
    code = ("import importlib.metadata as m, json; "
            "print(json.dumps(sorted(f\"{d.metadata['Name']}=={d.version}\" for d in m.distributions())))")
    out = subprocess.run([str(python), "-I", "-c", code], capture_output=True, text=True, timeout=120)
    try:
        return list(json.loads(out.stdout))
    except ValueError:
        raise EnvBuildError(f"the new environment's python does not run: {out.stderr.strip()[-300:]}") from None


def _open_up(path: Path) -> None:
    """Readable by every uid (the sandbox runs agent code as an unprivileged one); writable by none."""
    for dirpath, dirnames, filenames in os.walk(path):
        for name in dirnames + filenames:
            p = os.path.join(dirpath, name)
            try:
                st = os.lstat(p)
                if not os.path.islink(p):
                    os.chmod(p, (st.st_mode | 0o444 | (0o111 if st.st_mode & 0o100 or os.path.isdir(p) else 0)) & ~0o022)
            except OSError:
                pass
    os.chmod(path, 0o755)


def download(requirements: Iterable[str], wheelhouse: Path, *, progress: Callable[[str], None] | None = None,
             constraints: Sequence[str] | None = None) -> None:
    """Fill ``wheelhouse`` with wheels for ``requirements`` at the locked versions (``constraints``:
    other pins, e.g. a repository's environment's) (needs network)."""
    say = progress or (lambda _msg: None)
    wheelhouse.mkdir(parents=True, exist_ok=True)
    env = plan_for(list(requirements), constraints=constraints)
    cons = write_constraints(wheelhouse / "constraints.txt", env.constraints)
    index = ["--extra-index-url", TORCH_CPU_INDEX] if "torch" in _names(env.requirements) else []  # the CPU build
    _run([sys.executable, "-m", "pip", "download", "--progress-bar", "off", "-d", str(wheelhouse), "-c", str(cons), *index,
          "--only-binary", ":all:", *env.requirements], say, "pip download")


def list_envs() -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    root = env_root()
    if not root.is_dir():
        return out
    for d in sorted(root.iterdir()):
        marker = d / MARKER
        if d.is_dir():
            try:
                rec = json.loads(marker.read_text())
            except (OSError, ValueError):
                rec = {"key": d.name, "requirements": [], "incomplete": True}
            out.append(rec)
    return out


def sandbox_options(task: TaskSpec, sandbox: str, *, progress: Callable[[str], None] | None = None) -> dict[str, object]:
    """What a sandbox of kind ``sandbox`` needs to run ``task``'s environment: the
    interpreter on the local backends (built here if missing), the extra requirements
    (an image layer, :class:`~mlgym.sandbox.base.EnvLayer`) on Docker, whose task image
    already holds the default stack, or the task's own ``image``."""
    caps = capabilities(sandbox)
    if caps.host_python:
        return {"python": str(ensure(task, progress=progress))}
    if not caps.images:
        return {}
    if task.environment.image:  # the task's own image, as it is
        return {"image": task.environment.image}
    spec = task.environment.resolve() if task.environment.resolve is not None else task.environment
    if spec.requirements or not spec.defaults:
        env = plan(dataclasses.replace(task, environment=dataclasses.replace(spec, resolve=None)))
        return {"env_layer": EnvLayer(env.key, env.requirements, env.constraints, local=env.local)}
    return {}
