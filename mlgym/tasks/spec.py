"""Tasks are data: a YAML file read by the task's *family* (:mod:`mlgym.families.registry`).

A benchmarks folder holds folder tasks (``<name>/task.yaml`` + ``env/`` + ``scripts/``,
the default ``folder`` family) and single-file entries (``<name>.yaml`` with ``kind:``
naming the family, e.g. a Kaggle competition).  ``TaskSpec.load(name_or_path)``
validates strictly: an unknown key, a wrong type or an unknown metric is a
:class:`TaskError` of one line naming the file and the key.  A task name found in
two places is an error naming both.
"""

from __future__ import annotations

import dataclasses
import os
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import yaml

from mlgym.core.errors import TaskError
from mlgym.core.metrics import METRICS, canonical

if TYPE_CHECKING:
    from mlgym.families.registry import TaskFamily

__all__ = ["Baseline", "DEFAULT_REQUIREMENTS", "Fields", "TaskEnvironment", "TaskLimits", "TaskSpec", "benchmarks_roots",
           "list_tasks", "task_paths"]

ENTRY_SUFFIXES = (".yaml", ".yml")
MLAGENTBENCH_MARKER = "research_problem.txt"  # <task>/scripts/research_problem.txt: an MLAgentBench task folder
SIDECAR_STEM = ".mlgym"  # <name>.mlgym.yaml beside an MLAgentBench task folder: its direction/metric


def benchmarks_roots() -> list[Path]:
    """Folders holding tasks: ``$MLGYM_BENCHMARKS`` (os.pathsep-separated), then the bundled ones."""
    roots = [Path(p) for p in os.environ.get("MLGYM_BENCHMARKS", "").split(os.pathsep) if p]
    here = Path(__file__).resolve().parents[1]  # the mlgym package
    for cand in (here / "benchmarks", here.parent / "benchmarks"):  # installed, source tree
        if cand.is_dir() and (any(cand.glob("*/task.yaml")) or any(cand.glob("*.yaml"))):
            roots.append(cand)
    return list(dict.fromkeys(r.resolve() for r in roots))  # the same folder twice is not a clash


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

    @property
    def all_requirements(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys((*DEFAULT_REQUIREMENTS, *self.requirements)))


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
    def family(self) -> "TaskFamily":
        from mlgym.families.registry import family  # local import: families import this module

        return family(self.kind)

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
        from mlgym.families.registry import row_task  # tasks that are dataset rows (ML-Bench), not YAML entries

        spec: TaskSpec | None = row_task(str(name_or_path))
        if spec is not None:
            return spec
        path = _find(str(name_or_path))
        return cls.from_yaml(path)

    @classmethod
    def from_yaml(cls, path: Path) -> "TaskSpec":
        """Read one task YAML (``task.yaml`` of a folder, or a single-file entry) through its family."""
        from mlgym.families.registry import family

        if path.name == MLAGENTBENCH_MARKER:  # one of MLAgentBench's own task folders (no YAML): its family reads it
            raw: dict[str, Any] = {"kind": "mlgym.families.mlagentbench.family:MLAgentBenchFolderFamily"}
        else:
            raw = read_yaml(path)
        kind = raw.get("kind", "folder" if path.name == "task.yaml" else None)
        if not isinstance(kind, str):
            raise TaskError(f"{path}: kind: required for a single-file task (e.g. 'kaggle'); got {kind!r}")
        try:
            fam = family(kind)
        except TaskError as e:
            raise TaskError(f"{path}: kind: {e}") from None
        specs: list[TaskSpec] = fam.expand(path, raw)
        want = path.parent.name if path.name == "task.yaml" else path.parents[1].name if path.name == MLAGENTBENCH_MARKER else path.stem
        for spec in specs:
            if spec.name == want:
                return spec
        if len(specs) == 1:
            return specs[0]
        raise TaskError(f"{path}: holds no task named {want!r}")


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
    p = Path(name)
    if (p / "task.yaml").is_file():
        return (p / "task.yaml").resolve()
    if (p / "scripts" / MLAGENTBENCH_MARKER).is_file():
        return (p / "scripts" / MLAGENTBENCH_MARKER).resolve()
    if p.suffix in ENTRY_SUFFIXES and p.is_file():
        return p.resolve()
    key = name.replace("/", "-") if name.count("/") == 1 and all(name.split("/")) else name  # "mlagentbench/cifar10" names "mlagentbench-cifar10"
    if "/" not in key and key not in ("", ".", ".."):
        found = task_paths().get(key, [])
        if len(found) > 1:
            raise TaskError(f"task {name!r} is defined twice: {found[0]} and {found[1]}; rename or remove one")
        if found:
            return found[0]
    known = ", ".join(list_tasks()) or "none found"
    raise TaskError(f"unknown task {name!r}; known tasks: {known}")


@lru_cache(maxsize=None)
def _scan(roots: tuple[Path, ...]) -> dict[str, tuple[Path, ...]]:
    names: dict[str, list[Path]] = {}
    for root in roots:
        entries = [*root.glob("*/task.yaml"), *(p for s in ENTRY_SUFFIXES for p in root.glob("*" + s))]
        # a suite folder (no task.yaml of its own) groups tasks: <suite>/<name>/task.yaml is "<suite>-<name>"
        entries += [y for y in root.glob("*/*/task.yaml") if not (y.parent.parent / "task.yaml").exists()]
        # MLAgentBench's benchmarks folder: <name>/env/ and <name>/scripts/research_problem.txt, no task.yaml
        mab = [y for y in root.glob(f"*/scripts/{MLAGENTBENCH_MARKER}") if not (y.parents[1] / "task.yaml").exists()]
        for y in sorted(entries):
            if y.name.startswith(".") or y.stem.endswith(SIDECAR_STEM):  # <name>.mlgym.yaml: a sidecar, not a task
                continue
            name = y.parent.name if y.name == "task.yaml" else y.stem
            if y.name == "task.yaml" and y.parent.parent != root:
                name = f"{y.parent.parent.name}-{name}"
            names.setdefault(name, []).append(y.resolve())
        for y in sorted(mab):
            names.setdefault(y.parents[1].name, []).append(y.resolve())
    return {k: tuple(v) for k, v in names.items()}


def list_tasks() -> list[str]:
    return list(_scan(tuple(benchmarks_roots())))
