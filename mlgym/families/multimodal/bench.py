"""AutoGluon-Bench's multimodal config files in ``mlgym bench``, and its multimodal ``results.csv``.

A local multimodal config (``agbench run config.yaml``) is read as it is::

    module: multimodal
    mode: local
    benchmark_name: ag_bench
    root_dir: ag_bench_runs               # runs in {root_dir}/multimodal/{benchmark_name}_{timestamp} (or --out)
    constraint: test                      # a preset (time_limit -> the episode's --max-time)
    framework: baseline                   # an mlgym agent (AutoGluon's MultiModalPredictor is not one)
    dataset_name: [shopee, melbourne_airbnb]
    custom_dataloader: {dataloader_file, class_name, dataset_config_file, ...}
    custom_metrics: {metrics_path, function_name, optimum, greater_is_better}
    custom_resource_dir: resources/       # its multimodal_constraints.yaml
    # git_uri#branch, presets, hyperparameters, time_limit: AutoGluon's own fit settings, accepted, not used

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
from pathlib import Path
from typing import Any, Sequence

import yaml

from mlgym.core.errors import MLGymError

from mlgym.families.base import BenchContext, GridRun

Run = GridRun  # a grid's run (mlgym.runs.bench.Run), as this module reads it

__all__ = ["CONSTRAINTS", "KEYS", "RESULT_COLUMNS", "from_agbench", "is_multimodal", "write_results"]

KEYS = ("module", "mode", "benchmark_name", "root_dir", "git_uri#branch", "constraint", "framework", "dataset_name",
        "custom_dataloader", "custom_metrics", "custom_resource_dir", "presets", "hyperparameters", "time_limit")
CLOUD_ONLY = ("cdk_context", "METRICS_BUCKET", "DATA_BUCKET", "MAX_MACHINE_NUM", "INSTANCE")
# AutoGluon-Bench's built-in presets (src/autogluon/bench/resources/multimodal_constraints.yaml)
CONSTRAINTS: dict[str, dict[str, Any]] = {"test": {"time_limit": 1800, "instance": "g4dn.2xlarge"},
                                          "10m4x": {"time_limit": 600, "instance": "g4dn.4xlarge"}}
RESULT_COLUMNS = ("id", "task", "framework", "constraint", "version", "fold", "type", "metric", "result", "utc",
                  "training_duration", "predict_duration")
PREFIX = "agbench-"
FRAMEWORK_VAR, CONSTRAINT_VAR = "MLGYM_AGBENCH_FRAMEWORK", "MLGYM_AGBENCH_CONSTRAINT"
FRAMEWORK_AGENTS = {"constantpredictor": "baseline"}


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
        raise _err(path, "framework", f"required: an mlgym agent ({', '.join(AGENTS)})")
    agent = FRAMEWORK_AGENTS.get(framework.lower(), framework)
    if agent not in AGENTS and ":" not in agent:
        raise _err(path, "framework", f"{framework!r} is not an mlgym agent (AutoGluon's MultiModalPredictor is not one here); "
                                      f"give one of {', '.join(AGENTS)} or module:Class")
    datasets = raw.get("dataset_name")
    datasets = [datasets] if isinstance(datasets, str) else datasets
    if not isinstance(datasets, list) or not datasets or not all(isinstance(d, str) and d for d in datasets):
        raise _err(path, "dataset_name", "required: a dataset name or a list of them")
    constraint, limit = _constraint(path, raw)
    root = Path(raw.get("root_dir") or "ag_bench_runs")
    env: dict[str, str] = {}
    tasks: list[str] = []
    if raw.get("custom_dataloader") is not None:
        tasks, folder = _write_tasks(path, raw, name, datasets, root)
        roots = [str(folder), *(p for p in os.environ.get("MLGYM_BENCHMARKS", "").split(os.pathsep) if p)]
        env["MLGYM_BENCHMARKS"] = os.pathsep.join(dict.fromkeys(roots))
        os.environ["MLGYM_BENCHMARKS"] = env["MLGYM_BENCHMARKS"]
    else:
        if raw.get("custom_metrics") is not None:
            raise _err(path, "custom_metrics", "with registered datasets, give the metric in a task YAML; here it needs custom_dataloader")
        for d in datasets:
            if d in UNSUPPORTED:
                raise _err(path, "dataset_name", f"{d} is {UNSUPPORTED[d]}, not a binary, multiclass or regression table")
            if d not in REGISTRY:
                raise _err(path, "dataset_name", f"{d!r} is not registered ({', '.join(REGISTRY)}); give custom_dataloader for your own")
            tasks.append("multimodal-" + d.replace("_", "-"))
    args = ["--max-time", str(limit)] if limit is not None else []
    env.update({FRAMEWORK_VAR: framework, CONSTRAINT_VAR: constraint})  # for results.csv (harmless in the runs)
    grid = {"name": name, "tasks": tasks, "agents": [{"name": agent, "args": []}], "args": args}
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return grid, root / "multimodal" / f"{name}_{stamp}", env


def _write_tasks(path: Path, raw: dict[str, Any], name: str, datasets: list[str], root: Path) -> tuple[list[str], Path]:
    loader = raw["custom_dataloader"]
    if not isinstance(loader, dict):
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
        entry: dict[str, Any] = {"kind": "multimodal", "name": task, "dataset_name": d, "custom_dataloader": fixed}
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
