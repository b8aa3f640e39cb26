"""Published framework results beside mlgym's agents: one table per task/fold/metric, and
AutoGluon-Bench's evaluation figures over both.

``mlgym eval RUNS --amlb-results results.csv --out DIR`` reads the file through the family that
knows the format (a :class:`mlgym.tasks.catalog.ResultsReader` plugin of group
``results_readers``; the flag is ``--<format>-results``), maps each agent run onto the file's
terms (``amlb/test/kc2/0`` -> task kc2, fold 0) with the agent's label as its framework name,
and adds ``table["frameworks"]``:

* ``rows``: one per (task, fold, metric, framework): score, metric_error, rank within that
  task/fold/metric (``frameworks.csv``);
* ``summary``: per metric and framework, first over ``result`` (each task's optimised metric, AMLB's
  ``result`` column, what AutoGluon-Bench ranks on) (``frameworks_summary.csv``), as AutoGluon-Bench's
  ``eval/evaluation`` computes them: metric_error = 1 - score for higher-is-better metrics, the
  loss itself otherwise; per dataset the mean over the folds every compared framework has;
  only datasets every framework has; rank = mean over datasets of ``metric_error.rank()``
  (average ties, errors rounded to 5 decimals); ``rank1`` = datasets ranked first; ``bestdiff``
  = mean of 1 - best_error / error; ``loss_rescaled`` = mean of (error - best) / (worst - best);
  ``normalized_score`` = mean of (error_ref - error) / (error_ref - best) (AMLB's scaling: 0 =
  the reference framework, ``constantpredictor`` by default, 1 = the best; datasets where the
  reference is best are left out);
* ``winrate``: A vs B = (wins + 0.5 ties) / datasets (``frameworks_winrate.csv``).
"""

from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Sequence

from mlgym.core.errors import MLGymError
from mlgym.tasks.catalog import ResultsReader, plugins

__all__ = ["REFERENCE", "add_arguments", "agent_rows", "attach", "compare", "from_args", "print_frameworks",
           "results_readers", "write_frameworks"]

REFERENCE = "constantpredictor"
RESULT = "result"  # the summary over each task's optimised metric (AMLB's result column), as AutoGluon-Bench ranks
ROW_COLUMNS = ["task", "fold", "metric", "framework", "score", "metric_error", "rank", "kind", "constraint", "source"]
SUMMARY_COLUMNS = ["metric", "framework", "kind", "datasets", "rank", "rank1", "winrate", "normalized_score", "bestdiff",
                   "loss_rescaled", "missing"]


def results_readers() -> list[ResultsReader]:
    """The families that read another project's results files (AMLB's...), in catalog order."""
    return [r for _name, r in plugins("results_readers") if isinstance(r, ResultsReader)]


def add_arguments(p: argparse.ArgumentParser) -> None:
    """``--<format>-results FILE`` for every reader, and ``--reference-framework``."""
    for r in results_readers():
        p.add_argument(f"--{r.results_format}-results", dest=f"results_{r.results_format}", type=Path, action="append",
                       default=[], metavar="FILE", help=f"a {r.results_label} results file: its frameworks become rows beside the "
                                                        f"agents (rank, win rate, normalized score); repeatable")
    p.add_argument("--reference-framework", default=REFERENCE, metavar="NAME",
                   help=f"the framework normalized scores are measured from (default {REFERENCE}: 0 = it, 1 = the best)")


def from_args(args: argparse.Namespace) -> list[tuple[ResultsReader, Path]]:
    return [(r, Path(f)) for r in results_readers() for f in getattr(args, f"results_{r.results_format}", None) or []]


def _direction(row: dict[str, Any], metric: str) -> str:
    from mlgym.core.metrics import METRICS, canonical

    if row.get("metric") == metric and row.get("direction") in ("higher", "lower"):
        return str(row["direction"])
    name = canonical(metric)
    return METRICS[name].direction if name else "higher"


def _long(row: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """One row per metric of a result (the optimised one first)."""
    metrics: dict[str, Any] = dict(row.get("metrics") or {})
    if row.get("metric") and row.get("score") is not None:
        metrics.setdefault(str(row["metric"]), row["score"])
    out = []
    for i, (m, v) in enumerate(metrics.items()):
        try:
            score = None if v is None else float(v)
        except (TypeError, ValueError):
            continue
        lower = _direction(row, m) == "lower"
        out.append({"task": row["task"], "fold": int(row["fold"]), "metric": m, "framework": row["framework"], "score": score,
                    "metric_error": None if score is None else (score if lower else 1 - score), "kind": kind,
                    "constraint": row.get("constraint") or "", "source": row.get("source") or "", "optimised": i == 0})
    return out


def agent_rows(runs: Sequence[dict[str, Any]], readers: Sequence[ResultsReader]) -> list[dict[str, Any]]:
    """eval's run rows of tasks the readers know, as framework rows named by the run's label."""
    out = []
    for run in runs:
        task = run.get("task")
        key = next((k for r in readers if task and (k := r.run_key(str(task))) is not None), None)
        if key is None:
            continue
        name, fold, constraint = key
        metrics = dict(run.get("metrics") or {}) if run.get("valid_submission") else {}
        if not metrics and run.get("valid_submission") and run.get("score") is not None:
            metrics = {str(run.get("metric")): run["score"]}
        label = run.get("label") or (f"{run.get('agent')} ({run['model']})" if run.get("model") else str(run.get("agent")))
        out.append({"task": name, "fold": fold, "framework": str(label),  # eval's method_of (eval imports this module) "metric": next(iter(metrics), None),
                    "score": next(iter(metrics.values()), None), "metrics": metrics, "constraint": constraint,
                    "source": run.get("log_dir") or "", "direction": None})
    return out


def _rank(errors: dict[str, float]) -> dict[str, float]:
    """pandas' ``Series.rank()`` (average ties) of errors rounded to 5 decimals."""
    r = {k: round(v, 5) for k, v in errors.items()}
    order = sorted(r, key=lambda k: r[k])
    out: dict[str, float] = {}
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and r[order[j + 1]] == r[order[i]]:
            j += 1
        for k in order[i:j + 1]:
            out[k] = (i + j) / 2 + 1
        i = j + 1
    return out


def compare(file_rows: Sequence[dict[str, Any]], run_rows: Sequence[dict[str, Any]], *,
            reference: str = REFERENCE) -> dict[str, Any]:
    """The frameworks table: ``rows``, ``summary``, ``winrate`` (see the module docstring)."""
    long = [x for r in file_rows for x in _long(r, "framework")] + [x for r in run_rows for x in _long(r, "agent")]
    # a run that scored nothing: a missing result on every metric its task has
    long += [{"task": r["task"], "fold": r["fold"], "metric": m, "framework": r["framework"], "score": None,
              "metric_error": None, "kind": "agent", "constraint": r.get("constraint") or "", "source": r.get("source") or ""}
             for r in run_rows if not r.get("metrics") for m in sorted({x["metric"] for x in long if x["task"] == r["task"]})]
    kinds = {r["framework"]: r["kind"] for r in long}
    got: dict[tuple[str, int, str], dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in long:  # several rows of one framework for one cell (repeated runs, seeds): their mean
        if r["metric_error"] is not None:
            got[(r["task"], r["fold"], r["metric"])][r["framework"]].append(r["metric_error"])
            if r.get("optimised"):  # AMLB's result column: each task's optimised metric
                got[(r["task"], r["fold"], RESULT)][r["framework"]].append(r["metric_error"])
    cell = {k: {fw: sum(v) / len(v) for fw, v in errs.items()} for k, errs in got.items()}
    ranks = {k: _rank(v) for k, v in cell.items()}
    for r in long:
        r["rank"] = ranks.get((r["task"], r["fold"], r["metric"]), {}).get(r["framework"]) if r["metric_error"] is not None else None
    long.sort(key=lambda r: (r["task"], r["fold"], r["metric"], r["rank"] is None, r["rank"] or 0, r["framework"]))
    summary: list[dict[str, Any]] = []
    winrate: list[dict[str, Any]] = []
    for metric in [RESULT, *sorted({r["metric"] for r in long})]:
        fws = sorted({r["framework"] for r in long if metric in (RESULT, r["metric"])})
        tasks = sorted({r["task"] for r in long if metric in (RESULT, r["metric"])})
        per: dict[str, dict[str, float]] = {}
        for t in tasks:
            folds = [f for (tt, f, m), errs in cell.items() if tt == t and m == metric and all(fw in errs for fw in fws)]
            if folds:
                per[t] = {fw: sum(cell[(t, f, metric)][fw] for f in folds) / len(folds) for fw in fws}
        n = len(per)
        for fw in fws:
            row: dict[str, Any] = {"metric": metric, "framework": fw, "kind": kinds[fw], "datasets": n, "rank": None, "rank1": 0,
                                   "winrate": None, "normalized_score": None, "bestdiff": None, "loss_rescaled": None,
                                   "missing": sum(1 for t in tasks if not any(fw in errs for (tt, _f, m), errs in cell.items()
                                                                              if tt == t and m == metric))}
            if n:
                rk = [_rank(errs)[fw] for errs in per.values()]
                row["rank"] = sum(rk) / n
                row["rank1"] = sum(1 for x in rk if x == 1)
                row["bestdiff"] = sum(0.0 if e[fw] == 0 else 1 - min(e.values()) / e[fw] for e in per.values()) / n
                row["loss_rescaled"] = sum(0.0 if max(e.values()) == min(e.values())
                                           else (e[fw] - min(e.values())) / (max(e.values()) - min(e.values())) for e in per.values()) / n
                norm = [(e[reference] - e[fw]) / (e[reference] - min(e.values())) for e in per.values()
                        if reference in e and e[reference] != min(e.values())]
                row["normalized_score"] = sum(norm) / len(norm) if norm else None
                wins = []
                for other in fws:
                    if other == fw:
                        continue
                    w = sum(1 for e in per.values() if round(e[fw], 5) < round(e[other], 5))
                    ties = sum(1 for e in per.values() if round(e[fw], 5) == round(e[other], 5))
                    rate = (w + 0.5 * ties) / n
                    wins.append(rate)
                    winrate.append({"metric": metric, "framework": fw, "versus": other, "winrate": rate, "datasets": n})
                row["winrate"] = sum(wins) / len(wins) if wins else None
            summary.append(row)
    summary.sort(key=lambda r: (r["metric"] != RESULT, r["metric"], r["rank"] is None, r["rank"] or 0, r["framework"]))
    return {"reference": reference, "rows": long, "summary": summary, "winrate": winrate,
            "files": sorted({str(r.get("source") or "").rsplit(":", 1)[0] for r in file_rows})}


def attach(table: dict[str, Any], files: Sequence[tuple[ResultsReader, Path]], *, reference: str = REFERENCE) -> dict[str, Any]:
    """``table["frameworks"]`` from the files and the table's runs (nothing when no file is given)."""
    if not files:
        return table
    file_rows = [row for reader, path in files for row in reader.read_results(path)]
    readers = list(dict.fromkeys(r for r, _ in files))
    table["frameworks"] = compare(file_rows, agent_rows(table.get("runs") or [], readers), reference=reference)
    return table


def write_frameworks(table: dict[str, Any], out: Path, write_csv: Callable[[Path, Sequence[dict[str, Any]], Sequence[str]], None]) -> list[Path]:
    """frameworks.csv, frameworks_summary.csv, frameworks_winrate.csv (``write_csv``: eval's CSV writer)."""
    fw = table.get("frameworks")
    if not fw:
        return []
    paths = [out / "frameworks.csv", out / "frameworks_summary.csv", out / "frameworks_winrate.csv"]
    write_csv(paths[0], fw["rows"], ROW_COLUMNS)
    write_csv(paths[1], fw["summary"], SUMMARY_COLUMNS)
    write_csv(paths[2], fw["winrate"], ["metric", "framework", "versus", "winrate", "datasets"])
    return paths


def print_frameworks(table: dict[str, Any], file: Any = None) -> None:
    fw = table.get("frameworks")
    if not fw:
        return
    print(f"\nframeworks and agents (normalized score: 0 = {fw['reference']}, 1 = the best):", file=file)
    print(f"  {'metric':<8} {'framework':<28} {'kind':<9} {'datasets':>8} {'rank':>6} {'winrate':>8} {'norm':>7}", file=file)

    def f(v: Any, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    for r in fw["summary"]:
        print(f"  {r['metric']:<8} {r['framework'][:28]:<28} {r['kind']:<9} {r['datasets']:>8} {f(r['rank'], '.2f'):>6} "
              f"{f(r['winrate'], '.2f'):>8} {f(r['normalized_score'], '.3f'):>7}", file=file)


def check_files(files: Sequence[tuple[ResultsReader, Path]]) -> None:
    for _r, p in files:
        if not p.is_file():
            raise MLGymError(f"{p}: no such results file")
