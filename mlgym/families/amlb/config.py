"""AMLB resources read the way AMLB reads them: config.yaml, constraints.yaml, benchmarks/*.yaml, frameworks*.yaml.

Plain paths in, plain dataclasses/dicts out; every error is one line (:class:`AMLBError`).  Facts mirrored (openml/automlbenchmark
@ dfe8d21871e2dec2b7cab6c9fbfe3575ce4dadc6):

* ``amlb/resources.py`` ``_benchmark_definition``: a task's keys win over the file's ``__defaults__``, which win
  over the constraint (``Namespace.merge(constraint, file_defaults)`` then ``task |= defaults``), which wins over
  ``config.yaml`` ``benchmarks.defaults``; ``_validate_task`` fills max_runtime_seconds, cores, folds,
  max_mem_size_mb, min_vol_size_mb, quantile_levels from ``benchmarks.defaults``; id is
  ``openml.org/t/<tid>`` / ``openml.org/d/<did>`` / the dataset's path / the name.
* ``amlb/benchmark.py``: ``metric`` None -> ``config.benchmarks.metrics[<dataset type>]`` once the data is
  loaded; the first metric is optimised.
* ``amlb/benchmarks/parser.py``: ``__defaults__`` is not a task; names pass through ``str_sanitize``
  (``re.sub(r"[^\\w-]", "_", s)``: ``iris.tgz`` -> ``iris_tgz``).
* ``amlb/frameworks/definitions.py``: ``name:tag`` looks the name up in ``<definition_file stem>_<tag>.yaml``
  (tags from ``config.frameworks.tags``), case-insensitively; ``extends`` copies missing fields from the
  parent chain (closest parent first); unknown parents drop the child; ``abstract`` / ``removed`` refuse;
  later files override earlier ones only with ``allow_duplicates: true``.
* ``amlb/datasets/file.py``: ``enabled: false`` tasks are skipped by the runner (they still parse).
"""

from __future__ import annotations

import copy
import dataclasses
import os
import re
from pathlib import Path
from typing import Any

import yaml

from mlgym.core.errors import TaskError

# ----------------------------------------------------------------------------- config.yaml
# AMLB's config.yaml values mlgym relies on (resources/config.yaml).
AMLB_CONFIG_DEFAULTS: dict[str, Any] = {
    "frameworks": {"definition_file": ["{root}/resources/frameworks.yaml"], "root_module": "frameworks",
                   "allow_duplicates": False, "tags": ["stable", "latest", "2020Q2", "2021Q3", "2023Q2"]},
    "benchmarks": {
        "definition_dir": ["{root}/resources/benchmarks"],
        "constraints_file": ["{root}/resources/constraints.yaml"],
        "metrics": {"binary": ["auc", "logloss", "acc", "balacc"], "multiclass": ["logloss", "acc", "balacc"],
                    "regression": ["rmse", "r2", "mae"],
                    "timeseries": ["mase", "mape", "smape", "wape", "rmse", "mse", "mql", "wql", "sql"]},
        "defaults": {"folds": 10, "max_runtime_seconds": 3600, "cores": -1, "max_mem_size_mb": -1, "min_vol_size_mb": -1,
                     "quantile_levels": [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9]},
    },
    "input_dir": "~/.openml/cache", "seed": "auto",
}
# config.yaml sections that only steer AMLB's own runner (docker, aws, job scheduling...): accepted, reported.
CONFIG_NOT_LOCAL = ("project_repository", "aws", "docker", "singularity", "job_scheduler", "monitoring", "setup",
                    "results", "inference_time_measurements", "archive", "token_separator", "test_mode", "exit_on_error",
                    "versions", "openml", "user_dir", "output_dir", "root_dir", "script", "run_mode", "sid", "job_history")


class AMLBError(TaskError):
    """One line naming the file and the key."""


def read_yaml(path: Path) -> Any:
    try:
        text = path.read_text()
    except OSError as e:
        raise AMLBError(f"{path}: cannot read: {e.strerror}") from None
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]  # AMLB files start with '---'
    except yaml.YAMLError as e:
        raise AMLBError(f"{path}: not valid YAML: {str(e).splitlines()[0]}") from None
    return docs[0] if len(docs) == 1 else (None if not docs else docs)


def _deep_merge(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    out = copy.deepcopy(a)
    for k, v in (b or {}).items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


@dataclasses.dataclass
class Config:
    """AMLB's config: shipped defaults + the user dir's config.yaml, with ``{root}``/``{user}``/``{input}`` resolved."""

    raw: dict[str, Any]
    root: Path  # the folder holding resources/ (AMLB's root_dir)
    user: Path | None
    notes: list[str]  # "config.yaml: aws: AMLB's cloud runner only, not used here"

    def dirs(self) -> dict[str, str]:
        d = {"root": str(self.root), "user": str(self.user or ""), "input": str(Path(os.path.expanduser(
            str(self.raw.get("input_dir") or "~/.openml/cache")))), "output": "", "cache": ""}
        d["input"] = d["input"].format(**{k: v for k, v in d.items() if k != "input"})
        return d

    def fmt(self, s: str) -> str:
        return os.path.expanduser(s.format(**self.dirs()))

    def files(self, section: str, key: str) -> list[Path]:
        v = self.raw[section][key]
        out: list[Path] = []
        for x in ([v] if isinstance(v, str) else v):
            p = Path(self.fmt(x)).resolve()
            if p not in out:  # the user dir may be AMLB's own resources/
                out.append(p)
        return out

    @property
    def metrics(self) -> dict[str, list[str]]:
        return dict(self.raw["benchmarks"]["metrics"])

    @property
    def defaults(self) -> dict[str, Any]:
        return dict(self.raw["benchmarks"]["defaults"])

    @property
    def tags(self) -> list[str]:
        return list(self.raw["frameworks"]["tags"])


def load_config(root: Path, user: Path | None = None) -> Config:
    """``root``: a folder with ``resources/`` (AMLB's checkout, or mlgym's shipped copy); ``user``: AMLB's user dir.

    When the user dir has no config.yaml, AMLB still looks in ``{user}/`` for nothing else: its benchmarks and
    constraints are only read when config.yaml names them.  mlgym adds ``{user}/benchmarks`` and
    ``{user}/constraints.yaml`` / ``{user}/frameworks.yaml`` anyway (what its users expect), after the root's."""
    raw = copy.deepcopy(AMLB_CONFIG_DEFAULTS)
    notes: list[str] = []
    rc = root / "resources" / "config.yaml"
    if rc.is_file():
        got = read_yaml(rc) or {}
        raw = _deep_merge(raw, {k: got[k] for k in ("frameworks", "benchmarks", "input_dir", "seed") if k in got})
    if user is not None and (user / "config.yaml").is_file():
        got = read_yaml(user / "config.yaml") or {}
        if not isinstance(got, dict):
            raise AMLBError(f"{user / 'config.yaml'}: expected a mapping")
        for k in got:
            if k in CONFIG_NOT_LOCAL:
                notes.append(f"{user / 'config.yaml'}: {k}: AMLB runner setting, does not apply to mlgym (ignored)")
        raw = _deep_merge(raw, {k: v for k, v in got.items() if k not in CONFIG_NOT_LOCAL})
    if user is not None:  # mlgym: the user dir's usual files count even when its config.yaml does not name them
        added = False
        for sec, key, val, first in (("benchmarks", "definition_dir", "{user}/benchmarks", True),
                                     ("benchmarks", "constraints_file", "{user}/constraints.yaml", False),
                                     ("frameworks", "definition_file", "{user}/frameworks.yaml", False)):
            cur = raw[sec][key]
            cur = [cur] if isinstance(cur, str) else list(cur)
            if val not in cur:
                cur = [val, *cur] if first else [*cur, val]
                added = True
            raw[sec][key] = cur
        if added:
            raw["frameworks"]["allow_duplicates"] = True
    return Config(raw, root, user, notes)


# ----------------------------------------------------------------------------- constraints.yaml
CONSTRAINT_KEYS_LOCAL = ("folds", "max_runtime_seconds", "cores", "max_mem_size_mb", "min_vol_size_mb")
CONSTRAINT_KEYS_CLOUD = ("ec2_instance_type", "ec2_volume_type")  # AWS only: accepted, reported as not applying
CONSTRAINT_KEYS_TS = ("quantile_levels",)


@dataclasses.dataclass(frozen=True)
class Constraint:
    name: str
    values: tuple[tuple[str, Any], ...]  # as written (folds, max_runtime_seconds, cores, ...)
    source: Path
    not_local: tuple[str, ...] = ()  # keys that only apply on AWS
    error: str | None = None  # one line: why this constraint cannot be used (others still can)

    def get(self, key: str, default: Any = None) -> Any:
        return dict(self.values).get(key, default)


def str_sanitize(s: str) -> str:
    return re.sub(r"[^\w-]", "_", s)


def read_constraints(files: list[Path]) -> dict[str, Constraint]:
    """Every constraints file in order (a later one overrides a name); lookup is case-insensitive as in AMLB."""
    out: dict[str, Constraint] = {}
    for path in files:
        if not path.is_file():
            continue
        raw = read_yaml(path) or {}
        if not isinstance(raw, dict):
            raise AMLBError(f"{path}: expected a mapping of constraint names to settings")
        for name, c in raw.items():
            name = str_sanitize(str(name))
            err = None
            if not isinstance(c, dict):
                err, c = f"{path}: {name}: expected a mapping", {}
            unknown = sorted(set(c) - set(CONSTRAINT_KEYS_LOCAL + CONSTRAINT_KEYS_CLOUD + CONSTRAINT_KEYS_TS))
            if unknown and not err:
                err = (f"{path}: {name}.{unknown[0]}: unknown constraint key; known: "
                       f"{', '.join(CONSTRAINT_KEYS_LOCAL + CONSTRAINT_KEYS_CLOUD + CONSTRAINT_KEYS_TS)}")
            for k in ("folds", "max_runtime_seconds", "cores", "max_mem_size_mb", "min_vol_size_mb"):
                v = c.get(k)
                if v is not None and not err and (isinstance(v, bool) or not isinstance(v, int)):
                    err = f"{path}: {name}.{k}: expected an integer, got {v!r}"
            out[name.lower()] = Constraint(name, tuple(c.items()), path,
                                           tuple(k for k in CONSTRAINT_KEYS_CLOUD if k in c), err)
    return out


# ----------------------------------------------------------------------------- benchmarks/*.yaml
TASK_KEYS = ("name", "enabled", "description", "openml_task_id", "openml_data_id", "openml_dataset_id", "dataset",
             "metric", "folds", "max_runtime_seconds", "cores", "max_mem_size_mb", "min_vol_size_mb", "ec2_instance_type",
             "ec2_volume_type", "quantile_levels", "id", "seed")
DATASET_KEYS = ("path", "train", "test", "target", "type", "features", "name", "id",
                # timeseries (AMLB's TimeSeriesDataset)
                "freq", "forecast_horizon_in_steps", "seasonality", "id_column", "timestamp_column")
TYPES = ("binary", "multiclass", "regression", "classification", "timeseries")


@dataclasses.dataclass(eq=False)  # identity: a TaskSpec holding it stays hashable
class Task:
    """One entry of a benchmark file with AMLB's precedence applied (task > __defaults__ > constraint > config)."""

    benchmark: str
    name: str  # sanitized, as AMLB names it
    source: Path
    id: str
    enabled: bool
    description: str
    openml_task_id: int | None
    openml_data_id: int | None
    dataset: Any  # str / list / dict, as written (resolved by amlb_filedata)
    metric: list[str] | None  # None: from the data's type (config.benchmarks.metrics)
    type: str | None  # when the file says it (dataset.type)
    folds: int
    max_runtime_seconds: int
    cores: int
    max_mem_size_mb: int
    min_vol_size_mb: int
    quantile_levels: list[float] | None
    not_local: dict[str, Any]  # ec2_* keys: AWS only
    unsupported: str | None = None  # one line: why mlgym cannot run it (timeseries...); listed, not run
    error: str | None = None  # one line: the entry is broken (the file's other entries still load)

    def metrics_for(self, dtype: str, config: Config) -> list[str]:
        """AMLB's ``benchmark.py``: the task's metric list, else config.benchmarks.metrics[type]."""
        if self.metric:
            return list(self.metric)
        return list(config.metrics["binary" if dtype == "classification" else dtype])


def benchmark_files(config: Config) -> dict[str, Path]:
    """Benchmark name -> file, the first definition_dir that has it wins (AMLB: ``_find_local_benchmark_definition``)."""
    out: dict[str, Path] = {}
    for d in config.files("benchmarks", "definition_dir"):
        if d.is_dir():
            for p in sorted([*d.glob("*.yaml"), *d.glob("*.yml")]):
                out.setdefault(p.stem, p)
    return out


def read_benchmark(path: Path, config: Config, constraint: Constraint | None = None,
                   name: str | None = None) -> tuple[list[Task], list[str]]:
    """All entries of one benchmark file (disabled ones too, flagged) + one-line problems of the file itself.

    Never raises for one bad entry: that entry carries ``error``; a file that is not a list of mappings
    raises AMLBError (one line), which the caller reports without hiding other files."""
    bench = str_sanitize(name or path.stem)
    raw = read_yaml(path)
    if raw is None:
        return [], [f"{path}: empty benchmark file"]
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        raise AMLBError(f"{path}: expected AMLB's format: a list of tasks, each a mapping with a name")
    defaults: dict[str, Any] = next((e for e in raw if e.get("name") == "__defaults__"), {})
    base: dict[str, Any] = {}
    if constraint is not None:
        base.update({k: v for k, v in constraint.values})
    base.update({k: v for k, v in defaults.items() if k != "name"})  # file __defaults__ override the constraint
    out: list[Task] = []
    problems: list[str] = []
    seen: set[str] = set()
    for i, e in enumerate(raw):
        if e is defaults:
            continue
        merged = {**base, **e}  # task's own keys win
        out.append(_task(bench, path, i, merged, config))
        if out[-1].name in seen and out[-1].enabled:
            out[-1].error = f"{path}: {out[-1].name}: defined twice"
        seen.add(out[-1].name)
    return out, problems


def _task(bench: str, path: Path, i: int, e: dict[str, Any], config: Config) -> Task:
    errs: list[str] = []
    raw_name = e.get("name")
    name = str_sanitize(str(raw_name)) if raw_name not in (None, "") else f"task{i}"
    if raw_name in (None, ""):
        errs.append(f"{path}: task {i}: name missing")
    where = f"{path}: {name}"
    unknown = sorted(set(e) - set(TASK_KEYS))
    if unknown:
        errs.append(f"{where}.{unknown[0]}: unknown task key; known: {', '.join(TASK_KEYS)}")
    d = config.defaults

    def num(k: str) -> int:
        v = e.get(k, d.get(k))
        if v is None:
            v = d.get(k, -1)
        if isinstance(v, bool) or not isinstance(v, int):
            errs.append(f"{where}.{k}: expected an integer, got {v!r}")
            return -1
        return v

    tid = e.get("openml_task_id")
    did = e.get("openml_data_id", e.get("openml_dataset_id"))
    if tid is not None and (isinstance(tid, bool) or not isinstance(tid, int)):
        errs.append(f"{where}.openml_task_id: must be an integer (AMLB: TypeError), got {tid!r}")
    if tid is not None and isinstance(tid, int) and tid < 0:
        tid = None  # AMLB's examples use -1 for 'no task yet' next to openml_data_id
    ds = e.get("dataset")
    dtype = None
    if isinstance(ds, dict):
        unknown = sorted(set(ds) - set(DATASET_KEYS))
        if unknown:
            errs.append(f"{where}.dataset.{unknown[0]}: unknown dataset key; known: {', '.join(DATASET_KEYS)}")
        dtype = ds.get("type")
        if dtype is not None and dtype not in TYPES:
            errs.append(f"{where}.dataset.type: one of {', '.join(TYPES)}, got {dtype!r}")
    elif ds is not None and not isinstance(ds, (str, list)):
        errs.append(f"{where}.dataset: a path/URL, a list [train_0, test_0, ...], or a mapping, got {type(ds).__name__}")
    if tid is None and did is None and ds is None:
        errs.append(f"{where}: give openml_task_id, openml_data_id or dataset")
    metric = e.get("metric")
    metrics = [metric] if isinstance(metric, str) else [m for m in metric if m is not None] if isinstance(metric, list) else None
    if metric is not None and (metrics is None or not all(isinstance(m, str) and m for m in metrics)):
        errs.append(f"{where}.metric: a metric name or a list of them, got {metric!r}")
    tid_ = tid if isinstance(tid, int) else None
    ident = e.get("id") or (f"openml.org/t/{tid_}" if tid_ is not None else f"openml.org/d/{did}" if did is not None else
                            (ds.get("id") if isinstance(ds, dict) else ds if isinstance(ds, str) else None) or name)
    unsupported = None
    if dtype == "timeseries":
        unsupported = f"{where}: AMLB timeseries tasks (forecasting) are not supported yet"
    t = Task(
        benchmark=bench, name=name, source=path, id=str(ident), enabled=e.get("enabled", True) is not False,
        description=str(e.get("description") or "").strip(), openml_task_id=tid_,
        openml_data_id=did if isinstance(did, int) else None, dataset=ds, metric=metrics or None, type=dtype,
        folds=num("folds"), max_runtime_seconds=num("max_runtime_seconds"), cores=num("cores"),
        max_mem_size_mb=num("max_mem_size_mb"), min_vol_size_mb=num("min_vol_size_mb"),
        quantile_levels=e.get("quantile_levels", d.get("quantile_levels")),
        not_local={k: e[k] for k in ("ec2_instance_type", "ec2_volume_type") if k in e},
        unsupported=unsupported, error=errs[0] if errs else None)
    return t


# ----------------------------------------------------------------------------- frameworks*.yaml
FRAMEWORK_KEYS = ("version", "module", "setup_args", "setup_cmd", "setup_script", "setup_env", "params", "project", "image",
                  "description", "refs", "extends", "abstract", "removed", "repo")
DEFAULT_TAG = "_"


@dataclasses.dataclass
class Framework:
    name: str
    tag: str
    version: str
    params: dict[str, Any]
    parents: list[str]  # the extends chain, closest first
    repo: str | None
    description: str
    source: list[Path]


def _tag_file(path: Path, tag: str) -> Path:
    return path if tag == DEFAULT_TAG else path.with_name(f"{path.stem}_{tag}{path.suffix}")


def load_frameworks(config: Config) -> dict[str, dict[str, dict[str, Any]]]:
    """tag -> name -> definition (merged over files, extends resolved), as AMLB's load_framework_definitions."""
    files = config.files("frameworks", "definition_file")
    allow_dup = bool(config.raw["frameworks"].get("allow_duplicates", False))
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for tag in [DEFAULT_TAG, *config.tags]:
        merged: dict[str, dict[str, Any]] = {}
        for f in files:
            tf = _tag_file(f, tag)
            if not tf.is_file():
                continue
            got = read_yaml(tf) or {}
            if not isinstance(got, dict):
                raise AMLBError(f"{tf}: expected a mapping of framework names to definitions")
            for name, d in got.items():
                if name in merged and not allow_dup:
                    raise AMLBError(f"{tf}: {name}: duplicate framework definition (AMLB: allow_duplicates is false)")
                d = dict(d or {})
                d["_source"] = [str(tf)]
                merged[name] = d
        # unknown parents: AMLB drops the child with a warning; self-extension removed
        for name, d in list(merged.items()):
            if d.get("extends") == name:
                d["extends"] = None
        for name, d in list(merged.items()):
            if d.get("extends") and d["extends"] not in merged:
                merged.pop(name)
        for name, d in merged.items():
            parents, cur = [], d
            while cur.get("extends"):
                parents.append(cur["extends"])
                cur = merged[cur["extends"]]
                if len(parents) > 32:
                    raise AMLBError(f"{name}: extends cycle")
            d["_parents"] = parents
        resolved: dict[str, dict[str, Any]] = {}
        for name, d in merged.items():
            r = copy.deepcopy(d)
            for p in d["_parents"]:
                for k, v in merged[p].items():
                    if k not in r:  # AMLB: `framework |= parent`: only missing keys, so params are NOT merged
                        r[k] = copy.deepcopy(v)
            r.setdefault("version", "stable")
            r.setdefault("params", {})
            r["params"] = dict(r["params"] or {})
            resolved[name] = r
        out[tag] = resolved
    return out


def resolve_framework(spec: str, config: Config, defs: dict[str, dict[str, dict[str, Any]]] | None = None) -> Framework:
    """``AutoGluon``, ``AutoGluon:stable``, ``AutoGluon_dev:example``, ``flaml:latest``... (case-insensitive)."""
    defs = defs or load_frameworks(config)
    name, _, tag = spec.partition(":")
    tag = tag or DEFAULT_TAG
    if tag not in defs:
        raise AMLBError(f"framework {spec!r}: unknown tag {tag!r}; tags: {', '.join(config.tags)}")
    table = defs[tag]
    hit = next((n for n in table if n.lower() == name.lower()), None)
    base = next((n for n in defs[DEFAULT_TAG] if n.lower() == name.lower()), None)
    if hit is None and base is not None and defs[DEFAULT_TAG][base].get("removed"):
        raise AMLBError(f"framework {spec!r} was removed from AMLB: {defs[DEFAULT_TAG][base]['removed']}")
    if hit is None:
        files = ", ".join(str(_tag_file(f, tag)) for f in config.files("frameworks", "definition_file"))
        raise AMLBError(f"framework {spec!r}: not defined in {files}")
    d = table[hit]
    if d.get("removed"):
        raise AMLBError(f"framework {spec!r} was removed from AMLB: {d['removed']}")
    if d.get("abstract"):
        raise AMLBError(f"framework {spec!r} is abstract in AMLB and cannot be run directly")
    return Framework(hit, tag, str(d.get("version")), d["params"], d["_parents"], d.get("repo"),
                     str(d.get("description") or "").strip(), [Path(p) for p in d["_source"]])


# What each AMLB framework is in mlgym: (mlgym agent, its --framework value). The base name is the last of the
# extends chain, so AutoGluon_bestquality / AutoGluon_dev -> AutoGluon with their params.
MLGYM_FRAMEWORKS = {"autogluon": ("automl", "autogluon"), "flaml": ("automl", "flaml"),
                    "constantpredictor": ("automl", "constantpredictor"), "randomforest": ("automl", "randomforest"),
                    "tunedrandomforest": ("automl", "tunedrandomforest"), "decisiontree": ("automl", "decisiontree")}


def mlgym_framework(fw: Framework) -> tuple[str, str, dict[str, Any]]:
    """(agent, --framework, params) for an AMLB framework; AMLBError (one line) for ones mlgym cannot run."""
    root = (fw.parents[-1] if fw.parents else fw.name).lower()
    if root not in MLGYM_FRAMEWORKS:
        raise AMLBError(f"framework {fw.name} ({root}): not available in mlgym; available: "
                        f"{', '.join(sorted(MLGYM_FRAMEWORKS))} and their AMLB variants")
    agent, flag = MLGYM_FRAMEWORKS[root]
    return agent, flag, dict(fw.params)
