"""AMLB and AutoGluon-Bench in ``mlgym bench``: grid entries, config files, Ray resources, ``results.csv``.

A grid may name AMLB tasks by benchmark instead of one by one::

    amlb: {benchmark: test, constraint: test, folds: [0, 1]}   # + tasks: [kc2, iris] to subset
    agents: [baseline, {name: automl, args: [--framework, flaml]}]

(a list of such mappings is fine too).  AutoGluon-Bench's local tabular config files
(``agbench run config.yaml``) are read as they are: ``module: tabular``, ``mode: local``,
``benchmark_name``, ``root_dir``, ``framework``, ``amlb_benchmark``, ``amlb_task``,
``amlb_constraint``, ``fold_to_run``, ``amlb_user_dir``; runs land in
``{root_dir}/{module}/{benchmark_name}_{timestamp}`` unless ``--out`` says where (to resume).
After a grid, AMLB's ``results.csv`` (one row per run, the agent in ``framework``) is written
beside the eval table.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import os
from pathlib import Path
from typing import Any, Sequence

from mlgym.core.errors import MLGymError

from mlgym.families.amlb.family import PREFIX
from mlgym.families.base import BenchContext, GridRun

Run = GridRun  # a grid's run (mlgym.runs.bench.Run), as this module reads it

__all__ = ["AGBENCH_KEYS", "RESULT_COLUMNS", "from_agbench", "grid_tasks", "is_agbench", "ray_resources", "write_results"]

AMLB_KEYS = ("benchmark", "constraint", "folds", "tasks")
AGBENCH_KEYS = ("module", "mode", "benchmark_name", "root_dir", "git_uri#branch", "framework", "amlb_benchmark", "amlb_task",
                "amlb_constraint", "fold_to_run", "amlb_user_dir")
CLOUD_ONLY = ("cdk_context", "module_configs", "METRICS_BUCKET", "DATA_BUCKET", "MAX_MACHINE_NUM", "INSTANCE")
RESULT_COLUMNS = ("id", "task", "framework", "constraint", "fold", "result", "metric", "mode", "version", "params", "tag", "utc",
                  "duration", "models", "seed", "info")


def _err(path: Path, key: str, msg: str) -> MLGymError:
    return MLGymError(f"{path}: {key}: {msg}")


def grid_tasks(path: Path, spec: Any) -> list[str]:
    """The task ids of a grid's ``amlb:`` entry (a mapping, or a list of them)."""
    from mlgym.families.amlb import family as amlb
    from mlgym.core.errors import TaskError

    specs = spec if isinstance(spec, list) else [spec]
    out: list[str] = []
    for s in specs:
        if not isinstance(s, dict) or "benchmark" not in s:
            raise _err(path, "amlb", "give {benchmark: NAME, constraint: NAME, folds: [0, 1], tasks: [names]} (constraint, folds, tasks optional)")
        unknown = sorted(set(s) - set(AMLB_KEYS))
        if unknown:
            raise _err(path, f"amlb.{unknown[0]}", f"unknown field; known: {', '.join(AMLB_KEYS)}")
        bench, cons = s["benchmark"], s.get("constraint", amlb.DEFAULT_CONSTRAINT)
        folds, names = s.get("folds"), s.get("tasks")
        if isinstance(folds, int) and not isinstance(folds, bool):
            folds = list(range(folds))
        if folds is not None and not (isinstance(folds, list) and all(isinstance(f, int) and not isinstance(f, bool) for f in folds)):
            raise _err(path, "amlb.folds", f"give a list of fold numbers or a count, got {folds!r}")
        if names is not None and not (isinstance(names, list) and all(isinstance(n, str) for n in names)):
            raise _err(path, "amlb.tasks", f"give a list of dataset names, got {names!r}")
        try:
            ids = amlb.ids(str(bench), str(cons))
            datasets = {e.name for e in amlb.entries(str(bench))}
        except TaskError as e:
            raise _err(path, "amlb", str(e)) from None
        missing = sorted(set(names or ()) - datasets)
        if missing:
            raise _err(path, "amlb.tasks", f"benchmark {bench!r} has no dataset {missing[0]!r}; it has: {', '.join(sorted(datasets))}")
        for tid in ids:
            _, _, name, fold = tid.split("@")[0].split("/")
            if (names is None or name in names) and (folds is None or int(fold) in folds):
                out.append(tid)
        for f in folds or ():
            if not any(t.split("@")[0].endswith(f"/{f}") for t in ids):
                raise _err(path, "amlb.folds", f"fold {f} is not in constraint {cons!r} (folds 0..{max(int(t.split('@')[0].rsplit('/', 1)[1]) for t in ids)})")
    return out


# ------------------------------------------------------------------ AutoGluon-Bench configs
def is_agbench(raw: dict[str, Any]) -> bool:
    return "module" in raw or "cdk_context" in raw or "module_configs" in raw


def from_agbench(path: Path, raw: dict[str, Any]) -> tuple[dict[str, Any], Path, dict[str, str]]:
    """An AutoGluon-Bench config -> (grid mapping, default output folder, environment of the runs)."""
    cloud = [k for k in CLOUD_ONLY if k in raw] + (["mode: aws"] if raw.get("mode") == "aws" else [])
    if cloud:
        raise _err(path, cloud[0].split(":")[0], "AutoGluon-Bench's cloud mode (AWS Batch, S3) is not supported; "
                                                 "use mode: local (mlgym bench runs locally or on a Ray cluster with --ray)")
    unknown = sorted(set(raw) - set(AGBENCH_KEYS))
    if unknown:
        raise _err(path, unknown[0], f"unknown AutoGluon-Bench field; known: {', '.join(AGBENCH_KEYS)}")
    if raw.get("module") != "tabular":
        raise _err(path, "module", f"only module: tabular (AMLB tasks) and multimodal are supported, got {raw.get('module')!r}")
    if raw.get("mode", "local") != "local":
        raise _err(path, "mode", f"only mode: local is supported, got {raw.get('mode')!r}")
    name = raw.get("benchmark_name")
    if not isinstance(name, str) or not name:
        raise _err(path, "benchmark_name", "required: the benchmark run's name")
    framework = raw.get("framework")
    if not isinstance(framework, str) or not framework:
        raise _err(path, "framework", "required, e.g. AutoGluon:stable, flaml, constantpredictor, or an mlgym agent name")
    env: dict[str, str] = {}
    user = raw.get("amlb_user_dir")
    if user is not None:
        if not isinstance(user, str) or user.startswith("s3://"):
            raise _err(path, "amlb_user_dir", f"give a local folder (s3:// is AutoGluon-Bench's cloud mode), got {user!r}")
        u = Path(user).expanduser()
        u = u if u.is_absolute() else (Path.cwd() / u).resolve()  # AutoGluon-Bench: relative to the working directory
        if not u.is_dir():
            raise _err(path, "amlb_user_dir", f"{u} is not a folder (relative paths are read from the working directory, "
                                              f"{Path.cwd()}, as AutoGluon-Bench does: run from its checkout root)")
        env["MLGYM_AMLB_USER_DIR"] = str(u)
    agent, args = _framework(path, framework, env)
    benches = raw.get("amlb_benchmark") or "test"
    benches = [benches] if isinstance(benches, str) else benches
    if not isinstance(benches, list) or not all(isinstance(b, str) for b in benches):
        raise _err(path, "amlb_benchmark", "give a benchmark name or a list of them")
    cons = raw.get("amlb_constraint") or "test"
    if isinstance(cons, list) and len(cons) == 1:
        cons = cons[0]
    if not isinstance(cons, str):
        raise _err(path, "amlb_constraint", "give one constraint name")
    tasks, folds = raw.get("amlb_task"), raw.get("fold_to_run")
    if isinstance(tasks, str):  # AutoGluon-Bench's local mode: one dataset name (amlb's -t)
        tasks = [tasks]
    if isinstance(folds, list) and all(isinstance(f, int) and not isinstance(f, bool) for f in folds):
        folds = {b: {n: folds for n in (tasks or [])} for b in benches} if tasks else None if not folds else folds
    specs: list[dict[str, Any]] = []
    for b in benches:
        names = tasks.get(b) if isinstance(tasks, dict) else tasks if isinstance(tasks, list) and len(benches) == 1 else None
        if tasks is not None and not isinstance(tasks, (dict, list)):
            raise _err(path, "amlb_task", "give {benchmark: [dataset names]}")
        per = folds.get(b) if isinstance(folds, dict) else None
        if folds is not None and (isinstance(folds, bool) or not isinstance(folds, (dict, int, list))):
            raise _err(path, "fold_to_run", "give a fold number, a list of them, or {benchmark: {dataset: [folds]}}")
        if isinstance(per, dict):  # {dataset: [folds]}: one entry per dataset
            for ds, fl in per.items():
                if names is not None and ds not in names:
                    continue
                specs.append({"benchmark": b, "constraint": cons, "tasks": [ds], "folds": fl if isinstance(fl, list) else [fl]})
            rest = [n for n in (names or []) if n not in per]
            if rest:
                specs.append({"benchmark": b, "constraint": cons, "tasks": rest})
        else:
            spec: dict[str, Any] = {"benchmark": b, "constraint": cons}
            if names is not None:
                spec["tasks"] = list(names)
            if isinstance(folds, int):
                spec["folds"] = [folds]
            elif isinstance(folds, list):
                spec["folds"] = list(folds)
            specs.append(spec)
    grid = {"name": name, "amlb": specs, "agents": [{"name": agent, "args": list(args)}]}
    root = Path(raw.get("root_dir") or "ag_bench_runs")
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    return grid, root / "tabular" / f"{name}_{stamp}", env


def _framework(path: Path, name: str, env: dict[str, str]) -> tuple[str, tuple[str, ...]]:
    """An AMLB framework (``AutoGluon:stable``, ``AutoGluon_dev:example``, ``constantpredictor``, ``RandomForest``,
    ``flaml``...) resolved through AMLB's frameworks files and the user dir's, as (mlgym agent, its flags); an
    mlgym agent name is taken as it is."""
    from mlgym.families.amlb import config as amlbconf
    from mlgym.families.amlb.family import HERE

    user = Path(env["MLGYM_AMLB_USER_DIR"]) if "MLGYM_AMLB_USER_DIR" in env else None
    try:
        fw = amlbconf.resolve_framework(name, amlbconf.load_config(HERE, user))
        agent, flag, params = amlbconf.mlgym_framework(fw)
    except amlbconf.AMLBError as e:
        from mlgym.agents import AGENTS

        if ":" not in name and name in AGENTS:
            return name, ()
        raise _err(path, "framework", str(e)) from None
    if flag in ("tunedrandomforest", "decisiontree"):
        raise _err(path, "framework", f"{name}: AMLB's {fw.name} is not available as an mlgym framework yet; "
                                      f"RandomForest, constantpredictor, flaml and AutoGluon are")
    args: tuple[str, ...] = ("--framework", flag)
    if params:
        args += ("--framework-params", json.dumps(params))
    return agent, args


# ------------------------------------------------------------------ Ray
def ray_resources(task: str) -> dict[str, float]:
    """What one run asks Ray for: its constraint's cores and memory (AMLB tasks), else one CPU."""
    from mlgym.families.amlb.family import Options
    from mlgym.tasks.spec import TaskSpec

    opts = TaskSpec.load(task).options
    if isinstance(opts, Options):
        return {"num_cpus": float(opts.cores), "memory": float(opts.memory_mb) * 2**20}
    return {"num_cpus": 1.0}


# ------------------------------------------------------------------ results.csv
def write_results(runs: Sequence[Run], out: Path, *, tag: str, mode: str) -> Path | None:
    """AMLB's results.csv for the grid's AMLB runs (None when it has none)."""
    from mlgym.core.version import __version__
    from mlgym.families.amlb.family import Options
    from mlgym.tasks.spec import TaskSpec

    rows: list[dict[str, Any]] = []
    metric_cols: dict[str, None] = {}
    for run in runs:
        if not run.task.startswith("amlb/"):
            continue
        opts = TaskSpec.load(run.task).options
        assert isinstance(opts, Options)
        try:
            r: dict[str, Any] = json.loads((run.log_dir / "result.json").read_text())
        except (OSError, ValueError):
            r = {}
        args = list(run.agent_args)
        framework = args[args.index("--framework") + 1] if "--framework" in args[:-1] else run.agent
        metrics = r.get("metrics") or {}
        name = next(iter(metrics), None) or (opts.metrics[0] if opts.metrics else r.get("metric", ""))
        lower = r.get("direction", "higher") == "lower"
        score = r.get("score")
        metric_cols.update(dict.fromkeys(metrics))
        finished = None
        try:
            finished = dt.datetime.fromtimestamp((run.log_dir / "result.json").stat().st_mtime, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S")
        except OSError:
            pass
        rows.append({
            "id": f"openml.org/t/{opts.entry.openml_task_id}" if opts.entry.openml_task_id else "", "task": opts.entry.name,
            "framework": framework, "constraint": opts.constraint, "fold": opts.fold,
            "result": "" if score is None else (-score if lower else score), "metric": f"neg_{name}" if lower else name,
            "mode": mode, "version": __version__, "params": " ".join(args), "tag": tag, "utc": finished or "",
            "duration": r.get("wall_time", ""), "models": "", "seed": run.seed,
            "info": r.get("error") or ("" if r else "no result.json: the run did not finish"),
            **metrics,
        })
    if not rows:
        return None
    path = out / "results.csv"
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=[*RESULT_COLUMNS, *metric_cols], extrasaction="ignore")
        w.writeheader()
        w.writerows(rows)
    return path


class _Adapter:
    """AMLB in ``mlgym bench`` (:class:`mlgym.families.base.BenchAdapter`)."""

    grid_key = "amlb"
    grid_hint = "amlb: {benchmark, constraint, folds}"
    results_label = "AMLB results"
    results_name_fixed = True  # AMLB's results.csv

    def claims(self, raw: dict[str, Any]) -> bool:
        # every AutoGluon-Bench config but those of its multimodal module (another family reads those)
        return is_agbench(raw) and raw.get("module") != "multimodal"

    def from_config(self, path: Path, raw: dict[str, Any]) -> tuple[dict[str, Any], Path, dict[str, str]]:
        grid, out, env = from_agbench(path, raw)
        os.environ.update(env)  # the user's AMLB benchmarks, here and in every run
        return grid, out, env

    def grid_tasks(self, path: Path, spec: Any) -> list[str]:
        return grid_tasks(path, spec)

    def ray_resources(self, task: str) -> dict[str, float] | None:
        if not task.startswith(PREFIX):
            return None
        return ray_resources(task)

    def write_results(self, runs: Sequence[GridRun], out: Path, ctx: BenchContext) -> Path | None:
        return write_results(runs, out, tag=ctx.tag, mode=ctx.mode)


ADAPTER = _Adapter()
