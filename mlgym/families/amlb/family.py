"""The AMLB family: the AutoML Benchmark's tabular tasks, one task per (dataset, fold).

A benchmark file in AMLB's own format (``resources/benchmarks/<name>.yaml``: a list of
entries with ``name``, ``openml_task_id`` or ``dataset: {train, test, target}``, ``metric``
(the first is optimised), ``folds``, ``max_runtime_seconds``, ``cores``, ``max_mem_size_mb``,
``description``, and a ``__defaults__`` entry) expands into the tasks::

    amlb/<benchmark>/<dataset>/<fold>               under AMLB's `test` constraint
    amlb/<benchmark>/<dataset>/<fold>@<constraint>  under another one (1h4c, 1h8c, ...)

The constraint (``constraints.yaml``) sets the folds, the episode's time, the cores and the
memory; an entry's own values win over it.  AMLB's ``test`` and ``small`` benchmarks ship
in ``benchmarks/amlb/``; ``MLGYM_AMLB_USER_DIR=DIR`` adds the user's ``DIR/benchmarks/*.yaml``
(a name there shadows a shipped one) and ``DIR/constraints.yaml``, as AMLB's user dir does.

Data: an OpenML task through the ``openml`` package (its own cache, so a filled cache works
offline; ``OPENML_CACHE_DIR`` points it elsewhere), the fold being the task's own split; a
local dataset from its files.  Without network and cache, fold 0 of the ``test`` datasets
comes from AMLB's test resources in ``../shared/data/amlb/`` beside the checkout.  The
agent sees ``data/train.csv``, ``data/test.csv`` (no target) and ``data/task.json``; the
hidden answers are the fold's test labels.  The submission is AMLB's prediction format,
``predictions.csv``: a ``predictions`` column and, for classification, one probability
column per class.  Every metric of the entry and AMLB's defaults for the task type are
reported (:mod:`mlgym.families.amlb.grader`), the first one is the score.
"""

from __future__ import annotations

import fcntl
import functools
import os
from pathlib import Path
from typing import Any, Callable

import yaml

from mlgym.grading import payload
from mlgym.tasks.data import TaskData, build
from mlgym.core.errors import TaskError
from mlgym.core.template import render_starter
from mlgym.grading.base import EvalResult, Submission
from mlgym.grading.scoring import run_eval
from mlgym.families.amlb.options import DEFAULT_METRICS, Constraint, Entry, Options, amlb_metric
from mlgym.families.base import data_mounts
from mlgym.sandbox.base import Mount
from mlgym.tasks.spec import TaskSpec, common_fields

__all__ = ["AMLBFamily", "Constraint", "DEFAULT_METRICS", "Entry", "Options", "amlb_metric", "benchmark_files", "constraints", "entries", "ids",
           "load_id", "row_task", "task_id", "task_names"]

KIND = "amlb"
PREFIX = "amlb/"
DEFAULT_CONSTRAINT = "test"
SUBMISSION = "predictions.csv"
USER_DIR_ENV = "MLGYM_AMLB_USER_DIR"
HERE = Path(__file__).resolve().parent
ENTRY_KEYS = ("name", "openml_task_id", "dataset", "metric", "folds", "max_runtime_seconds", "cores", "max_mem_size_mb",
              "description", "enabled", "type", "min_vol_size_mb", "ec2_instance_type", "quantile_levels")
DATASET_KEYS = ("train", "test", "target", "type")
CONSTRAINT_KEYS = ("folds", "max_runtime_seconds", "cores", "max_mem_size_mb", "min_vol_size_mb", "ec2_instance_type")
TYPES = ("binary", "multiclass", "regression")
REQUIREMENTS = ("FLAML==2.8.0", "lightgbm==4.7.0", "xgboost-cpu==2.1.4")  # FLAML's AutoML imports xgboost; the automl agent
MAX_MEMORY_MB = 8192  # when a constraint names no memory (AMLB: the machine's)


# ------------------------------------------------------------------ definitions
def _shipped() -> Path:
    for cand in (HERE.parents[1] / "benchmarks" / "amlb", HERE.parents[2] / "benchmarks" / "amlb"):  # installed, source tree
        if cand.is_dir():
            return cand
    raise TaskError("the AMLB benchmark definitions (benchmarks/amlb/) are missing from this installation")


def user_dir() -> Path | None:
    value = os.environ.get(USER_DIR_ENV)
    if not value:
        return None
    p = Path(value).expanduser()
    if not p.is_dir():
        raise TaskError(f"{USER_DIR_ENV}={value}: no such folder")
    return p.resolve()


def benchmark_files() -> dict[str, Path]:
    """Benchmark name -> its file: the user dir's first, then the shipped ones."""
    out: dict[str, Path] = {}
    dirs = [d / "benchmarks" for d in (user_dir(), _shipped()) if d is not None]
    for d in dirs:
        for p in sorted([*d.glob("*.yaml"), *d.glob("*.yml")]):
            out.setdefault(p.stem, p.resolve())
    return out


def _read(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except OSError as e:
        raise TaskError(f"{path}: cannot read: {e.strerror}") from None
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise TaskError(f"{path}: not valid YAML: {e}".splitlines()[0]) from None


def _int(path: Path, where: str, key: str, value: Any, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise TaskError(f"{path}: {where}{key}: expected an integer >= {minimum}, got {value!r}")
    return value


def constraints() -> dict[str, Constraint]:
    files = [_shipped() / "constraints.yaml"]
    u = user_dir()
    if u is not None and (u / "constraints.yaml").is_file():
        files.append(u / "constraints.yaml")
    return _constraints(tuple((f, f.stat().st_mtime_ns) for f in files))


@functools.lru_cache(maxsize=8)
def _constraints(files: tuple[tuple[Path, int], ...]) -> dict[str, Constraint]:
    out: dict[str, Constraint] = {}
    for path, _ in files:
        raw = _read(path)
        if not isinstance(raw, dict):
            raise TaskError(f"{path}: expected a mapping of constraint names to settings")
        for name, c in raw.items():
            if not isinstance(c, dict):
                raise TaskError(f"{path}: {name}: expected a mapping")
            unknown = sorted(set(c) - set(CONSTRAINT_KEYS))
            if unknown:
                raise TaskError(f"{path}: {name}.{unknown[0]}: unknown field; known: {', '.join(CONSTRAINT_KEYS)}")
            mem = c.get("max_mem_size_mb")
            out[str(name)] = Constraint(
                str(name), _int(path, f"{name}.", "folds", c.get("folds", 10), 1),
                _int(path, f"{name}.", "max_runtime_seconds", c.get("max_runtime_seconds", 3600), 1),
                _int(path, f"{name}.", "cores", c.get("cores", 1), 1),
                None if mem is None or mem == -1 else _int(path, f"{name}.", "max_mem_size_mb", mem, 1))
    return out


def entries(benchmark: str) -> list[Entry]:
    files = benchmark_files()
    if benchmark not in files:
        raise TaskError(f"unknown AMLB benchmark {benchmark!r}; known: {', '.join(files)} "
                        f"(add your own as ${USER_DIR_ENV}/benchmarks/<name>.yaml)")
    path = files[benchmark]
    return list(_entries(benchmark, path, path.stat().st_mtime_ns, str(user_dir() or "")))


@functools.lru_cache(maxsize=64)
def _entries(benchmark: str, path: Path, _mtime: int, user: str) -> tuple[Entry, ...]:
    raw = _read(path)
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        raise TaskError(f"{path}: expected AMLB's format: a list of tasks, each a mapping with name and openml_task_id or dataset")
    defaults: dict[str, Any] = {}
    out: list[Entry] = []
    for i, e in enumerate(raw):
        name = e.get("name")
        if not isinstance(name, str) or not name or "/" in name or "@" in name:
            raise TaskError(f"{path}: task {i}: name: give a name without '/' or '@', got {name!r}")
        where = f"{name}."
        unknown = sorted(set(e) - set(ENTRY_KEYS))
        if unknown:
            raise TaskError(f"{path}: {where}{unknown[0]}: unknown field; known: {', '.join(ENTRY_KEYS)}")
        if name == "__defaults__":
            defaults = dict(e)
            continue
        merged = {**{k: v for k, v in defaults.items() if k not in ("name", "description")}, **e}
        if merged.get("enabled", True) is False:
            continue
        out.append(_entry(benchmark, path, name, merged, user))
    if not out:
        raise TaskError(f"{path}: no tasks (every entry is __defaults__ or enabled: false)")
    names = [x.name for x in out]
    dup = next((n for n in names if names.count(n) > 1), None)
    if dup:
        raise TaskError(f"{path}: task {dup!r} is defined twice")
    return tuple(out)


def _entry(benchmark: str, path: Path, name: str, e: dict[str, Any], user: str) -> Entry:
    where = f"{name}."
    tid = e.get("openml_task_id")
    ds = e.get("dataset")
    if (tid is None) == (ds is None):
        raise TaskError(f"{path}: {name}: give openml_task_id or dataset: {{train, test, target}} (exactly one)")
    train: tuple[str, ...] = ()
    test: tuple[str, ...] = ()
    target = None
    kind = e.get("type")
    if tid is not None:
        tid = _int(path, where, "openml_task_id", tid, 1)
    else:
        if not isinstance(ds, dict):
            raise TaskError(f"{path}: {where}dataset: expected a mapping with train, test and target")
        unknown = sorted(set(ds) - set(DATASET_KEYS))
        if unknown:
            raise TaskError(f"{path}: {where}dataset.{unknown[0]}: unknown field; known: {', '.join(DATASET_KEYS)}")
        train, test = (_files(path, f"{where}dataset.", k, ds.get(k), user) for k in ("train", "test"))
        if len(train) != len(test):
            raise TaskError(f"{path}: {where}dataset: train and test need as many files each (one per fold)")
        target = ds.get("target")
        if target is not None and not isinstance(target, str):
            raise TaskError(f"{path}: {where}dataset.target: expected a column name, got {target!r}")
        kind = ds.get("type", kind)
    if kind is not None and kind not in TYPES:
        raise TaskError(f"{path}: {where}type: one of {', '.join(TYPES)}, got {kind!r}")
    metric = e.get("metric", [])
    metrics = (metric,) if isinstance(metric, str) else tuple(metric) if isinstance(metric, list) else None
    if metrics is None or not all(isinstance(m, str) and m for m in metrics):
        raise TaskError(f"{path}: {where}metric: expected a metric name or a list of them")
    for m in metrics:
        try:
            amlb_metric(m)
        except TaskError as err:
            raise TaskError(f"{path}: {where}metric: {err}") from None
    own = tuple((k, _int(path, where, k, e[k], 1)) for k in ("folds", "max_runtime_seconds", "cores", "max_mem_size_mb")
                if k in e and not (k == "max_mem_size_mb" and e[k] == -1))
    if train and not any(k == "folds" for k, _ in own):
        own += (("folds", len(train)),)
    desc = e.get("description", "")
    return Entry(benchmark, name, path, tid, train, test, target, metrics, kind, str(desc or "").strip(), own)


def _files(path: Path, where: str, key: str, value: Any, user: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items or not all(isinstance(v, str) and v for v in items):
        raise TaskError(f"{path}: {where}{key}: expected a file path or a list of them (one per fold)")
    out = []
    for v in items:
        if "{user}" in v and not user:
            raise TaskError(f"{path}: {where}{key}: {v!r} uses {{user}} but {USER_DIR_ENV} is not set")
        p = Path(v.replace("{user}", user)).expanduser()
        out.append(str(p if p.is_absolute() else (path.parent / p).resolve()))
    return tuple(out)


# ------------------------------------------------------------------ ids
def task_id(benchmark: str, name: str, fold: int, constraint: str = DEFAULT_CONSTRAINT) -> str:
    return f"{PREFIX}{benchmark}/{name}/{fold}" + ("" if constraint == DEFAULT_CONSTRAINT else f"@{constraint}")


def _folds(entry: Entry, c: Constraint) -> int:
    return dict(entry.own).get("folds", c.folds)


def ids(benchmark: str | None = None, constraint: str = DEFAULT_CONSTRAINT) -> list[str]:
    """Every (dataset, fold) of the benchmarks (all of them by default) under ``constraint``."""
    cons = constraints()
    if constraint not in cons:
        raise TaskError(f"unknown AMLB constraint {constraint!r}; known: {', '.join(cons)}")
    names = [benchmark] if benchmark else list(benchmark_files())
    return [task_id(b, e.name, f, constraint) for b in names for e in entries(b) for f in range(_folds(e, cons[constraint]))]


def load_id(tid: str) -> TaskSpec:
    """The task ``amlb/<benchmark>/<dataset>/<fold>[@<constraint>]``."""
    parts = tid[len(PREFIX):].split("/") if tid.startswith(PREFIX) else []
    if len(parts) != 3 or not all(parts):
        raise TaskError(f"AMLB task ids look like amlb/<benchmark>/<dataset>/<fold>[@<constraint>], e.g. amlb/test/kc2/0; got {tid!r}")
    benchmark, name, last = parts
    fold_s, _, cname = last.partition("@")
    cname = cname or DEFAULT_CONSTRAINT
    cons = constraints()
    if cname not in cons:
        raise TaskError(f"{tid}: unknown AMLB constraint {cname!r}; known: {', '.join(cons)}")
    found = [e for e in entries(benchmark) if e.name == name]
    if not found:
        raise TaskError(f"{tid}: benchmark {benchmark!r} has no dataset {name!r}; it has: {', '.join(e.name for e in entries(benchmark))}")
    entry, c = found[0], cons[cname]
    folds = _folds(entry, c)
    if not fold_s.isdigit() or int(fold_s) >= folds:
        raise TaskError(f"{tid}: fold must be 0..{folds - 1} under constraint {cname!r}, got {fold_s!r}")
    return _spec(entry, int(fold_s), c, task_id(benchmark, name, int(fold_s), cname))


def task_names() -> list[str]:
    """What `mlgym tasks --family amlb` lists: every benchmark's (dataset, fold) under the `test` constraint."""
    return ids()


def row_task(name: str) -> TaskSpec | None:
    """The row source (:class:`mlgym.tasks.catalog.RowSource`): the task ``name``, None for other families' names."""
    if name in ("amlb", PREFIX) or name.startswith("amlb-"):
        raise TaskError("name an AMLB task: amlb/<benchmark>/<dataset>/<fold>[@<constraint>], e.g. amlb/test/kc2/0; "
                        "`mlgym tasks --family amlb` lists them")
    if not name.startswith(PREFIX) or Path(name).exists():  # a folder of that name is a path, not an id
        return None
    return load_id(name)


def _spec(entry: Entry, fold: int, c: Constraint, name: str) -> TaskSpec:
    own = dict(entry.own)
    runtime = own.get("max_runtime_seconds", c.max_runtime_seconds)
    cores = own.get("cores", c.cores)
    memory = own.get("max_mem_size_mb", c.max_mem_size_mb) or MAX_MEMORY_MB
    metric = amlb_metric(entry.metrics[0]) if entry.metrics else _default_metric(entry)
    source = entry.openml_task_id and f"OpenML task {entry.openml_task_id}" or f"the files {entry.train[fold % len(entry.train)]}"
    desc = (f"AMLB benchmark {entry.benchmark!r}, dataset {entry.name!r} ({source}), fold {fold}, constraint {c.name!r}"
            + (f": {entry.description}" if entry.description else "") + ".")
    limit = float(runtime + max(60, runtime // 4))  # AMLB's budget plus a margin for loading, predicting, the harness
    raw = {"name": name, "metric": metric, "description": desc,
           "limits": {"max_time": limit, "exec_timeout": limit, "memory_mb": memory, "cores": cores}}  # cores enforced
    common = common_fields(entry.source, raw, name=name, submission=SUBMISSION, requirements=REQUIREMENTS)
    return TaskSpec(root=entry.source.parent, kind=KIND, options=Options(entry, fold, c, runtime, cores, memory), **common)


def _default_metric(entry: Entry) -> str:
    if entry.type is None:
        raise TaskError(f"{entry.source}: {entry.name}: give metric: (or type: {'/'.join(TYPES)}) so the score is known before the data is")
    return amlb_metric(DEFAULT_METRICS[entry.type][0])


def _opts(task: TaskSpec) -> Options:
    if not isinstance(task.options, Options):
        raise TaskError(f"task {task.name!r} is not an AMLB task")
    return task.options


# ------------------------------------------------------------------ the family
class AMLBFamily:
    kind = KIND

    # capability (mlgym.tasks.catalog.RowSource)
    def row_task(self, name: str) -> TaskSpec | None:
        return row_task(name)

    def task_names(self) -> list[str]:
        return task_names()

    def rows_note(self) -> str | None:
        return None  # benchmark files on disk: cheap to list

    def expand(self, path: Path, raw: dict[str, Any]) -> list[TaskSpec]:
        raise TaskError(f"{path}: AMLB tasks come from AMLB benchmark files (benchmarks/amlb/ or "
                        f"${USER_DIR_ENV}/benchmarks/), named amlb/<benchmark>/<dataset>/<fold>; not from a task YAML")

    def prepare(self, task: TaskSpec, *, root: Path | None = None, force: bool = False, verify: bool = False,
                progress: Callable[[str], None] | None = None) -> TaskData:
        from mlgym.families.amlb import data as amlb_data  # openml and pandas: imported when data is needed

        where = TaskData(task, root).dir
        where.parent.mkdir(parents=True, exist_ok=True)
        with open(where.parent / f".{where.name}.lock", "w") as lock:  # a grid runs several agents on one fold at once
            fcntl.flock(lock, fcntl.LOCK_EX)
            return build(task, functools.partial(amlb_data.produce, task), root=root, force=force, verify=verify, progress=progress)

    def build_workspace(self, task: TaskSpec, workspace: Path) -> None:
        opts = _opts(task)
        config = {"cores": opts.cores, "seconds": opts.max_runtime_seconds, "submission": SUBMISSION}
        text = render_starter((HERE / "starter.py").read_text(), config, drop=("# The AMLB family", "# mypy:"))
        (workspace / "train.py").write_text(text)

    def mounts(self, task: TaskSpec, data: TaskData) -> list[Mount]:
        return data_mounts(data)

    def describe(self, task: TaskSpec) -> str:
        o = _opts(task)
        return (
            f"Research Problem: {task.description}\n\n"
            f"The read-only folder data/ holds train.csv (features and the target column), test.csv (the same "
            f"features, no target) and task.json (target, task type, class labels, categorical columns, metrics). "
            f"Write {SUBMISSION} in the current directory, one row per row of test.csv in the same order, in AMLB's "
            f"prediction format: a column 'predictions' (the predicted label or value) and, for classification, one "
            f"column per class label holding its probability. It is scored on {task.metric} ({task.direction} is "
            f"better) when you give the Final Answer; AMLB's other metrics are reported too.\n"
            f"Constraint {o.constraint.name!r}: {o.max_runtime_seconds} s of training time, {o.cores} cores, {o.memory_mb} MB "
            f"of memory; the episode ends after {task.limits.max_time:.0f} s. The starter train.py fits a small scikit-learn pipeline."
        )

    def evaluate(self, task: TaskSpec, data: TaskData, submission: Submission, *, sandbox: str = "local",
                 python: str = "python", sandbox_options: dict[str, Any] | None = None) -> EvalResult:

        files: dict[str, Path | bytes] = {"amlb_grader.py": HERE / "grader.py", "metrics.py": payload.METRICS}
        return run_eval(task, data, submission, files, [python, "amlb_grader.py", "--answers", "answers"],
                        sandbox=sandbox, sandbox_options=sandbox_options)
