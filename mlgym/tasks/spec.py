"""Tasks are data: a YAML file read by the task's *family* (:mod:`mlgym.tasks.catalog`).

A benchmarks folder holds folder tasks (``<name>/task.yaml`` + ``env/`` + ``scripts/``,
the default ``folder`` family) and single-file entries (``<name>.yaml`` with ``kind:``
naming the family, e.g. a Kaggle competition).  ``TaskSpec.load(name_or_path)``
validates strictly: an unknown key, a wrong type or an unknown metric is a
:class:`TaskError` of one line naming the file and the key.  A task name found in
two places is an error naming both.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Iterable, Protocol, runtime_checkable

import yaml

from mlgym.core.errors import TaskError
from mlgym.core.metrics import METRICS, canonical
from mlgym.sandbox.base import Mount, hide_roots

__all__ = ["Baseline", "DEFAULT_REQUIREMENTS", "Family", "Fields", "TaskData", "TaskEnvironment", "TaskLimits", "TaskSpec",
           "benchmarks_roots", "cache_dir", "data_root", "list_tasks", "task_paths"]

ENTRY_SUFFIXES = (".yaml", ".yml")
SIDECAR_STEM = ".mlgym"  # <name>.mlgym.yaml beside a task folder in another project's format: settings, not a task
MANIFEST = "manifest.json"


def benchmarks_roots() -> list[Path]:
    """Folders holding tasks: ``$MLGYM_BENCHMARKS`` (os.pathsep-separated), then the bundled ones."""
    roots = [Path(p) for p in os.environ.get("MLGYM_BENCHMARKS", "").split(os.pathsep) if p]
    here = Path(__file__).resolve().parents[1]  # the mlgym package
    for cand in (here / "benchmarks", here.parent / "benchmarks"):  # installed, source tree
        if cand.is_dir() and (any(cand.glob("*/task.yaml")) or any(cand.glob("*.yaml"))):
            roots.append(cand)
    return list(dict.fromkeys(r.resolve() for r in roots))  # the same folder twice is not a clash


hide_roots(benchmarks_roots)  # task folders hold hidden scripts and answers: no sandbox sees them


@dataclasses.dataclass(frozen=True)
class Baseline:
    score: float | None  # None: not measured yet (`mlgym baseline TASK` records one)
    measured: str  # how and where the number was obtained


@dataclasses.dataclass(frozen=True)
class TaskLimits:
    max_steps: int = 50
    max_time: float = 5 * 3600.0  # seconds for the whole episode
    exec_timeout: float = 1800.0  # seconds per Execute Script
    memory_mb: int = 8192
    max_processes: int = 256
    output_bytes: int = 64 * 1024
    network: bool = False
    workspace_mb: int = 4096  # the episode's workspace quota (mlgym.sandbox.quota)
    cores: int = 0  # cores the episode's sandbox gets (a cpuset; AMLB's constraint names them); 0: no limit


# The default task environment: what the shipped offline tasks' agent code and graders import.
# Versions come from requirements.lock (mlgym.tasks.taskenv); no harness package is ever in it.
DEFAULT_REQUIREMENTS: tuple[str, ...] = ("numpy", "pandas", "scipy", "scikit-learn")


@dataclasses.dataclass(frozen=True)
class TaskEnvironment:
    """The Python environment agent code and the eval run in (see :mod:`mlgym.tasks.taskenv`).

    ``requirements`` are pip requirement strings on top of :data:`DEFAULT_REQUIREMENTS`
    (YAML ``environment: {requirements: [...]}`` or ``requirements_file: FILE``);
    ``python`` names an existing interpreter used as it is instead of a built one;
    ``image`` a Docker image used as it is instead of the task image (plus a layer).
    """

    requirements: tuple[str, ...] = ()
    python: str | None = None
    image: str | None = None  # a Docker image of its own (e.g. a repository's), used as it is by --sandbox docker
    # A stack of its own (e.g. an ML-Bench repository's declared requirements): no DEFAULT_REQUIREMENTS,
    # and pip pinned by these constraints instead of the harness's lock (None: the lock).
    constraints: tuple[str, ...] | None = None
    defaults: bool = True
    local: tuple[str, ...] = ()  # folders installed as packages after the requirements (pip --no-deps); part of the key
    # Requirements known only once the task's data is there (a repository at a commit): called when the
    # environment is planned (mlgym.tasks.taskenv.plan), it returns the environment to build.
    resolve: Callable[[], "TaskEnvironment"] | None = dataclasses.field(default=None, compare=False)

    @property
    def all_requirements(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*(DEFAULT_REQUIREMENTS if self.defaults else ()), *self.requirements)))


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    name: str
    root: Path  # the task folder (folder family) or the folder holding the entry's YAML
    description: str
    metric: str
    direction: str  # "higher" or "lower"
    submission: tuple[str, ...]
    baseline: Baseline
    limits: TaskLimits
    success_threshold: float = 0.10
    eval_timeout: float = 600.0
    data_env: dict[str, str] = dataclasses.field(default_factory=dict)
    # Package-data files the agent must not read (e.g. the bundled copy of the test set),
    # written "<top-level package>/<relative path>"; each sandbox backend hides them.
    hide: tuple[str, ...] = ()
    kind: str = "folder"  # the family (mlgym.families.registry) that prepares, lays out and scores it
    source: Path | None = None  # the YAML file it came from
    options: Any = None  # the family's own validated settings (e.g. a Kaggle competition)
    environment: TaskEnvironment = TaskEnvironment()  # the agent's Python (mlgym.tasks.taskenv)

    @property
    def family(self) -> "Family":
        """The family that reads, prepares and lays out this task (:mod:`mlgym.tasks.catalog`)."""
        return _hooks().family(self.kind)

    @property
    def env_dir(self) -> Path:
        return self.root / "env"

    @property
    def scripts_dir(self) -> Path:
        return self.root / "scripts"

    @property
    def prepare_script(self) -> Path:
        return self.scripts_dir / "prepare.py"

    @property
    def eval_script(self) -> Path:
        return self.scripts_dir / "eval.py"

    @property
    def higher_is_better(self) -> bool:
        return self.direction == "higher"

    @classmethod
    def load(cls, name_or_path: str | Path) -> "TaskSpec":
        """A task by name (``list_tasks()``, a family's dataset row) or by path (a task
        folder, a YAML entry, a folder in a format a family reads)."""
        spec: TaskSpec | None = _hooks().row_task(str(name_or_path))
        if spec is not None:
            return spec
        path, name = _find_named(str(name_or_path))
        return cls.from_yaml(path, name=name)

    @classmethod
    def from_yaml(cls, path: Path, *, name: str | None = None) -> "TaskSpec":
        """Read one task YAML (``task.yaml`` of a folder, or a single-file entry) through its
        family; or a folder's marker file (a format a family reads, no YAML)."""
        marker_kind = _hooks().folder_markers().get(path.name)
        if marker_kind is not None and path.parent.name == "scripts":
            raw: dict[str, Any] = {"kind": marker_kind}
        else:
            raw = read_yaml(path)
        kind = raw.get("kind", "folder" if path.name == "task.yaml" else None)
        if not isinstance(kind, str):
            raise TaskError(f"{path}: kind: required for a single-file task (e.g. 'kaggle'); got {kind!r}")
        try:
            fam = _hooks().family(kind)
        except TaskError as e:
            raise TaskError(f"{path}: kind: {e}") from None
        specs: list[TaskSpec] = fam.expand(path, raw)
        want = path.parent.name if path.name == "task.yaml" else path.parents[1].name if marker_kind is not None else path.stem
        if name is not None and any(spec.name == name for spec in specs):
            want = name  # an alias (tasks.json) read from its folder's marker
        for spec in specs:
            if spec.name == want:
                return spec
        if len(specs) == 1:
            return specs[0]
        raise TaskError(f"{path}: holds no task named {want!r}")


def cache_dir(variable: str, name: str) -> Path:
    """``$variable`` if set, else ``$XDG_CACHE_HOME/mlgym/<name>`` (``~/.cache/mlgym/<name>``)."""
    env = os.environ.get(variable)
    if env:
        return Path(env).expanduser().resolve()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base, "mlgym", name).resolve()


def data_root() -> Path:
    return cache_dir("MLGYM_DATA_DIR", "data")


class TaskData:
    """Where one task's prepared data lives."""

    def __init__(self, task: TaskSpec, root: Path | None = None) -> None:
        self.task = task
        self.dir = (root or data_root()) / task.name
        self.raw = self.dir / "raw"
        self.public = self.dir / "public"
        self.private = self.dir / "private"
        self.manifest = self.dir / MANIFEST

    def is_ready(self, verify: bool = False) -> bool:
        try:
            manifest = json.loads(self.manifest.read_text())
        except (OSError, ValueError):
            return False
        for rel, meta in manifest["files"].items():
            p = self.dir / rel
            try:
                if p.stat().st_size != meta["size"]:
                    return False
            except OSError:
                return False
            if verify and sha256_file(p) != meta["sha256"]:
                return False
        return True


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()



@runtime_checkable
class Family(Protocol):
    """What the tasks layer asks of a task family: read its YAML into tasks, make the data
    ready, lay out a workspace, say what the sandbox mounts and describe the task.  The
    whole protocol (evaluation too) is :class:`mlgym.families.base.TaskFamily`; families
    are found by :mod:`mlgym.tasks.catalog`."""

    kind: str

    def expand(self, path: Path, raw: dict[str, Any]) -> list[TaskSpec]: ...

    def prepare(self, task: TaskSpec, *, root: Path | None = None, force: bool = False, verify: bool = False,
                progress: Callable[[str], None] | None = None) -> TaskData: ...

    def build_workspace(self, task: TaskSpec, workspace: Path) -> None: ...

    def mounts(self, task: TaskSpec, data: TaskData) -> list[Mount]: ...

    def describe(self, task: TaskSpec) -> str: ...


class Catalog(Protocol):
    """What :class:`TaskSpec` asks the catalog (:mod:`mlgym.tasks.catalog` installs itself
    with :func:`install_catalog` when imported; ``import mlgym`` imports it)."""

    def family(self, kind: str) -> Family: ...

    def row_task(self, name: str) -> TaskSpec | None: ...

    def folder_markers(self) -> dict[str, str]: ...

    def folder_aliases(self, root: Path) -> dict[str, str]:
        """Aliases a benchmarks folder declares for its marked folders (MLAgentBench's tasks.json): alias -> folder."""
        ...


_CATALOG: list[Catalog] = []


def install_catalog(catalog: Catalog) -> None:
    _CATALOG[:] = [catalog]
    _scan.cache_clear()


def _hooks() -> Catalog:
    if not _CATALOG:
        raise TaskError("no task catalog: import mlgym (or mlgym.tasks.catalog) first")
    return _CATALOG[0]


def read_yaml(path: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise TaskError(f"{path}: file not found") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise TaskError(f"{path}: not valid YAML: {e}".splitlines()[0]) from None
    if not isinstance(raw, dict):
        raise TaskError(f"{path}: expected a mapping at the top level")
    return raw


class Fields:
    """Typed, strict access to one YAML mapping: every error is one line naming the file and key."""

    _MISSING = object()

    def __init__(self, path: Path, raw: dict[str, Any], prefix: str = "") -> None:
        self.path, self.raw, self.prefix = path, raw, prefix

    def error(self, key: str, msg: str) -> TaskError:
        return TaskError(f"{self.path}: {self.prefix}{key}: {msg}")

    def only(self, known: Iterable[str]) -> None:
        """Reject keys nobody reads: a misspelt or unsupported key must not silently do nothing."""
        known = set(known)
        for key in self.raw:
            if key not in known:
                raise self.error(str(key), f"unknown field; known: {', '.join(sorted(known))}")

    def get(self, key: str, types: Any, default: Any = _MISSING) -> Any:
        if key not in self.raw:
            if default is self._MISSING:
                raise self.error(key, "required field is missing")
            return default
        value = self.raw[key]
        if types is float:
            types = (int, float)
        if isinstance(value, bool) and types in (int, float, (int, float)):
            raise self.error(key, f"expected a number, got {value!r}")
        if not isinstance(value, types):
            want = types.__name__ if isinstance(types, type) else " or ".join(t.__name__ for t in types)
            raise self.error(key, f"expected {want}, got {value!r}")
        return value

    def strings(self, key: str, default: Any = _MISSING) -> tuple[str, ...]:
        """One string or a list of non-empty strings."""
        value = self.get(key, (str, list), default)
        items = [value] if isinstance(value, str) else list(value)
        if not all(isinstance(v, str) and v for v in items):
            raise self.error(key, "expected a string or a list of strings")
        return tuple(items)

    def sub(self, key: str, known: Iterable[str]) -> "Fields":
        f = Fields(self.path, self.get(key, dict, {}), prefix=f"{self.prefix}{key}.")
        f.only(known)
        return f


COMMON_KEYS = (
    "kind", "name", "description", "metric", "direction", "submission", "baseline", "limits",
    "success_threshold", "eval_timeout", "data_env", "hide", "environment",
)


def common_fields(path: Path, raw: dict[str, Any], *, name: str, own_keys: Iterable[str] = (), **defaults: Any) -> dict[str, Any]:
    """Validate the keys every family shares; returns TaskSpec keyword arguments.

    ``own_keys``: the family's extra keys (anything else is an error).  ``defaults``:
    values a family supplies when the YAML omits them (e.g. ``submission``; ``requirements``:
    a tuple of pip requirements the family's tasks always need, before the YAML's own).
    """
    f = Fields(path, raw)
    f.only([*COMMON_KEYS, *own_keys])
    given = f.get("name", str)
    if given != name:
        where = "the folder name" if path.name == "task.yaml" else "the file name"
        raise f.error("name", f"{given!r} must match {where} {name!r}")
    metric = f.get("metric", str)
    metric = canonical(metric) or metric  # AMLB's, AutoGluon's and scikit-learn's spellings too (roc_auc -> auc)
    if metric not in METRICS:
        raise f.error("metric", f"unknown metric {metric!r}; known: {', '.join(METRICS)}")
    direction = f.get("direction", str, METRICS[metric].direction)
    if direction not in ("higher", "lower"):
        raise f.error("direction", f"must be 'higher' or 'lower', got {direction!r}")
    if direction != METRICS[metric].direction:
        raise f.error("direction", f"{direction!r} contradicts metric {metric}, for which {METRICS[metric].direction} is better")
    lf = f.sub("limits", [x.name for x in dataclasses.fields(TaskLimits)])
    plain = TaskLimits()
    limits = TaskLimits(**{k: lf.get(k, type(getattr(plain, k))) for k in lf.raw})
    baseline = Baseline(None, "not measured yet: run `mlgym baseline " + name + "`")
    if "baseline" in raw:
        b = f.sub("baseline", ("score", "measured"))
        baseline = Baseline(float(b.get("score", (int, float))), b.get("measured", str))
    submission = f.strings("submission", defaults.get("submission", f._MISSING))
    if not all("/" not in s and s not in (".", "..") for s in submission):
        raise f.error("submission", "give one file name or a list of plain file names")
    hide = f.strings("hide", ())
    if not all("/" in h and ".." not in h.split("/") for h in hide):
        raise f.error("hide", "give package-data paths like 'sklearn/datasets/data/digits.csv.gz'")
    data_env = f.get("data_env", dict, {})
    environment = _environment(f.sub("environment", ("requirements", "requirements_file", "python", "image")), path,
                               tuple(defaults.get("requirements", ())))
    return dict(
        name=name, description=f.get("description", str, defaults.get("description", f._MISSING)).strip(), metric=metric, direction=direction,
        submission=submission, baseline=baseline, limits=limits,
        success_threshold=float(f.get("success_threshold", float, 0.10)),
        eval_timeout=float(f.get("eval_timeout", float, 600.0)),
        data_env={str(k): str(v) for k, v in data_env.items()}, hide=hide, source=path.resolve(),
        environment=environment,
    )


def _environment(f: Fields, path: Path, family_reqs: tuple[str, ...]) -> TaskEnvironment:
    reqs = list(family_reqs) + list(f.strings("requirements", ()))
    if "requirements_file" in f.raw:
        rel = f.get("requirements_file", str)
        file = (path.parent / rel).resolve()
        try:
            lines = file.read_text().splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise f.error("requirements_file", f"cannot read {file}: {e.strerror if isinstance(e, OSError) else e}") from None
        reqs += [ln.split("#", 1)[0].strip() for ln in lines if ln.split("#", 1)[0].strip()]
    for r in reqs:
        if not r or r.startswith("-") or "\n" in r:
            raise f.error("requirements", f"{r!r}: give plain requirement strings like 'torch==2.13.0' (no pip options)")
    python = f.get("python", str, None)
    return TaskEnvironment(requirements=tuple(dict.fromkeys(reqs)), python=python, image=f.get("image", str, None))


def task_paths() -> dict[str, list[Path]]:
    """Every task name -> the YAML files defining it (more than one is a clash)."""
    return {k: list(v) for k, v in _scan(tuple(benchmarks_roots())).items()}


def _find(name: str) -> Path:
    return _find_named(name)[0]


_WARNED: set[str] = set()


def _kind_of(path: Path) -> str:
    """The family of a task file (``folder`` for a task.yaml without ``kind:``)."""
    marked = _hooks().folder_markers().get(path.name) if path.parent.name == "scripts" else None
    if marked is not None:
        return marked
    try:
        kind = read_yaml(path).get("kind")
    except TaskError:
        return "?"
    return kind if isinstance(kind, str) else "folder" if path.name == "task.yaml" else "?"


def _short_kind(kind: str) -> str:
    """A family's name for messages: ``folder``, ``kaggle``; a ``module:Class`` kind by its package."""
    return kind.partition(":")[0].split(".")[2] if kind.startswith("mlgym.families.") and kind.count(".") >= 2 else kind


def _pick(name: str, found: list[Path]) -> Path:
    """Of the places defining ``name``: the one in a user's ``$MLGYM_BENCHMARKS`` folder wins over
    the bundled ones (one warning line; the built-in stays reachable as ``<family>/<name>``);
    two user definitions, or two bundled ones, are an error naming both."""
    user = tuple(Path(p).resolve() for p in os.environ.get("MLGYM_BENCHMARKS", "").split(os.pathsep) if p)
    mine = [f for f in found if any(f.is_relative_to(r) for r in user)]
    if len(found) > 1 and len(mine) == 1:
        others = [f for f in found if f not in mine]
        if name not in _WARNED:
            _WARNED.add(name)
            builtin = ", ".join(f"{_short_kind(_kind_of(f))}/{name}" for f in others)
            shown = mine[0].parents[1] if mine[0].parent.name == "scripts" else mine[0]
            logging.getLogger("mlgym.tasks").warning("%s: using %s; the built-in is %s", name, shown, builtin)
        return mine[0]
    if len(found) > 1:
        raise TaskError(f"task {name!r} is defined twice: {found[0]} and {found[1]}; rename or remove one")
    return found[0]


def _find_named(name: str) -> tuple[Path, str | None]:
    """The file defining task ``name`` and the task name to read from it (None: the file's own)."""
    p = Path(name)
    if (p / "task.yaml").is_file():
        return (p / "task.yaml").resolve(), None
    for marker in _hooks().folder_markers():
        if (p / "scripts" / marker).is_file():
            return (p / "scripts" / marker).resolve(), None
    if p.suffix in ENTRY_SUFFIXES and p.is_file():
        return p.resolve(), None
    key = name.replace("/", "-") if name.count("/") == 1 and all(name.split("/")) else name  # "mlagentbench/cifar10" names "mlagentbench-cifar10"
    paths = task_paths()
    if key != name and key not in paths:  # "<family>/<name>": the task of that family, e.g. the built-in a user's folder hides
        fam, _, short = name.partition("/")
        of_family = [f for f in paths.get(short, []) if _short_kind(_kind_of(f)) == fam]
        if len(of_family) == 1:
            return of_family[0], short
    if "/" not in key and key not in ("", ".", ".."):
        found = paths.get(key, [])
        if found:
            return _pick(key, found), key
    from mlgym.core.parsing import did_you_mean

    names = list_tasks()
    raise TaskError(f"unknown task {name!r}{did_you_mean(name, names)}; known tasks: {', '.join(names) or 'none found'}")


@lru_cache(maxsize=None)
def _scan(roots: tuple[Path, ...]) -> dict[str, tuple[Path, ...]]:
    names: dict[str, list[Path]] = {}
    for root in roots:
        entries = [*root.glob("*/task.yaml"), *(p for s in ENTRY_SUFFIXES for p in root.glob("*" + s))]
        # a suite folder (no task.yaml of its own) groups tasks: <suite>/<name>/task.yaml is "<suite>-<name>"
        entries += [y for y in root.glob("*/*/task.yaml") if not (y.parent.parent / "task.yaml").exists()]
        # a folder in another project's format (MLAgentBench: <name>/scripts/research_problem.txt), no task.yaml
        marked = [y for m in _hooks().folder_markers() for y in root.glob(f"*/scripts/{m}") if not (y.parents[1] / "task.yaml").exists()]
        for y in sorted(entries):
            if y.name.startswith(".") or y.stem.endswith(SIDECAR_STEM):  # <name>.mlgym.yaml: a sidecar, not a task
                continue
            name = y.parent.name if y.name == "task.yaml" else y.stem
            if y.name == "task.yaml" and y.parent.parent != root:
                name = f"{y.parent.parent.name}-{name}"
            names.setdefault(name, []).append(y.resolve())
        for y in sorted(marked):
            names.setdefault(y.parents[1].name, []).append(y.resolve())
        if marked:  # aliases the folder declares for its marked folders (MLAgentBench's tasks.json)
            for alias, folder in sorted(_hooks().folder_aliases(root).items()):
                hit = [y for y in marked if y.parents[1].name == folder]
                if hit and alias not in names:
                    names[alias] = [hit[0].resolve()]
    return {k: tuple(v) for k, v in names.items()}


def list_tasks() -> list[str]:
    return list(_scan(tuple(benchmarks_roots())))
