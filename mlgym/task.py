"""Tasks are data: ``benchmarks/<name>/task.yaml`` + ``env/`` (seen) + ``scripts/`` (hidden).

``TaskSpec.load(name_or_path)`` validates the YAML and raises :class:`TaskError` naming
the file and field when something is wrong.
"""

from __future__ import annotations

import dataclasses
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

from mlgym.errors import TaskError

__all__ = ["Baseline", "TaskLimits", "TaskSpec", "benchmarks_roots", "list_tasks"]


def benchmarks_roots() -> list[Path]:
    """Folders holding tasks: ``$MLGYM_BENCHMARKS`` (os.pathsep-separated), then the bundled ones."""
    roots = [Path(p) for p in os.environ.get("MLGYM_BENCHMARKS", "").split(os.pathsep) if p]
    here = Path(__file__).resolve().parent
    for cand in (here / "benchmarks", here.parent / "benchmarks"):  # installed, source tree
        if cand.is_dir() and any(cand.glob("*/task.yaml")):
            roots.append(cand)
    return [r.resolve() for r in roots]


@dataclasses.dataclass(frozen=True)
class Baseline:
    score: float
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


@dataclasses.dataclass(frozen=True)
class TaskSpec:
    name: str
    root: Path
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
        root = _find(str(name_or_path))
        return cls.from_yaml(root / "task.yaml")

    @classmethod
    def from_yaml(cls, path: Path) -> "TaskSpec":
        try:
            raw = yaml.safe_load(path.read_text())
        except FileNotFoundError:
            raise TaskError(f"{path}: file not found") from None
        except yaml.YAMLError as e:
            raise TaskError(f"{path}: not valid YAML: {e}".splitlines()[0]) from None
        if not isinstance(raw, dict):
            raise TaskError(f"{path}: expected a mapping at the top level")
        f = _Fields(path, raw)
        limits_raw = f.get("limits", dict, {})
        lf = _Fields(path, limits_raw, prefix="limits.")
        known = {x.name for x in dataclasses.fields(TaskLimits)}
        for key in limits_raw:
            if key not in known:
                raise TaskError(f"{path}: limits.{key}: unknown field; known: {', '.join(sorted(known))}")
        limits = TaskLimits(**{k: lf.get(k, type(getattr(TaskLimits(), k)), getattr(TaskLimits(), k)) for k in limits_raw})
        b = _Fields(path, f.get("baseline", dict), prefix="baseline.")
        sub = f.get("submission", (str, list))
        spec = cls(
            name=f.get("name", str),
            root=path.parent.resolve(),
            description=f.get("description", str).strip(),
            metric=f.get("metric", str),
            direction=f.get("direction", str),
            submission=tuple([sub] if isinstance(sub, str) else sub),
            baseline=Baseline(float(b.get("score", (int, float))), b.get("measured", str)),
            limits=limits,
            success_threshold=float(f.get("success_threshold", (int, float), 0.10)),
            eval_timeout=float(f.get("eval_timeout", (int, float), 600.0)),
            data_env={str(k): str(v) for k, v in f.get("data_env", dict, {}).items()},
            hide=tuple(f.get("hide", list, [])),
        )
        if spec.direction not in ("higher", "lower"):
            raise TaskError(f"{path}: direction: must be 'higher' or 'lower', got {spec.direction!r}")
        if spec.name != path.parent.name:
            raise TaskError(f"{path}: name: {spec.name!r} must match the folder name {path.parent.name!r}")
        if not spec.submission or not all(isinstance(s, str) and s and "/" not in s for s in spec.submission):
            raise TaskError(f"{path}: submission: give one file name or a list of plain file names")
        if not all(isinstance(h, str) and "/" in h and ".." not in h.split("/") for h in spec.hide):
            raise TaskError(f"{path}: hide: give package-data paths like 'sklearn/datasets/data/digits.csv.gz'")
        for needed in (spec.env_dir, spec.eval_script):
            if not needed.exists():
                raise TaskError(f"{path}: missing {needed.relative_to(spec.root)}")
        return spec


class _Fields:
    def __init__(self, path: Path, raw: dict[str, Any], prefix: str = "") -> None:
        self.path, self.raw, self.prefix = path, raw, prefix

    _MISSING = object()

    def get(self, key: str, types: Any, default: Any = _MISSING) -> Any:
        if key not in self.raw:
            if default is self._MISSING:
                raise TaskError(f"{self.path}: {self.prefix}{key}: required field is missing")
            return default
        value = self.raw[key]
        if types is float:
            types = (int, float)
        if isinstance(value, bool) and types in (int, float, (int, float)):
            raise TaskError(f"{self.path}: {self.prefix}{key}: expected a number, got {value!r}")
        if not isinstance(value, types):
            want = types.__name__ if isinstance(types, type) else " or ".join(t.__name__ for t in types)
            raise TaskError(f"{self.path}: {self.prefix}{key}: expected {want}, got {value!r}")
        return value


def _find(name: str) -> Path:
    p = Path(name)
    if (p / "task.yaml").is_file():
        return p.resolve()
    if "/" not in name and name not in ("", ".", ".."):
        for root in benchmarks_roots():
            if (root / name / "task.yaml").is_file():
                return root / name
    known = ", ".join(list_tasks()) or "none found"
    raise TaskError(f"unknown task {name!r}; known tasks: {known}")


@lru_cache(maxsize=None)
def _scan(roots: tuple[Path, ...]) -> tuple[str, ...]:
    names: dict[str, None] = {}
    for root in roots:
        for y in sorted(root.glob("*/task.yaml")):
            names.setdefault(y.parent.name)
    return tuple(names)


def list_tasks() -> list[str]:
    return list(_scan(tuple(benchmarks_roots())))
