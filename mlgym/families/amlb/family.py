"""The AMLB family: the AutoML Benchmark's tabular tasks, one task per (dataset, fold).

AMLB's own files are read as AMLB reads them (:mod:`mlgym.families.amlb.config`): mlgym ships
AMLB's ``resources/`` unmodified (``config.yaml``, ``constraints.yaml``, ``benchmarks/*.yaml``,
``frameworks*.yaml``; MIT, see ``resources/NOTICE``), and ``MLGYM_AMLB_USER_DIR=DIR`` is AMLB's
user dir (its ``config.yaml``, ``benchmarks/``, ``constraints.yaml``, ``frameworks.yaml``; a
benchmark of the same name there shadows a shipped one).  Tasks::

    amlb/<benchmark>/<dataset>/<fold>               under AMLB's `test` constraint
    amlb/<benchmark>/<dataset>/<fold>@<constraint>  under another one (1h4c, 1h8c, ...)

AMLB's precedence: a task's own keys win over the file's ``__defaults__``, which win over the
constraint, which wins over ``config.yaml``'s ``benchmarks.defaults`` (so ``test.yaml`` runs 2
folds of 60 s on 2 cores).  A task without ``metric`` gets ``config.yaml``'s
``benchmarks.metrics`` of its type, known once the data is: before that the spec says ``auto``
and :meth:`AMLBFamily.settled` gives the decided spec after ``prepare`` (the env asks for it).
Disabled entries are skipped; a broken file or entry is one warning line and hides nothing
else; timeseries entries are named in one "not supported yet" line; constraint keys that only
apply on AWS (``ec2_*``) are accepted and reported as not applying locally.

Data: an OpenML task (``openml_task_id``, its own split) or dataset (``openml_data_id``, mlgym's
stratified folds) through openml-python and its cache, or AMLB's file datasets in every form
(:mod:`mlgym.families.amlb.filedata`).  Without network and cache, fold 0 of the ``test``
datasets comes from AMLB's test split shipped in ``data/``.  The agent sees
``data/train.csv``, ``data/test.csv`` (no target) and ``data/task.json``; the hidden answers
are the fold's test labels.  The submission is AMLB's prediction format, ``predictions.csv``.
"""

from __future__ import annotations

import dataclasses
import fcntl
import functools
import json
import logging
import os
from pathlib import Path
from typing import Any, Callable

from mlgym.core.errors import TaskError
from mlgym.core.template import render_starter
from mlgym.families.amlb import config as amlbconf
from mlgym.families.amlb.options import DEFAULT_METRICS, Options, amlb_metric
from mlgym.families.base import data_mounts
from mlgym.grading import payload
from mlgym.grading.base import EvalResult, Submission
from mlgym.grading.scoring import run_eval
from mlgym.sandbox.base import Mount
from mlgym.tasks.data import TaskData, build, data_root
from mlgym.tasks.spec import TaskEnvironment, TaskSpec, common_fields

__all__ = ["AMLBFamily", "DEFAULT_METRICS", "Options", "amlb_metric", "benchmark_files", "constraints", "entries", "ids",
           "load_id", "problems", "row_task", "task_id", "task_names"]

log = logging.getLogger(__name__)

KIND = "amlb"
PREFIX = "amlb/"
DEFAULT_CONSTRAINT = "test"
SUBMISSION = "predictions.csv"
USER_DIR_ENV = "MLGYM_AMLB_USER_DIR"
HERE = Path(__file__).resolve().parent  # AMLB's {root}: resources/ is here
UNDECIDED = "auto"  # the metric of a spec whose type the data decides (AMLB: config.yaml benchmarks.metrics)
TYPES = ("binary", "multiclass", "regression")
MAX_MEMORY_MB = 8192  # when a constraint names no memory (AMLB: the machine's)
# The task environment of every AMLB task: AutoGluon (AMLB's flagship framework), FLAML and the
# gradient-boosting libraries, pinned by autogluon.lock (AutoGluon needs pandas < 2.4 and pyarrow < 25,
# so not the harness's lock).  Built once on first use (mlgym.tasks.taskenv).
REQUIREMENTS = ("autogluon.tabular[lightgbm]==1.6.3", "FLAML==2.8.0", "lightgbm==4.7.0", "xgboost-cpu==3.2.0")
LOCK = HERE / "autogluon.lock"


# ------------------------------------------------------------------ AMLB's files
def user_dir() -> Path | None:
    value = os.environ.get(USER_DIR_ENV)
    if not value:
        return None
    p = Path(value).expanduser()
    if not p.is_dir():
        raise TaskError(f"{USER_DIR_ENV}={value}: no such folder")
    return p.resolve()


def config() -> amlbconf.Config:
    u = user_dir()
    stamp = tuple((f, f.stat().st_mtime_ns) for f in (HERE / "resources" / "config.yaml", *(() if u is None else (u / "config.yaml",)))
                  if f.is_file())
    return _config(u, stamp)


@functools.lru_cache(maxsize=8)
def _config(user: Path | None, _stamp: tuple[tuple[Path, int], ...]) -> amlbconf.Config:
    return amlbconf.load_config(HERE, user)


def benchmark_files() -> dict[str, Path]:
    """Benchmark name -> its file (the first definition_dir holding it wins, as in AMLB)."""
    return amlbconf.benchmark_files(config())


def _stamp(files: list[Path]) -> tuple[tuple[Path, int], ...]:
    return tuple((f, f.stat().st_mtime_ns) for f in files if f.is_file())


def constraints() -> dict[str, amlbconf.Constraint]:
    """Lower-cased name -> constraint, over every constraints file (a later one overrides a name)."""
    return _constraints(_stamp(config().files("benchmarks", "constraints_file")))


@functools.lru_cache(maxsize=8)
def _constraints(files: tuple[tuple[Path, int], ...]) -> dict[str, amlbconf.Constraint]:
    return amlbconf.read_constraints([f for f, _ in files])


def constraint(name: str) -> amlbconf.Constraint:
    cons = constraints()
    c = cons.get(name.lower())
    if c is None:
        raise TaskError(f"unknown AMLB constraint {name!r}; known: {', '.join(v.name for v in cons.values())}")
    if c.error:
        raise TaskError(c.error)
    return c


def entries(benchmark: str, cname: str = DEFAULT_CONSTRAINT) -> list[amlbconf.Task]:
    """Every entry of a benchmark file under a constraint (disabled and broken ones too, flagged)."""
    files = benchmark_files()
    if benchmark not in files:
        raise TaskError(f"unknown AMLB benchmark {benchmark!r}; known: {', '.join(files)} "
                        f"(add your own as ${USER_DIR_ENV}/benchmarks/<name>.yaml)")
    path = files[benchmark]
    c = constraint(cname)
    cfg = config()
    key = (benchmark, path, path.stat().st_mtime_ns, c.name, id(c), id(cfg))
    if key not in _ENTRIES:
        _ENTRIES[key] = tuple(amlbconf.read_benchmark(path, cfg, c, name=benchmark)[0])
    return list(_ENTRIES[key])


_ENTRIES: dict[tuple[Any, ...], tuple[amlbconf.Task, ...]] = {}  # constraints and config are cached: same objects while unchanged


def problems() -> list[str]:
    """One line per thing that keeps an AMLB file or entry from being listed (the rest still is)."""
    out = list(config().notes)
    try:
        cons = constraints()
    except TaskError as e:
        return [*out, str(e)]
    out += [c.error for c in cons.values() if c.error]
    out += [f"{c.source}: {c.name}: {', '.join(c.not_local)}: AWS only, does not apply locally" for c in cons.values() if c.not_local]
    unsupported: dict[Path, list[str]] = {}
    for bench in benchmark_files():
        try:
            got = entries(bench)
        except TaskError as e:
            out.append(str(e))
            continue
        for t in got:
            if not t.enabled:
                continue
            if t.error:
                out.append(t.error)
            elif t.unsupported:
                unsupported.setdefault(t.source, []).append(t.name)
    out += [f"{src}: AMLB timeseries tasks are not supported yet: {', '.join(names)}" for src, names in unsupported.items()]
    return out


# ------------------------------------------------------------------ ids
def task_id(benchmark: str, name: str, fold: int, cname: str = DEFAULT_CONSTRAINT) -> str:
    return f"{PREFIX}{benchmark}/{name}/{fold}" + ("" if cname == DEFAULT_CONSTRAINT else f"@{cname}")


def _folds(t: amlbconf.Task) -> int:
    """The task's folds (AMLB: its own, its file's __defaults__, the constraint's), at most as many as a file
    dataset on disk has (one pair of files: one fold); URLs not downloaded yet count as the task says."""
    n = max(1, t.folds)
    if t.dataset is not None and t.openml_task_id is None and t.openml_data_id is None:
        from mlgym.families.amlb import filedata

        try:
            got = filedata.folds_of(t.dataset, dirs=config().dirs(), cache=data_root() / "amlb-files", name=t.name)
        except TaskError:
            return n  # said when the fold is prepared
        if got:
            n = min(n, got)
    return n


def _runnable(t: amlbconf.Task) -> bool:
    return t.enabled and t.error is None and t.unsupported is None


def ids(benchmark: str | None = None, cname: str = DEFAULT_CONSTRAINT) -> list[str]:
    """Every runnable (dataset, fold) of the benchmarks (all of them by default) under a constraint.
    With no benchmark named, a file that does not load is left out (:func:`problems` says why)."""
    names = [benchmark] if benchmark else list(benchmark_files())
    out: list[str] = []
    for b in names:
        try:
            got = entries(b, cname)
        except TaskError:
            if benchmark:
                raise
            continue
        out += [task_id(b, t.name, f, cname) for t in got if _runnable(t) for f in range(_folds(t))]
    return out


def task_names() -> list[str]:
    """What `mlgym tasks --family amlb` lists: every runnable (dataset, fold) under the `test` constraint.
    Each problem (a broken file or entry, a timeseries entry, an AWS-only key) is one warning line."""
    for line in problems():
        log.warning("%s", line)
    bad = ""
    out: list[str] = []
    for tid in ids():
        bench, name, fold = tid[len(PREFIX):].split("/")
        if fold == "0":
            try:
                load_id(tid)
            except TaskError as e:
                log.warning("%s", e)
                bad = f"{PREFIX}{bench}/{name}/"
                continue
            bad = ""
        elif bad and tid.startswith(bad):
            continue
        out.append(tid)
    return out


def load_id(tid: str) -> TaskSpec:
    """The task ``amlb/<benchmark>/<dataset>/<fold>[@<constraint>]``."""
    parts = tid[len(PREFIX):].split("/") if tid.startswith(PREFIX) else []
    if len(parts) != 3 or not all(parts):
        raise TaskError(f"AMLB task ids look like amlb/<benchmark>/<dataset>/<fold>[@<constraint>], e.g. amlb/test/kc2/0; got {tid!r}")
    benchmark, name, last = parts
    fold_s, _, cname = last.partition("@")
    cname = cname or DEFAULT_CONSTRAINT
    got = entries(benchmark, cname)
    found = [t for t in got if t.name == name]
    if not found:
        raise TaskError(f"{tid}: benchmark {benchmark!r} has no dataset {name!r}; it has: "
                        f"{', '.join(t.name for t in got if t.enabled)}")
    t = found[0]
    if not t.enabled:
        raise TaskError(f"{tid}: {t.source}: {name} is disabled (enabled: false)")
    if t.error:
        raise TaskError(t.error)
    if t.unsupported:
        raise TaskError(t.unsupported)
    folds = _folds(t)
    if not fold_s.isdigit() or int(fold_s) >= folds:
        raise TaskError(f"{tid}: fold must be 0..{folds - 1} under constraint {cname!r}, got {fold_s!r}")
    return _spec(t, int(fold_s), constraint(cname), task_id(benchmark, name, int(fold_s), cname))


def row_task(name: str) -> TaskSpec | None:
    """The row source (:class:`mlgym.tasks.catalog.RowSource`): the task ``name``, None for other families' names."""
    if name in ("amlb", PREFIX) or name.startswith("amlb-"):
        raise TaskError("name an AMLB task: amlb/<benchmark>/<dataset>/<fold>[@<constraint>], e.g. amlb/test/kc2/0; "
                        "`mlgym tasks --family amlb` lists them")
    if not name.startswith(PREFIX) or Path(name).exists():  # a folder of that name is a path, not an id
        return None
    return load_id(name)


# ------------------------------------------------------------------ the type before the data
def _prepared_type(benchmark: str, name: str, cname: str) -> str | None:
    """The type a prepared fold of this dataset recorded (its data/task.json)."""
    base = data_root() / "amlb" / benchmark / name
    if not base.is_dir():
        return None
    suffix = "" if cname == DEFAULT_CONSTRAINT else f"@{cname}"
    for d in sorted(base.glob(f"*{suffix}")):
        try:
            kind = json.loads((d / "public" / "task.json").read_text()).get("type")
        except (OSError, ValueError):
            continue
        if kind in TYPES:
            return str(kind)
    return None


def _openml_cached_type(tid: int) -> str | None:
    """binary / multiclass / regression from openml-python's cache files, no network (None: not cached)."""
    import xml.etree.ElementTree as ET

    cache = os.environ.get("OPENML_CACHE_DIR") or os.path.expanduser("~/.cache/openml")
    base = Path(cache) / "org" / "openml" / "www"
    ns = {"oml": "http://openml.org/openml"}
    try:
        task = ET.parse(base / "tasks" / str(tid) / "task.xml").getroot()
        ttype = task.findtext("oml:task_type_id", namespaces=ns)
        if ttype == "2":
            return "regression"
        if ttype != "1":
            return None
        inp = task.find("oml:input[@name='source_data']/oml:data_set", ns)
        did = inp.findtext("oml:data_set_id", namespaces=ns) if inp is not None else None
        target = inp.findtext("oml:target_feature", namespaces=ns) if inp is not None else None
        feats = ET.parse(base / "datasets" / str(did) / "features.xml").getroot()
    except (OSError, ET.ParseError):
        return None
    for f in feats.findall("oml:feature", ns):
        if f.findtext("oml:name", namespaces=ns) == target:
            values = f.findall("oml:nominal_value", ns)
            return "binary" if len(values) == 2 else "multiclass" if values else None
    return None


def _local_type(t: amlbconf.Task, dirs: dict[str, str]) -> str | None:
    """The type of a file dataset whose files are on disk (no download, no unpacking)."""
    from mlgym.families.amlb import filedata

    ds = t.dataset
    if isinstance(ds, dict) and "path" in ds:
        ds = ds["path"]
    train = ds.get("train") if isinstance(ds, dict) else ds[0] if isinstance(ds, list) and ds else None
    first = train[0] if isinstance(train, list) and train else train
    if not isinstance(first, str):
        return None
    try:
        p = Path(filedata._fmt(first, dirs))  # noqa: SLF001 - the same placeholder rules
        if filedata.is_url(first) or not p.is_file() or p.stat().st_size > 64 * 2**20:
            return None
        target = t.dataset.get("target") if isinstance(t.dataset, dict) else None
        return filedata.target_and_type(p, p, target, t.type)[1]
    except (TaskError, OSError, ValueError):
        return None


def _known_type(t: amlbconf.Task, cname: str, dirs: dict[str, str]) -> str | None:
    if t.type in TYPES:
        return t.type
    if t.type == "classification":
        return None
    got = _prepared_type(t.benchmark, t.name, cname)
    if got is None and t.openml_task_id is not None:
        got = _openml_cached_type(t.openml_task_id)
    if got is None and t.dataset is not None:
        got = _local_type(t, dirs)
    return got


# ------------------------------------------------------------------ the spec
def _spec(t: amlbconf.Task, fold: int, c: amlbconf.Constraint, name: str) -> TaskSpec:
    cfg = config()
    dirs = cfg.dirs()
    runtime = t.max_runtime_seconds if t.max_runtime_seconds > 0 else 3600
    cores = max(0, t.cores)  # AMLB's -1: every core -> no cpuset
    memory = t.max_mem_size_mb if t.max_mem_size_mb > 0 else MAX_MEMORY_MB
    kind = _known_type(t, c.name, dirs)
    metrics = tuple(t.metric) if t.metric else tuple(cfg.metrics[kind]) if kind else ()
    for m in metrics:
        try:
            amlb_metric(m)
        except TaskError as err:
            raise TaskError(f"{t.source}: {t.name}.metric: {err}") from None
    source = (f"OpenML task {t.openml_task_id}" if t.openml_task_id is not None else
              f"OpenML dataset {t.openml_data_id}" if t.openml_data_id is not None else f"the file dataset {t.id}")
    desc = (f"AMLB benchmark {t.benchmark!r}, dataset {t.name!r} ({source}), fold {fold}, constraint {c.name!r}"
            + (f": {' '.join(t.description.split())}" if t.description else "") + ".")
    limit = float(max(runtime + 60, min(2 * runtime, runtime + 3600)))  # AMLB's job timeout: min(2x, +1 h) of the budget
    raw = {"name": name, "metric": amlb_metric(metrics[0]) if metrics else "accuracy", "description": desc,
           "limits": {"max_time": limit, "exec_timeout": limit, "memory_mb": memory, "cores": cores}}  # cores enforced
    common = common_fields(t.source, raw, name=name, submission=SUBMISSION)
    if not metrics:
        common.update(metric=UNDECIDED, direction="higher")  # decided by the data (settled())
    common["environment"] = TaskEnvironment(requirements=REQUIREMENTS, constraints=_lock())
    not_local = tuple(sorted({*c.not_local, *t.not_local}))
    per_type = tuple((k, tuple(v)) for k, v in cfg.metrics.items())
    opts = Options(t, fold, c.name, runtime, cores, memory, tuple(sorted(dirs.items())), kind, metrics, not_local, per_type)
    return TaskSpec(root=t.source.parent, kind=KIND, options=opts, **common)


@functools.lru_cache(maxsize=1)
def _lock() -> tuple[str, ...]:
    try:
        lines = [ln.split("#", 1)[0].strip() for ln in LOCK.read_text().splitlines()]
    except OSError:
        raise TaskError(f"{LOCK} is missing from this installation (the AMLB task environment's pins)") from None
    return tuple(ln for ln in lines if "==" in ln)


def settled(task: TaskSpec, data: TaskData) -> TaskSpec:
    """The spec with the metric the prepared data decided (AMLB: config.yaml's metrics of its type)."""
    opts = _opts(task)
    try:
        info = json.loads((data.public / "task.json").read_text())
    except (OSError, ValueError):
        return task
    metrics = tuple(str(m) for m in info.get("metrics") or ())
    if not metrics or (task.metric != UNDECIDED and opts.metrics == metrics):
        return task
    from mlgym.core.metrics import METRICS

    metric = amlb_metric(metrics[0])
    return dataclasses.replace(task, metric=metric, direction=METRICS[metric].direction,
                               options=dataclasses.replace(opts, type=info.get("type"), metrics=metrics))


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

    # capability (mlgym.tasks.data.Settles)
    def settled(self, task: TaskSpec, data: TaskData) -> TaskSpec:
        return settled(task, data)

    def expand(self, path: Path, raw: dict[str, Any]) -> list[TaskSpec]:
        raise TaskError(f"{path}: AMLB tasks come from AMLB benchmark files (AMLB's resources/benchmarks/, shipped, or "
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
        cfg = {"cores": opts.cores or (os.cpu_count() or 1), "seconds": opts.max_runtime_seconds, "submission": SUBMISSION}
        text = render_starter((HERE / "starter.py").read_text(), cfg, drop=("# The AMLB family", "# mypy:"))
        (workspace / "train.py").write_text(text)

    def mounts(self, task: TaskSpec, data: TaskData) -> list[Mount]:
        return data_mounts(data)

    def describe(self, task: TaskSpec) -> str:
        o = _opts(task)
        metric = (f"{task.metric} ({task.direction} is better)" if task.metric != UNDECIDED
                  else "the first metric data/task.json lists (AMLB's default for the task type)")
        aws = f" ({', '.join(o.not_local)}: AWS only, not applied here)" if o.not_local else ""
        return (
            f"Research Problem: {task.description}\n\n"
            f"The read-only folder data/ holds train.csv (features and the target column), test.csv (the same "
            f"features, no target) and task.json (target, task type, class labels, categorical columns, metrics). "
            f"Write {SUBMISSION} in the current directory, one row per row of test.csv in the same order, in AMLB's "
            f"prediction format: a column 'predictions' (the predicted label or value) and, for classification, one "
            f"column per class label holding its probability. It is scored on {metric} when you give the Final Answer; "
            f"AMLB's other metrics are reported too.\n"
            f"Constraint {o.constraint!r}{aws}: {o.max_runtime_seconds} s of training time, "
            f"{o.cores or 'all'} cores, {o.memory_mb} MB of memory; the episode ends after {task.limits.max_time:.0f} s. "
            f"AutoGluon (autogluon.tabular), FLAML, LightGBM, XGBoost and scikit-learn are installed. "
            f"The starter train.py fits a small scikit-learn pipeline."
        )

    def evaluate(self, task: TaskSpec, data: TaskData, submission: Submission, *, sandbox: str = "local",
                 python: str = "python", sandbox_options: dict[str, Any] | None = None) -> EvalResult:
        task = settled(task, data)
        files: dict[str, Path | bytes] = {"amlb_grader.py": HERE / "grader.py", "metrics.py": payload.METRICS}
        return run_eval(task, data, submission, files, [python, "amlb_grader.py", "--answers", "answers"],
                        sandbox=sandbox, sandbox_options=sandbox_options)
