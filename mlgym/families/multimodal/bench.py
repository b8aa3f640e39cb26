"""AutoGluon-Bench's multimodal config files in ``mlgym bench``, and its multimodal ``results.csv``.

A local multimodal config (``agbench run config.yaml``) is read as it is::

    module: multimodal
    mode: local
    benchmark_name: ag_bench
    root_dir: ag_bench_runs               # runs in {root_dir}/multimodal/{benchmark_name}_{timestamp} (or --out)
    constraint: test                      # a preset (time_limit -> the episode's --max-time)
    framework: AutoGluon_branch           # a multimodal_frameworks.yaml entry (custom_resource_dir's, else AutoGluon-Bench's
                                          # AutoGluon_stable): the automl agent's AutoGluon MultiModalPredictor with its params
                                          # (predictor_args: presets...; fit_args: time_limit, hyperparameters...); or an mlgym agent
    dataset_name: [shopee, melbourne_airbnb]
    custom_dataloader: {dataloader_file, class_name, dataset_config_file, ...}
    custom_metrics: {metrics_path, function_name, optimum, greater_is_better}
    custom_resource_dir: resources/       # its multimodal_constraints.yaml and multimodal_frameworks.yaml
    time_limit: 600                       # fit's time_limit (AutoGluon-Bench: the constraint's TIME_LIMIT by default)

A framework's ``repo``/``version`` name the AutoGluon AutoGluon-Bench would install; here the task
environment's AutoGluon runs (said in one line).  Registered datasets that are not tables
(clipart and tiny_motorbike: object detection; flickr30k; mit_movies) are named in one line at
``--dry-run`` and refused in one line when run.

Registered names become the bundled ``multimodal-<name>`` tasks; with a custom loader each
dataset becomes a task YAML written to ``{root_dir}/multimodal/{benchmark_name}_tasks/``
(named ``agbench-<dataset>``), a folder added to ``MLGYM_BENCHMARKS`` here and in every run.
Paths in ``custom_*`` are relative to the config file's folder, else to the current one
(AutoGluon-Bench's WORKDIR).  After the grid, :func:`write_results` writes the multimodal
``results.csv``: id, task, framework, constraint, version, fold, type, metric, result, utc,
training_duration, predict_duration, then one column per score the grader reported.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

import yaml

from mlgym.core.errors import MLGymError

from mlgym.families.base import BenchContext, GridRun

Run = GridRun  # a grid's run (mlgym.runs.bench.Run), as this module reads it

__all__ = ["CONSTRAINTS", "KEYS", "RESULT_COLUMNS", "from_agbench", "is_multimodal", "write_results"]

KEYS = ("module", "mode", "benchmark_name", "root_dir", "constraint", "framework", "dataset_name",
        "custom_dataloader", "custom_metrics", "custom_resource_dir", "time_limit")
CLOUD_ONLY = ("cdk_context", "METRICS_BUCKET", "DATA_BUCKET", "MAX_MACHINE_NUM", "INSTANCE")
# AutoGluon-Bench's built-in presets (src/autogluon/bench/resources/multimodal_constraints.yaml)
CONSTRAINTS: dict[str, dict[str, Any]] = {"test": {"time_limit": 1800, "instance": "g4dn.2xlarge"},
                                          "10m4x": {"time_limit": 600, "instance": "g4dn.4xlarge"}}
RESULT_COLUMNS = ("id", "task", "framework", "constraint", "version", "fold", "type", "metric", "result", "utc",
                  "training_duration", "predict_duration")
PREFIX = "agbench-"
FRAMEWORK_VAR, CONSTRAINT_VAR = "MLGYM_AGBENCH_FRAMEWORK", "MLGYM_AGBENCH_CONSTRAINT"
FRAMEWORK_AGENTS = {"constantpredictor": "baseline"}
# AutoGluon-Bench's package resources/multimodal_frameworks.yaml (used without custom_resource_dir)
FRAMEWORKS: dict[str, dict[str, Any]] = {"AutoGluon_stable": {
    "repo": "https://github.com/autogluon/autogluon.git", "version": "stable",
    "params": {"predictor_args": {"presets": "best_quality"}, "fit_args": {"hyperparameters": {"optimization.max_epochs": 10}}}}}
FRAMEWORK_KEYS = ("repo", "version", "params", "description")
# What the framework's params may set: MultiModalPredictor's and its fit()'s arguments that are the framework's to choose;
# the ones the task decides (label, problem_type, eval_metric, data, column types, paths) are mlgym's.
PREDICTOR_ARGS = ("presets", "hyperparameters", "verbosity", "warn_if_exist", "enable_progress_bar", "pretrained",
                  "validation_metric", "use_ensemble", "ensemble_size", "ensemble_mode", "num_classes", "classes")
FIT_ARGS = ("presets", "time_limit", "hyperparameters", "holdout_frac", "max_num_tuning_data", "seed",
            "hyperparameter_tune_kwargs", "clean_ckpts", "standalone")
TASK_ARGS = ("label", "problem_type", "eval_metric", "path", "query", "response", "match_label", "sample_data_path",
             "train_data", "tuning_data", "column_types", "save_path", "id_mappings", "teacher_predictor")


def is_multimodal(raw: dict[str, Any]) -> bool:
    return raw.get("module") == "multimodal"


def _err(path: Path, key: str, msg: str) -> MLGymError:
    return MLGymError(f"{path}: {key}: {msg}")


def _local(path: Path, rel: str) -> Path:
    p = Path(rel).expanduser()
    if p.is_absolute():
        return p
    beside = (path.parent / p).resolve()
    return beside if beside.exists() else (Path.cwd() / p).resolve()


def _frameworks(path: Path, raw: dict[str, Any]) -> tuple[dict[str, Any], str]:
    """custom_resource_dir's multimodal_frameworks.yaml (AutoGluon-Bench reads it instead of its own), else its own."""
    if raw.get("custom_resource_dir") is not None:
        f = _local(path, str(raw["custom_resource_dir"])) / "multimodal_frameworks.yaml"
        if f.is_file():
            try:
                got = yaml.safe_load(f.read_text()) or {}
            except yaml.YAMLError as e:
                raise _err(path, "custom_resource_dir", f"{f} is not valid YAML: {str(e).splitlines()[0]}") from None
            if not isinstance(got, dict):
                raise _err(path, "custom_resource_dir", f"{f}: expected a mapping of framework names")
            return got, str(f)
    return FRAMEWORKS, "AutoGluon-Bench's resources/multimodal_frameworks.yaml"


def _ag_params(path: Path, name: str, fw: Any, where: str, time_limit: float | None) -> dict[str, Any]:
    """A multimodal_frameworks.yaml entry -> the automl agent's --framework-params ({predictor_args, fit_args, seed}),
    read as AutoGluon-Bench's frameworks/multimodal/exec.py reads it; a key it cannot honour: one line."""
    if not isinstance(fw, dict):
        raise _err(path, "framework", f"{name} in {where}: expected a mapping (repo, version, params)")
    bad = sorted(set(fw) - set(FRAMEWORK_KEYS))
    if bad:
        raise _err(path, "framework", f"{name}.{bad[0]} in {where}: unknown key; known: {', '.join(FRAMEWORK_KEYS)}")
    params = dict(fw.get("params") or {})
    if not isinstance(params, dict):
        raise _err(path, "framework", f"{name}.params in {where}: expected a mapping")
    predictor = dict(params.pop("predictor_args", None) or {})
    if "presets" in params:  # AutoGluon-Bench: backward compatible with <= v0.4.4
        predictor.setdefault("presets", params.pop("presets"))
    seed = params.pop("seed", None)
    fit = {**dict(params.pop("fit_args", None) or {}), **params}  # the rest: fit's (AutoGluon-Bench's legacy form)
    for part, got, allowed in (("predictor_args", predictor, PREDICTOR_ARGS), ("fit_args", fit, FIT_ARGS)):
        for key in got:
            if key in TASK_ARGS:
                raise _err(path, "framework", f"{name}.params.{part}.{key} in {where}: mlgym sets {key} from the task; leave it out")
            if key not in allowed:
                raise _err(path, "framework", f"{name}.params.{part}.{key} in {where}: not an argument mlgym passes to "
                                              f"MultiModalPredictor{'' if part == 'predictor_args' else '.fit'}; it passes: {', '.join(allowed)}")
    if time_limit is not None:  # AutoGluon-Bench: the run's time_limit (the constraint's TIME_LIMIT) overrides fit_args'
        fit["time_limit"] = int(time_limit)
    out: dict[str, Any] = {"predictor_args": predictor, "fit_args": fit}
    if seed is not None:
        out["seed"] = seed
    return out


def _constraint(path: Path, raw: dict[str, Any]) -> tuple[str, float | None]:
    name = raw.get("constraint") or "test"
    if not isinstance(name, str):
        raise _err(path, "constraint", "give one constraint name")
    presets = dict(CONSTRAINTS)
    if raw.get("custom_resource_dir") is not None:
        d = _local(path, str(raw["custom_resource_dir"]))
        f = d / "multimodal_constraints.yaml"
        if f.is_file():
            try:
                presets.update(yaml.safe_load(f.read_text()) or {})
            except yaml.YAMLError as e:
                raise _err(path, "custom_resource_dir", f"{f} is not valid YAML: {str(e).splitlines()[0]}") from None
        elif not d.is_dir():
            raise _err(path, "custom_resource_dir", f"{d} is not a folder")
    if name not in presets or not isinstance(presets[name], dict):
        raise _err(path, "constraint", f"unknown constraint {name!r}; known: {', '.join(presets)}")
    limit = {str(k).lower(): v for k, v in presets[name].items()}.get("time_limit")
    return name, None if limit is None else float(limit)


def from_agbench(path: Path, raw: dict[str, Any]) -> tuple[dict[str, Any], Path, dict[str, str]]:
    """A multimodal config -> (grid mapping, default output folder, environment of the runs).

    Sets ``MLGYM_BENCHMARKS`` in this process too when it writes task YAMLs (custom loaders)."""
    from mlgym.agents import AGENTS
    from mlgym.families.multimodal.data import REGISTRY, UNSUPPORTED

    cloud = [k for k in CLOUD_ONLY if k in raw] + (["mode"] if raw.get("mode", "local") != "local" else [])
    if cloud:
        raise _err(path, cloud[0], "AutoGluon-Bench's cloud mode (AWS Batch, S3) is not supported; use mode: local "
                                   "(mlgym bench runs locally or on a Ray cluster with --ray)")
    unknown = sorted(set(raw) - set(KEYS))
    if unknown:
        raise _err(path, unknown[0], f"unknown AutoGluon-Bench multimodal field; known: {', '.join(KEYS)}")
    name = raw.get("benchmark_name")
    if not isinstance(name, str) or not name:
        raise _err(path, "benchmark_name", "required: the benchmark run's name")
    framework = raw.get("framework")
    if not isinstance(framework, str) or not framework:
        raise _err(path, "framework", "required: a multimodal_frameworks.yaml entry (e.g. AutoGluon_stable) or an mlgym agent")
    constraint, limit = _constraint(path, raw)
    fit_limit = raw.get("time_limit", limit)
    if fit_limit is not None and (isinstance(fit_limit, bool) or not isinstance(fit_limit, (int, float)) or fit_limit <= 0):
        raise _err(path, "time_limit", f"seconds (a positive number), got {fit_limit!r}")
    frameworks, where = _frameworks(path, raw)
    agent_args: list[str] = []
    if framework in frameworks:  # AutoGluon's MultiModalPredictor, as AutoGluon-Bench runs it
        params = _ag_params(path, framework, frameworks[framework], where, fit_limit)
        agent, agent_args = "automl", ["--framework", "autogluon", "--framework-params", json.dumps(params)]
        fw = frameworks[framework]
        print(f"{path}: framework {framework} ({fw.get('repo', '')} {fw.get('version', '')}): AutoGluon's MultiModalPredictor "
              f"as installed in the task environment, not that checkout", file=sys.stderr)
    else:
        agent = FRAMEWORK_AGENTS.get(framework.lower(), framework)
        if agent not in AGENTS and ":" not in agent:
            raise _err(path, "framework", f"{framework!r} is neither in {where} ({', '.join(map(str, frameworks))}) nor an mlgym "
                                          f"agent ({', '.join(AGENTS)}, or module:Class)")
    datasets = raw.get("dataset_name")
    datasets = [datasets] if isinstance(datasets, str) else datasets
    if not isinstance(datasets, list) or not datasets or not all(isinstance(d, str) and d for d in datasets):
        raise _err(path, "dataset_name", "required: a dataset name or a list of them")
    root = Path(raw.get("root_dir") or "ag_bench_runs")
    env: dict[str, str] = {}
    tasks: list[str] = []
    if raw.get("custom_dataloader") is not None:
        tasks, folder = _write_tasks(path, raw, name, datasets, root)
        _add_root(folder, env)
    else:
        if raw.get("custom_metrics") is not None:
            raise _err(path, "custom_metrics", "with registered datasets, give the metric in a task YAML; here it needs custom_dataloader")
        unknown_names = [d for d in datasets if d not in REGISTRY and d not in UNSUPPORTED]
        if unknown_names:
            raise _err(path, "dataset_name", f"{unknown_names[0]!r} is not one of AutoGluon-Bench's registered datasets "
                                             f"({', '.join([*REGISTRY, *UNSUPPORTED])}); give custom_dataloader for your own")
        others = [d for d in datasets if d in UNSUPPORTED]
        for d in others:  # known, not runnable: its run stops at prepare with this line
            print(f"{path}: dataset_name: AutoGluon-Bench's {d} is {UNSUPPORTED[d]}: mlgym makes binary, multiclass and "
                  f"regression tasks, so its run will stop saying so", file=sys.stderr)
        if others:
            _add_root(_write_tasks(path, {"custom_dataloader": None}, name, others, root, registered=True)[1], env)
        for d in datasets:
            tasks.append(PREFIX + d.replace("_", "-") if d in others else "multimodal-" + d.replace("_", "-"))
    args = ["--max-time", str(limit)] if limit is not None else []
    env.update({FRAMEWORK_VAR: framework, CONSTRAINT_VAR: constraint})  # for results.csv (harmless in the runs)
    grid = {"name": name, "tasks": tasks, "agents": [{"name": agent, "args": agent_args}], "args": args}
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return grid, root / "multimodal" / f"{name}_{stamp}", env


def _add_root(folder: Path, env: dict[str, str]) -> None:
    """``folder`` first in ``MLGYM_BENCHMARKS``, here and in every run."""
    roots = [str(folder), *(p for p in os.environ.get("MLGYM_BENCHMARKS", "").split(os.pathsep) if p)]
    env["MLGYM_BENCHMARKS"] = os.environ["MLGYM_BENCHMARKS"] = os.pathsep.join(dict.fromkeys(roots))


def _write_tasks(path: Path, raw: dict[str, Any], name: str, datasets: list[str], root: Path, *,
                 registered: bool = False) -> tuple[list[str], Path]:
    """Task YAMLs for a custom loader's datasets (or, ``registered``, for registered names that have no bundled task)."""
    loader = raw["custom_dataloader"]
    if registered:
        loader = {}
    elif not isinstance(loader, dict):
        raise _err(path, "custom_dataloader", "give {dataloader_file, class_name, dataset_config_file}")
    fixed = {}
    for key, value in loader.items():
        if key in ("dataloader_file", "dataloader_path", "dataset_config_file", "dataset_config_path") and isinstance(value, str):
            p = _local(path, value)
            if not p.is_file():
                raise _err(path, f"custom_dataloader.{key}", f"{p} does not exist")
            value = str(p)
        fixed[key] = value
    metrics = raw.get("custom_metrics")
    if metrics is not None:
        if not isinstance(metrics, dict) or not isinstance(metrics.get("metrics_path"), str):
            raise _err(path, "custom_metrics", "give {metrics_path, function_name, optimum, greater_is_better}")
        metrics = {**metrics, "metrics_path": str(_local(path, metrics["metrics_path"]))}
    folder = (root / "multimodal" / f"{name}_tasks").resolve()
    folder.mkdir(parents=True, exist_ok=True)
    tasks = []
    for d in datasets:
        task = PREFIX + d.replace("_", "-")
        entry: dict[str, Any] = {"kind": "multimodal", "name": task, "dataset_name": d}
        if not registered:
            entry["custom_dataloader"] = fixed
        if metrics is not None:
            entry["custom_metrics"] = metrics
        text = f"# written by mlgym bench from {path.resolve()}\n" + yaml.safe_dump(entry, sort_keys=False)
        target = folder / f"{task}.yaml"
        if not target.is_file() or target.read_text() != text:
            target.write_text(text)
        tasks.append(task)
    return tasks, folder


def write_results(runs: Sequence[Run], out: Path, *, env: dict[str, str], name: str = "results.csv") -> Path | None:
    """The multimodal results.csv for the grid's multimodal runs (None when it has none);
    framework and constraint as the config named them (``env``: the grid's run environment)."""
    from mlgym.core.version import __version__
    from mlgym.families.multimodal.family import Options
    from mlgym.tasks.spec import TaskSpec

    rows: list[dict[str, Any]] = []
    score_cols: dict[str, None] = {}
    for run in runs:
        try:
            spec = TaskSpec.load(run.task)
        except MLGymError:
            continue
        if not isinstance(spec.options, Options):
            continue
        try:
            r: dict[str, Any] = json.loads((run.log_dir / "result.json").read_text())
            utc = dt.datetime.fromtimestamp((run.log_dir / "result.json").stat().st_mtime, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        except (OSError, ValueError):
            r, utc = {}, ""
        metrics = r.get("metrics") or {}
        score_cols.update(dict.fromkeys(metrics))
        rows.append({"id": spec.name, "task": spec.options.dataset_name, "framework": env.get(FRAMEWORK_VAR) or run.agent,
                     "constraint": env.get(CONSTRAINT_VAR, ""),
                     "version": __version__, "fold": run.seed, "type": spec.options.problem_type, "metric": spec.metric,
                     "result": r.get("score", ""), "utc": utc, "training_duration": r.get("wall_time", ""), "predict_duration": "",
                     **metrics})
    if not rows:
        return None
    path = out / name
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=[*RESULT_COLUMNS, *score_cols], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


class _Adapter:
    """AutoGluon-Bench multimodal configs in ``mlgym bench`` (:class:`mlgym.families.base.BenchAdapter`)."""

    grid_key = None
    grid_hint = ""
    results_label = "multimodal results"
    results_name_fixed = False

    def claims(self, raw: dict[str, Any]) -> bool:
        return is_multimodal(raw)

    def from_config(self, path: Path, raw: dict[str, Any]) -> tuple[dict[str, Any], Path, dict[str, str]]:
        return from_agbench(path, raw)

    def grid_tasks(self, path: Path, spec: Any) -> list[str]:
        return []

    def ray_resources(self, task: str) -> dict[str, float] | None:
        return None

    def write_results(self, runs: Sequence[GridRun], out: Path, ctx: BenchContext) -> Path | None:
        name = "multimodal_results.csv" if any(p.name == "results.csv" for p in ctx.written) else "results.csv"
        return write_results(runs, out, env=ctx.env, name=name)


ADAPTER = _Adapter()
