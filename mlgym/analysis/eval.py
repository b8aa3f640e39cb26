"""Many runs -> one table: ``mlgym eval`` and MLAgentBench's ``python -m mlgym.analysis.eval``.

    mlgym eval runs/ more_runs/ --out eval/          # table.json, runs.csv, aggregates.csv
    mlgym eval runs/ --import-mlagentbench mab_logs/ # score MLAgentBench runs beside ours
    python -m mlgym.analysis.eval --log-folder runs/ --task digits --output-file results.json

A *run* is any folder holding ``trace.jsonl``.  A run with ``result.json`` is read as it
is; a run without one (killed before its Final Answer) is scored from its last
workspace snapshot (:func:`score_log_dir`).  Intermediate submissions (every distinct
content of the task's submission files seen in the trace's ``files`` maps) are scored
too, at most ``--max-rescore`` (default 10) per run, and cached in the run's
``eval_cache.json`` so a second ``eval`` re-scores nothing.  Definitions of every
column and aggregate, with sources, are in ``docs/evaluation.md``.
"""

from __future__ import annotations

import argparse
import csv
import json
import logging
import math
import os
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from mlgym.core.parsing import Parser
from mlgym.core.errors import MLGymError
from mlgym.grading.passk import columns as passk_columns, pass_table
from mlgym.core.scratch import collect as collect_scratch, scratch_dir
from mlgym.tasks.catalog import RunImporter, plugins
from mlgym.tasks.spec import TaskSpec
from mlgym.runlog.status import lock_held, run_label, run_status
from mlgym.runlog.trace import TRACE, Trace, load, restore_workspace

__all__ = [
    "aggregate", "aup", "bootstrap_ci", "evaluate_runs", "find_runs", "main", "performance_profiles",
    "run_row", "score_log_dir", "submission_snapshots",
]

log = logging.getLogger(__name__)

CACHE = "eval_cache.json"
MAX_RESCORE = 10
N_BOOT = 2000
EPSILON = 0.05  # MLGym's penalty factor for infeasible methods
BASELINE_RTOL = 1e-4  # "worse than the baseline" beyond this relative difference
BASELINE_METHOD = "task baseline"  # the task's baseline score, a method in the profiles
PROFILE_POINTS = 500  # MLGym's tau grid size (used for plotting and the grid AUP)
RUN_COLUMNS = [
    "task", "agent", "model", "seed", "run_id", "metric", "direction", "score", "best_score", "best_step",
    "baseline", "improvement", "best_improvement", "success", "valid_submission", "steps", "wall_time",
    "prompt_tokens", "completion_tokens", "tokens", "cost", "llm_calls", "n_submissions", "n_rescored",
    "reason", "scored_from", "cut_short", "error", "log_dir", "source", "status", "label",
]
AGG_COLUMNS = [
    "task", "agent", "model", "method", "n_runs", "n_valid", "success_rate", "success_ci_low", "success_ci_high",
    "mean_improvement", "improvement_ci_low", "improvement_ci_high", "mean_best_improvement",
    "mean_steps", "mean_wall_time", "mean_tokens", "mean_cost", "total_cost", "label", "n_errors", "n_cancelled", "n_unfinished",
]

_TASKS: dict[str, TaskSpec | None] = {}
_PREPARE = threading.Lock()  # data preparation is not safe to run twice at once (``--jobs``)


def _task(name: str | None) -> TaskSpec | None:
    if not name:
        return None
    if name not in _TASKS:
        try:
            _TASKS[name] = TaskSpec.load(name)
        except MLGymError:
            _TASKS[name] = None
    return _TASKS[name]


# ------------------------------------------------------------------ finding runs
def find_runs(paths: Iterable[str | Path]) -> list[Path]:
    """Every folder holding ``trace.jsonl`` under ``paths`` (sorted, no duplicates)."""
    found: dict[Path, None] = {}
    for p in paths:
        p = Path(p)
        if not p.exists():
            raise MLGymError(f"{p}: no such folder")
        if (p / TRACE).is_file():
            found[p.resolve()] = None
            continue
        for root, dirs, files in os.walk(p):
            if TRACE in files:
                found[Path(root).resolve()] = None
                dirs[:] = []  # a run's own folders (objects/) hold no runs
            else:
                dirs[:] = sorted(d for d in dirs if d != "objects")
    return sorted(found)


def _reset_task(log_dir: Path) -> str | None:
    """The task a run's ``reset`` record (its trace's first line) names, without reading the whole trace."""
    try:
        with open(log_dir / TRACE, errors="replace") as f:
            rec = json.loads(f.readline(10_000_000))
    except (OSError, ValueError):
        return None
    task = rec.get("task") if isinstance(rec, dict) and rec.get("type") == "reset" else None
    return task if isinstance(task, str) else None


def run_importers() -> list[RunImporter]:
    """The families that read another project's run logs (MLAgentBench's...), in catalog order."""
    return [imp for _name, imp in plugins("run_importers") if isinstance(imp, RunImporter)]


def _no_runs_hint(d: Path) -> None:
    """A folder of another project's logs (MLAgentBench's) given where mlgym runs are expected: say how to read it."""
    if d.is_dir() and not find_runs([d]):
        for imp in run_importers():
            n = len(imp.find_runs(d))
            if n:
                raise MLGymError(f"{d}: no mlgym runs here, but it looks like {imp.run_label} logs ({n} run(s)): "
                                 f"use --import-{imp.run_format} {d}")


# ------------------------------------------------------------------ scoring
def score_log_dir(log_dir: str | Path, sandbox: str = "local", step: int | None = None, trace: Trace | None = None) -> dict[str, Any]:
    """Score a run from its trace: the submission files as of ``step`` (default: the last).

    This is what ``mlgym score`` does; it never raises for a bad submission, only for a
    folder that is not a run (:class:`MLGymError`).
    """
    from mlgym.tasks.data import prepare
    from mlgym.grading.scoring import evaluate

    if trace is None:
        try:
            trace = load(log_dir)
        except FileNotFoundError as e:
            raise MLGymError(str(e)) from None
    reset = trace.reset
    if reset is None:
        raise MLGymError(f"{log_dir}: the trace has no reset record")
    task = TaskSpec.load(reset["task"])
    with _PREPARE:
        data = prepare(task)
    with tempfile.TemporaryDirectory(prefix="mlgym-score-", dir=scratch_dir()) as tmp:  # collected if we are killed
        restore_workspace(trace, Path(tmp), step=step, only=task.submission)
        result = evaluate(task, data, Path(tmp), sandbox=sandbox, final_answer=_final_answer(trace, step))
    # episode_finished=False: a result.json written from this (``mlgym score --write``) does not
    # make the run finished for ``mlgym bench`` or ``--resume``.
    result.update(run_id=reset.get("run_id"), steps=len(trace.steps), reason="scored_from_trace", cut_short=trace.cut_short,
                  episode_finished=False)
    if step is not None:
        result["step"] = step
    return result


def _final_answer(trace: Trace, step: int | None) -> str | None:
    """The Final Answer text of the run (as of ``step``), as the env passed it to scoring."""
    for r in reversed(trace.steps):
        if step is not None and int(r.get("step") or 0) > step:
            continue
        action = r.get("action") or {}
        args = action.get("arguments") if isinstance(action, dict) else None
        if isinstance(action, dict) and action.get("name") == "Final Answer" and isinstance(args, dict):
            answer = args.get("final_answer")
            return answer if isinstance(answer, str) else None
    return None


def submission_snapshots(trace: Trace, submission: Sequence[str]) -> list[tuple[int, tuple[str, ...]]]:
    """``(step, digests)`` each time the submission files took a content other than the step before's.

    Step 0 is the reset (the starter files).  Only states where every submission file
    exists count.  A step that restores an earlier content (an undo) is listed again: from
    there on the curve shows that content's score, not the later one's (it is scored once).
    """
    state: dict[str, str] = {}
    prev: tuple[str, ...] | None = None
    out: list[tuple[int, tuple[str, ...]]] = []
    for r in trace.records:
        kind = r.get("type")
        if kind not in ("reset", "step"):
            continue
        files = r.get("files") or {}
        for path, digest in files.items():
            if digest is None:
                state.pop(path, None)
            else:
                state[path] = digest
        if not files and out:
            continue
        key = tuple(state.get(f) or "" for f in submission)
        if all(key) and key != prev:
            prev = key
            out.append((0 if kind == "reset" else int(r.get("step", 0)), key))
    return out


def _pick(n: int, cap: int) -> list[int]:
    """Indices of at most ``cap`` of ``n`` items, evenly spaced, always keeping the last."""
    if n <= cap:
        return list(range(n))
    if cap <= 0:
        return []
    return sorted({round(float(x)) for x in np.linspace(0, n - 1, cap)})


def _read_cache(log_dir: Path) -> dict[str, Any]:
    try:
        raw = json.loads((log_dir / CACHE).read_text())
        return raw.get("scores", {}) if raw.get("version") == 1 else {}
    except (OSError, ValueError, AttributeError):
        return {}


def _write_cache(log_dir: Path, scores: dict[str, Any]) -> None:
    from mlgym.runlog.jsonio import write_json

    try:
        write_json(log_dir / CACHE, {"version": 1, "scores": scores})
    except OSError as e:  # a read-only log folder: just do not cache
        log.debug("cannot write %s: %s", log_dir / CACHE, e)


# ------------------------------------------------------------------ one run
def _improvement(task: TaskSpec | None, direction: str | None, score: float | None, baseline: float | None) -> float | None:
    if score is None or baseline is None:
        return None
    if task is not None:
        from mlgym.grading.scoring import improvement

        return improvement(task, score, baseline)
    delta = (score - baseline) / abs(baseline) if baseline else score - baseline
    return delta if direction != "lower" else -delta


def _better(a: float, b: float, higher: bool) -> bool:
    return a > b if higher else a < b


def run_row(
    log_dir: str | Path, *, sandbox: str = "local", max_rescore: int = MAX_RESCORE, use_cache: bool = True,
    write_results: bool = False,
) -> dict[str, Any]:
    """One row of the runs table for the run in ``log_dir`` (see ``docs/evaluation.md``)."""
    log_dir = Path(log_dir)
    row: dict[str, Any] = dict.fromkeys(RUN_COLUMNS)
    row.update(log_dir=str(log_dir), error=None)
    try:
        trace = load(log_dir)
    except (OSError, ValueError) as e:
        row["error"] = f"unreadable trace: {e}"
        return row
    reset = trace.reset or {}
    result: dict[str, Any] | None = None
    try:
        result = json.loads((log_dir / "result.json").read_text())
        row["scored_from"] = "result.json"
    except FileNotFoundError:
        result = None
    except ValueError as e:
        row["error"] = f"unreadable result.json: {e}"
    result = result or trace.result
    if result is not None and row["scored_from"] is None:
        row["scored_from"] = "trace result record"
    row["status"] = run_status(result, live=lock_held(log_dir), mtime=_mtime(log_dir))
    row["label"] = run_label(result or {}, reset)

    task_name = (result or {}).get("task") or reset.get("task")
    task = _task(task_name)
    llm = [r for r in trace.records if r.get("type") == "llm"]
    models = [r.get("model") for r in llm if r.get("model")]
    steps = trace.steps
    times = [r["time"] for r in trace.records if isinstance(r.get("time"), (int, float))]
    imported = reset.get("imported") or {}
    row["imported_from"] = row["source"] = imported.get("source")  # an imported run: the folder it came from
    row["submitted_final_answer"] = any((s.get("action") or {}).get("name") == "Final Answer" and not s.get("error") for s in steps)
    row.update(
        task=task_name, run_id=(result or {}).get("run_id") or reset.get("run_id") or log_dir.name,
        agent=(result or {}).get("agent") or reset.get("agent") or "unknown",
        model=(result or {}).get("model") or reset.get("model") or (max(set(models), key=models.count) if models else None),
        seed=(result or {}).get("seed", reset.get("seed")),
        metric=(result or {}).get("metric") or (task.metric if task else None),
        direction=(result or {}).get("direction") or (task.direction if task else None),
        steps=len(steps), cut_short=trace.cut_short,
        prompt_tokens=int(sum(r.get("prompt_tokens") or 0 for r in llm)),
        completion_tokens=int(sum(r.get("completion_tokens") or 0 for r in llm)),
        cost=float(sum(r.get("cost") or 0.0 for r in llm)), llm_calls=len(llm),
    )
    row["tokens"] = int(sum((r.get("total_tokens") or (r.get("prompt_tokens") or 0) + (r.get("completion_tokens") or 0)) for r in llm))
    row["wall_time"] = (result or {}).get("wall_time") or imported.get("wall_time") or (round(max(times) - min(times), 3) if len(times) > 1 else 0.0)

    if result is None:  # killed: score the last snapshot
        if task is None:
            row["error"] = f"unknown task {task_name!r}: cannot score this run"
            row["reason"] = "not_scored"
        else:
            try:
                result = score_log_dir(log_dir, sandbox=sandbox, trace=trace)
                row["scored_from"] = "trace (last snapshot)"
                if write_results:
                    from mlgym.runlog.jsonio import write_json

                    write_json(log_dir / "result.json", result)
            except MLGymError as e:
                row["error"] = str(e)
    if result is not None:
        row.update(
            score=result.get("score"), baseline=result.get("baseline"), improvement=result.get("improvement"),
            valid_submission=bool(result.get("valid_submission")), reason=result.get("reason"),
            metrics=result.get("metrics") or {},  # the family's other numbers, e.g. each ML-Bench check
        )
        if result.get("error") and not row["error"]:
            row["error"] = result["error"]
    if row["baseline"] is None and task is not None:
        row["baseline"] = task.baseline.score
    if imported.get("error"):  # an imported run's error.txt comes first: it explains a missing submission
        crash = f"the run crashed: {imported['error']}"
        row["error"] = f"{crash}; {row['error']}" if row["error"] else crash
    threshold = task.success_threshold if task else 0.10
    row["success"] = bool(row["improvement"] is not None and row["improvement"] > threshold)
    row["valid_submission"] = bool(row["valid_submission"])

    # scores of intermediate submissions
    scores_by_step: list[list[Any]] = []
    n_rescored = 0
    if task is not None:
        snaps = submission_snapshots(trace, task.submission)
        row["n_submissions"] = len(snaps)
        last = trace.files_at()
        final_key = tuple(last.get(f) or "" for f in task.submission)
        cache = _read_cache(log_dir) if use_cache else {}
        known: dict[tuple[str, ...], float | None] = {}
        if all(final_key) and row["valid_submission"]:
            known[final_key] = row["score"]  # the final submission: already scored
        todo = list({k: (s, k) for s, k in reversed(snaps) if k not in known}.values())[::-1]  # each content once, first step
        for _step, k in todo:
            hit = cache.get("|".join(k))
            if hit is not None:
                known[k] = hit.get("score")
        todo = [(s, k) for s, k in todo if k not in known and not any(d.startswith(("skipped:", "symlink:")) for d in k)]
        todo = [(s, k) for s, k in todo if all(trace.object_path(d).is_file() for d in k)]
        chosen = [todo[i] for i in _pick(len(todo), max_rescore)]
        for s, k in chosen:
            try:
                res = score_log_dir(log_dir, sandbox=sandbox, step=s, trace=trace)
            except MLGymError as e:
                res = {"score": None, "error": str(e)}
            known[k] = res.get("score")
            cache["|".join(k)] = {"score": res.get("score"), "error": res.get("error"), "step": s}
            n_rescored += 1
        if n_rescored and use_cache and row["status"] != "running":  # never into a run still being written (a killed one is fine)
            _write_cache(log_dir, cache)
        scores_by_step = [[s, known[k]] for s, k in snaps if k in known]
    row["n_rescored"] = n_rescored
    row["scores_by_step"] = scores_by_step
    higher = (row["direction"] or "higher") != "lower"
    best, best_step = None, None
    for s, v in scores_by_step:
        if v is not None and (best is None or _better(v, best, higher)):
            best, best_step = v, s
    if row["valid_submission"] and row["score"] is not None and (best is None or _better(row["score"], best, higher)):
        best, best_step = row["score"], row["steps"]
    row["best_score"], row["best_step"] = best, best_step
    row["best_improvement"] = _improvement(task, row["direction"], best, row["baseline"])
    return row


# ------------------------------------------------------------------ aggregates
def bootstrap_ci(values: Sequence[float], *, n_boot: int = N_BOOT, seed: int = 0, alpha: float = 0.05) -> tuple[float | None, float | None]:
    """Percentile bootstrap CI of the mean: ``n_boot`` resamples with replacement, seeded."""
    x = np.asarray([v for v in values if v is not None], dtype=float)
    if x.size == 0:
        return None, None
    if x.size == 1:
        return float(x[0]), float(x[0])
    rng = np.random.default_rng(seed)
    means = x[rng.integers(0, x.size, size=(n_boot, x.size))].mean(axis=1)
    lo, hi = np.quantile(means, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def method_label(agent: Any, model: Any) -> str:
    return f"{agent} ({model})" if model else str(agent)


def method_of(row: dict[str, Any]) -> str:
    """The configuration a run row belongs to: its label (:func:`mlgym.runlog.status.run_label`), so two
    configurations of one agent and model never merge."""
    return str(row.get("label") or method_label(row.get("agent"), row.get("model")))


def _mtime(log_dir: Path) -> float | None:
    try:
        return (log_dir / "trace.jsonl").stat().st_mtime
    except OSError:
        return None


def _mean(xs: Sequence[Any]) -> float | None:
    vals = [float(x) for x in xs if x is not None]
    return float(np.mean(vals)) if vals else None


def aggregate(rows: Sequence[dict[str, Any]], *, n_boot: int = N_BOOT, seed: int = 0) -> list[dict[str, Any]]:
    """Per task x label (agent, model and options): success rate and mean improvement with bootstrap CIs.

    Runs with status ``error`` (the harness or a service failed) and runs still ``running`` are left out of
    the rates and counted apart (``n_errors``, ``n_unfinished``); ``n_cancelled`` counts interrupted ones."""
    groups: dict[tuple[Any, Any, Any, Any], list[dict[str, Any]]] = {}
    for r in rows:
        if r.get("task") is None:
            continue
        groups.setdefault((r["task"], method_of(r), r["agent"], r["model"]), []).append(r)
    out = []
    for (task, label, agent, model), every in sorted(groups.items(), key=lambda kv: tuple(str(x) for x in kv[0])):
        rs = [r for r in every if r.get("status") not in ("error", "running")]
        succ = [1.0 if r["success"] else 0.0 for r in rs]
        imps = [r["improvement"] for r in rs if r["valid_submission"] and r["improvement"] is not None]
        s_lo, s_hi = bootstrap_ci(succ, n_boot=n_boot, seed=seed)
        i_lo, i_hi = bootstrap_ci(imps, n_boot=n_boot, seed=seed)
        out.append({
            "task": task, "agent": agent, "model": model, "method": label, "label": label,
            "n_errors": sum(r.get("status") == "error" for r in every), "n_cancelled": sum(r.get("status") == "cancelled" for r in every),
            "n_unfinished": sum(r.get("status") in ("running", "interrupted") for r in every),
            "n_runs": len(rs), "n_valid": len(imps), "success_rate": float(np.mean(succ)) if succ else 0.0,
            "success_ci_low": s_lo, "success_ci_high": s_hi,
            "mean_improvement": _mean(imps), "improvement_ci_low": i_lo, "improvement_ci_high": i_hi,
            "mean_best_improvement": _mean([r["best_improvement"] for r in rs if r["best_improvement"] is not None]),
            "mean_steps": _mean([r["steps"] for r in rs]), "mean_wall_time": _mean([r["wall_time"] for r in rs]),
            "mean_tokens": _mean([r["tokens"] for r in rs]), "mean_cost": _mean([r["cost"] for r in rs]),
            "total_cost": float(sum(r["cost"] or 0.0 for r in rs)),
        })
    return out


# ------------------------------------------------------------------ performance profiles (MLGym)
def performance_ratios(
    scores: dict[str, float | None], baseline: float, higher: bool, methods: Sequence[str], epsilon: float = EPSILON,
) -> tuple[dict[str, float], int]:
    """MLGym's per-task performance ratios (>= 1, 1 = best) and the task's suggested max tau.

    A method is infeasible on the task when it has no score, a non-positive score, or a
    score worse than the baseline; it gets ``(1 + epsilon) * worst feasible ratio``.
    "Worse" allows a relative tolerance of ``BASELINE_RTOL``, so the starter code itself
    is not infeasible against a baseline written down to a few digits.
    """
    tol = BASELINE_RTOL * abs(baseline)
    feasible = {
        m: v for m, v in scores.items()
        if m in methods and v is not None and math.isfinite(v) and v > 0
        and (v >= baseline - tol if higher else v <= baseline + tol)
    }
    if not feasible:
        worst = 1.0
        ratios: dict[str, float] = {}
    else:
        best = max(feasible.values()) if higher else min(feasible.values())
        ratios = {m: (best / v if higher else v / best) for m, v in feasible.items()}
        worst = max(ratios.values())
    for m in methods:
        ratios.setdefault(m, worst * (1 + epsilon))
    return ratios, math.ceil(worst * (1 + epsilon))


def aup(log_ratios: Sequence[float], max_tau: float, grid: int | None = None) -> float:
    """Area under the performance profile rho(tau) for tau in [0, max_tau] (log10 ratios).

    ``grid=None``: the exact area of the step function, mean over tasks of
    ``max_tau - log10 r`` (every ratio is within the range by construction).
    ``grid=500``: MLGym's left Riemann sum on ``linspace(0, max_tau, 500)``.
    """
    lr = np.asarray(log_ratios, dtype=float)
    if lr.size == 0:
        return 0.0
    if grid is None:
        return float(np.mean(np.clip(max_tau - lr, 0.0, None)))
    tau = np.linspace(0.0, max_tau, grid)
    rho = (lr[None, :] <= tau[:, None] + 1e-12).mean(axis=1)
    return float(np.sum(np.diff(tau) * rho[:-1]))


def performance_profiles(rows: Sequence[dict[str, Any]], *, epsilon: float = EPSILON, points: int = PROFILE_POINTS) -> dict[str, Any]:
    """Performance profiles and AUP over tasks, for best-attempt and best-submission scores.

    Per task and method (agent x model), the best-submission score is the best final
    score over its runs and the best-attempt score the best score of any submission in
    any of its runs (MLGym's Best Submission@k / Best Attempt@k, k = runs per method).
    The task's baseline score takes part as the method ``task baseline``.
    """
    tasks: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r.get("task") is None or r.get("baseline") is None:
            continue
        t = tasks.setdefault(r["task"], {"higher": (r.get("direction") or "higher") != "lower", "baseline": r["baseline"],
                                         "best_submission": {}, "best_attempt": {}})
        m = method_of(r)
        for kind, v in (("best_submission", r["score"] if r["valid_submission"] else None), ("best_attempt", r["best_score"])):
            t[kind].setdefault(m, None)
            cur = t[kind][m]
            if v is not None and (cur is None or _better(v, cur, t["higher"])):
                t[kind][m] = v
    methods = sorted({m for t in tasks.values() for m in t["best_submission"]}) + [BASELINE_METHOD]
    out: dict[str, Any] = {"epsilon": epsilon, "methods": methods, "tasks": sorted(tasks), "max_tau": 0.0}
    ratios: dict[str, dict[str, dict[str, float]]] = {"best_attempt": {}, "best_submission": {}}
    suitable = [2]
    for name, t in tasks.items():
        for kind, per_kind in ratios.items():
            scores = {**t[kind], BASELINE_METHOD: t["baseline"]}
            per_kind[name], task_tau = performance_ratios(scores, t["baseline"], t["higher"], methods, epsilon)
            suitable.append(task_tau)
    max_tau = math.ceil(math.log10(max(suitable)) * 10 - 1e-9) / 10
    out["max_tau"] = max_tau
    tau = np.linspace(0.0, max_tau, points)
    for kind, per_task in ratios.items():
        kind_out: dict[str, Any] = {"tau": tau.round(6).tolist(), "methods": {}}
        for m in methods:
            lr = [math.log10(per_task[t][m]) for t in sorted(per_task)]
            rho = (np.asarray(lr)[None, :] <= tau[:, None] + 1e-12).mean(axis=1) if lr else np.zeros_like(tau)
            kind_out["methods"][m] = {
                "ratios": {t: per_task[t][m] for t in sorted(per_task)}, "rho": rho.round(6).tolist(),
                "aup": aup(lr, max_tau), "aup_grid": aup(lr, max_tau, grid=points),
            }
        out[kind] = kind_out
    return out


# ------------------------------------------------------------------ driver
def evaluate_runs(
    paths: Iterable[str | Path], *, sandbox: str = "local", max_rescore: int = MAX_RESCORE, use_cache: bool = True,
    write_results: bool = False, n_boot: int = N_BOOT, seed: int = 0, jobs: int = 1, tasks: Iterable[str] | None = None,
) -> dict[str, Any]:
    """Find, score and aggregate every run under ``paths``: the whole ``table.json``.

    ``tasks``: only runs of these tasks (the others are neither scored nor listed).

    ``jobs > 1`` reads and scores that many runs at once (scoring runs in sandboxes, so
    threads overlap); the table is the same, in the same order.
    """
    t0 = time.monotonic()
    collect_scratch()  # temporary folders of an earlier, killed eval or run
    runs = find_runs(paths)
    if tasks is not None:
        wanted = set(tasks)
        runs = [d for d in runs if _reset_task(d) in wanted]

    def one(d: Path) -> dict[str, Any]:
        return run_row(d, sandbox=sandbox, max_rescore=max_rescore, use_cache=use_cache, write_results=write_results)

    if jobs > 1 and len(runs) > 1:
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            rows = list(pool.map(one, runs))
    else:
        rows = [one(d) for d in runs]
    return {
        "meta": {"n_runs": len(rows), "max_rescore": max_rescore, "bootstrap": {"n_boot": n_boot, "seed": seed, "ci": 0.95},
                 "epsilon": EPSILON, "seconds": round(time.monotonic() - t0, 3), "created": time.strftime("%Y-%m-%dT%H:%M:%S")},
        "runs": rows,
        "aggregates": aggregate(rows, n_boot=n_boot, seed=seed),
        "profiles": performance_profiles(rows),
        "pass_at_k": pass_table(rows),  # first-k and unbiased Pass@k over the runs of each task (mlgym.grading.passk)
    }


def _csv(path: Path, rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> None:
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(columns), extrasaction="ignore")
        w.writeheader()
        for r in rows:
            w.writerow({k: ("" if r.get(k) is None else r.get(k)) for k in columns})


def write_table(table: dict[str, Any], out: Path) -> None:
    from mlgym.runlog.jsonio import write_json

    out.mkdir(parents=True, exist_ok=True)
    write_json(out / "table.json", table)
    _csv(out / "runs.csv", table["runs"], RUN_COLUMNS)
    _csv(out / "aggregates.csv", table["aggregates"], AGG_COLUMNS)
    prof = table["profiles"]
    aup_rows = [{"method": m, "best_attempt_aup": prof["best_attempt"]["methods"][m]["aup"],
                 "best_submission_aup": prof["best_submission"]["methods"][m]["aup"]} for m in prof["methods"]] if prof["tasks"] else []
    _csv(out / "aup.csv", aup_rows, ["method", "best_attempt_aup", "best_submission_aup"])
    if "pass_at_k" in table:
        _csv(out / "passk.csv", table["pass_at_k"]["tasks"], passk_columns(table["pass_at_k"]["ks"]))
    if table.get("frameworks"):  # --amlb-results: published frameworks beside the agents
        from mlgym.analysis.frameworks import write_frameworks

        write_frameworks(table, out, _csv)


def load_table(source: str | Path) -> dict[str, Any]:
    """A ``table.json`` (or a folder holding one) as written by ``mlgym eval``."""
    p = Path(source)
    if p.is_dir() and (p / "table.json").is_file() and not (p / TRACE).is_file():
        p = p / "table.json"
    try:
        table = json.loads(p.read_text())
    except (OSError, ValueError) as e:
        raise MLGymError(f"{source}: not a table.json from `mlgym eval` ({e})") from None
    if not isinstance(table, dict) or "runs" not in table:
        raise MLGymError(f"{source}: not a table.json from `mlgym eval` (no 'runs')")
    return table


def _pct(v: Any) -> str:
    return "-" if v is None else f"{v:+.1%}"


def print_summary(table: dict[str, Any], file: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    from mlgym.core.safetext import console_text

    stream = file or sys.stdout
    console = Console(file=stream, width=None if stream.isatty() else 160)
    t = Table(title=f"{table['meta']['n_runs']} runs", show_lines=False)
    for col in ("task", "label", "runs", "valid", "errors", "success rate [95% CI]", "mean improvement [95% CI]", "mean tokens", "total cost $"):
        t.add_column(col, justify="right" if col not in ("task", "label") else "left")
    for a in table["aggregates"]:
        sr = f"{a['success_rate']:.0%} [{a['success_ci_low']:.0%}, {a['success_ci_high']:.0%}]"
        mi = "-" if a["mean_improvement"] is None else f"{_pct(a['mean_improvement'])} [{_pct(a['improvement_ci_low'])}, {_pct(a['improvement_ci_high'])}]"
        t.add_row(str(a["task"]), str(a.get("label") or a["method"]), str(a["n_runs"]), str(a["n_valid"]), str(a.get("n_errors") or 0), sr, mi,
                  f"{a['mean_tokens'] or 0:,.0f}", f"{a['total_cost']:.4f}")
    console.print(t)
    prof = table["profiles"]
    if prof.get("tasks"):
        p = Table(title=f"AUP over {len(prof['tasks'])} task(s), tau in [0, {prof['max_tau']}] (log10)")
        p.add_column("method")
        p.add_column("best attempt AUP", justify="right")
        p.add_column("best submission AUP", justify="right")
        for m in prof["methods"]:
            p.add_row(m, f"{prof['best_attempt']['methods'][m]['aup']:.3f}", f"{prof['best_submission']['methods'][m]['aup']:.3f}")
        console.print(p)
    print_pass_at_k(table, console)
    bad = [r for r in table["runs"] if r.get("error") and not r.get("valid_submission")]
    if bad:
        example = f"{console_text(bad[0]['log_dir'])}: {console_text(bad[0]['error'])}"  # the error may quote agent output
        console.print(f"[yellow]{len(bad)} run(s) without a valid submission[/yellow], e.g. {example}", markup=True)


def print_pass_at_k(table: dict[str, Any], console: Any) -> None:
    """Pass@k per method, first-k | unbiased, when a task is pass/fail (metric ``pass``) or was run more than once."""
    from rich.table import Table

    pk = table.get("pass_at_k") or {}
    shown = [t for t in pk.get("tasks", []) if t.get("metric") == "pass" or t["n"] > 1]
    if not shown:
        return
    methods = {t["method"] for t in shown}
    p = Table(title=f"Pass@k over {len({t['task'] for t in shown})} task(s): first k attempts | unbiased estimator (Chen et al.)")
    p.add_column("method")
    for k in pk["ks"]:
        p.add_column(f"Pass@{k}", justify="right")
    for m in pk["methods"]:
        if m["method"] not in methods:
            continue
        cells = []
        for k in pk["ks"]:
            a, b = m[f"pass@{k}"], m[f"pass@{k}_unbiased"]
            cells.append("-" if a is None else f"{a:.0%} | {b:.0%} ({m[f'pass@{k}_tasks']})")
        p.add_row(str(m["method"]), *cells)
    console.print(p)


# ------------------------------------------------------------------ MLAgentBench-compatible output
def mlagentbench_results(table: dict[str, Any], task: str | None) -> dict[str, Any]:
    """``{trace path: EvaluationResult}`` as MLAgentBench's ``eval.py`` writes it (plus ``extra``)."""
    out = {}
    for r in table["runs"]:
        if task and r.get("task") not in _task_names(task):
            continue
        # MLAgentBench numbers steps from 0 (traces/step_0_files is the workspace after the first action); ours from 1
        steps = [s - 1 for s, v in r.get("scores_by_step", []) if v is not None]
        scores = [v for s, v in r.get("scores_by_step", []) if v is not None]
        src = r.get("imported_from")  # an imported MLAgentBench run: keyed by its own trace.json, as MLAgentBench does
        path = str(Path(src) / "env_log" / "trace.json") if src else str(Path(r["log_dir"]) / "trace.json")
        out[path] = {
            "path": path, "summary": "", "rubric_questions": {}, "score": scores, "score_steps": steps,
            "submitted_final_answer": bool(r.get("submitted_final_answer") or r.get("reason") == "final_answer"),
            "final_score": r["score"] if r.get("score") is not None else -1,
            "total_time": r.get("wall_time") or 0, "error": r.get("error") or "",
            "extra": {k: r.get(k) for k in RUN_COLUMNS},
        }
    return out


def _task_names(task: str) -> set[str]:
    """``task`` and the mlgym task it names (MLAgentBench's names, e.g. house-price, map to ours)."""
    return {task, *(imp.task_name(task) for imp in run_importers())}


def _mlagentbench_main(argv: Sequence[str]) -> int:
    p = Parser(prog="python -m mlgym.analysis.eval", description="MLAgentBench-compatible evaluation of a log folder.")
    p.add_argument("--log-folder", default="logs")
    p.add_argument("--task", default=None, help="only runs of this task")
    p.add_argument("--output-file", default="results.json")
    p.add_argument("--eval-intermediate", action="store_true", help="accepted for compatibility; intermediate submissions are always scored")
    p.add_argument("--max-rescore", type=int, default=MAX_RESCORE)
    p.add_argument("--sandbox", default="local")
    args = p.parse_args(argv)
    from mlgym.runlog.jsonio import write_json

    folders = [args.log_folder]
    with tempfile.TemporaryDirectory(prefix="mlgym-mab-import-") as tmp:
        for i, imp in enumerate(run_importers()):
            if imp.find_runs(args.log_folder):  # MLAgentBench's own logs: import them first
                dest = Path(tmp) / str(i)
                imp.import_runs(args.log_folder, dest, default_task=args.task)  # --task names runs that name none
                folders.append(str(dest))
        # --task selects: runs of other tasks are neither re-scored as this one nor listed
        table = evaluate_runs(folders, sandbox=args.sandbox, max_rescore=args.max_rescore,
                              tasks=_task_names(args.task) if args.task else None)
        write_json(Path(args.output_file), mlagentbench_results(table, args.task))
    print(f"wrote {args.output_file}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="mlgym eval", description="Score and tabulate every run under the given folders.")
    p.add_argument("dirs", nargs="*", type=Path, help="folders to search for runs (folders holding trace.jsonl)")
    p.add_argument("--out", type=Path, default=Path("eval"), help="output folder (table.json, runs.csv, aggregates.csv, aup.csv)")
    p.add_argument("--sandbox", default="local", help="sandbox used to score runs that have no result.json")
    p.add_argument("--max-rescore", type=int, default=MAX_RESCORE, help="intermediate submissions scored per run (0: none)")
    p.add_argument("--no-cache", action="store_true", help="neither read nor write eval_cache.json in the runs")
    p.add_argument("--write-results", action="store_true", help="write result.json into runs scored from their trace")
    for imp in run_importers():  # --import-mlagentbench DIR
        p.add_argument(f"--import-{imp.run_format}", dest=f"import_{imp.run_format}", type=Path, action="append", default=[],
                       metavar="DIR", help=f"import the {imp.run_label} log folders under DIR (into OUT/imported) and evaluate them too")
    p.add_argument("--import-task", default=None, help="task name for imported runs whose logs do not name one")
    from mlgym.analysis.frameworks import add_arguments as add_results_arguments

    add_results_arguments(p)  # --amlb-results FILE (the results_readers plugins), --reference-framework
    p.add_argument("-j", "--jobs", type=int, default=1, help="runs scored at once (scoring happens in sandboxes)")
    p.add_argument("--bootstrap", type=int, default=N_BOOT, help="bootstrap resamples for the CIs")
    p.add_argument("--seed", type=int, default=0, help="bootstrap seed")
    p.add_argument("-q", "--quiet", action="store_true", help="do not print the summary")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if any(a == "--log-folder" or a.startswith("--log-folder=") for a in argv):
        return _mlagentbench_main(argv)
    args = build_parser().parse_args(argv)
    dirs = list(args.dirs)
    importers = run_importers()
    for imp in importers:
        for src in getattr(args, f"import_{imp.run_format}"):
            imported = imp.import_runs(src, args.out / "imported", default_task=args.import_task)
            if not args.quiet:
                print(f"imported {len(imported)} {imp.run_label} run(s) from {src}")
            dirs.append(args.out / "imported")
    from mlgym.analysis import frameworks

    results = frameworks.from_args(args)
    frameworks.check_files(results)
    if not dirs and not results:
        raise MLGymError("give at least one folder of runs" + "".join(f" (or --import-{imp.run_format} DIR)" for imp in importers))
    for d in args.dirs:
        _no_runs_hint(d)
    table = evaluate_runs(dict.fromkeys(dirs), sandbox=args.sandbox, max_rescore=args.max_rescore, use_cache=not args.no_cache,
                          write_results=args.write_results, n_boot=args.bootstrap, seed=args.seed, jobs=args.jobs)
    frameworks.attach(table, results, reference=args.reference_framework)
    write_table(table, args.out)
    if not args.quiet:
        print_summary(table)
        frameworks.print_frameworks(table)
        print(f"wrote {args.out / 'table.json'}, runs.csv, aggregates.csv, aup.csv ({table['meta']['seconds']:.2f}s)")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except MLGymError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
