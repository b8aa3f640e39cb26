"""Figures from an evaluation table: ``mlgym plot``.

    mlgym plot eval/table.json --out figs/ --format png,svg
    mlgym plot runs/ --out figs/                 # evaluates the runs first

Writes ``success_rate``, ``improvement``, ``performance_profiles``, ``score_over_steps``
and ``cost_vs_improvement`` in each format.  Every function returns a matplotlib
``Figure`` (Agg backend), so the report and notebooks can use them directly.
"""

from __future__ import annotations

import functools
import sys
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib
import matplotlib.ticker
import numpy as np
from matplotlib.figure import Figure

from mlgym.core.parsing import Parser
from mlgym.core.errors import MLGymError
from mlgym.analysis.eval import MAX_RESCORE, evaluate_runs, load_table, method_of

__all__ = [
    "FIGURES",
    "main",
    "plot_cost_vs_improvement",
    "plot_improvement",
    "plot_pass_at_k",
    "plot_profiles",
    "plot_run",
    "plot_score_over_steps",
    "plot_success",
    "save_all",
]

MAX_RUNS_PER_PANEL = 12  # more runs in a score-over-steps panel: median + IQR per method instead
# Figures are made with the object API (no pyplot, no global backend or rcParams change):
# importing this module leaves a notebook's matplotlib settings alone.
STYLE: dict[Any, Any] = {"font.size": 10, "axes.titlesize": 11, "axes.labelsize": 10, "legend.fontsize": 9,
         "axes.spines.top": False, "axes.spines.right": False, "svg.fonttype": "none", "svg.hashsalt": "mlgym"}


def _styled(fn: Callable[..., Figure]) -> Callable[..., Figure]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Figure:
        with matplotlib.rc_context(STYLE):
            return fn(*args, **kwargs)

    return wrapper


def _subplots(nrows: int = 1, ncols: int = 1, **kw: Any) -> tuple[Figure, Any]:
    figsize = kw.pop("figsize", None)
    fig = Figure(figsize=figsize)
    return fig, fig.subplots(nrows, ncols, **kw)


def _colors(methods: Sequence[str]) -> dict[str, Any]:
    cmap = matplotlib.colormaps["tab10" if len(methods) <= 10 else "tab20"]
    return {m: cmap(i % cmap.N) for i, m in enumerate(methods)}


def _methods(table: dict[str, Any]) -> list[str]:
    return sorted({method_of(r) for r in table["runs"] if r.get("task")})


def _empty(fig: Figure, ax: Any, text: str) -> Figure:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="0.4")
    ax.set_xticks([])
    ax.set_yticks([])
    return fig


def _tick_labels(ax: Any, labels: Sequence[str]) -> None:
    ax.set_xticks(range(len(labels)))
    rotate = len(labels) > 4 or max((len(x) for x in labels), default=0) > 14
    ax.set_xticklabels(labels, rotation=30 if rotate else 0, ha="right" if rotate else "center")


@_styled
def plot_success(table: dict[str, Any]) -> Figure:
    """Success rate (improvement > threshold at the last step) per task and method, 95% CI bars."""
    aggs = table["aggregates"]
    tasks = sorted({a["task"] for a in aggs})
    methods = _methods(table)
    fig, ax = _subplots(figsize=(max(5.0, 1.3 * len(tasks) * max(1, len(methods)) ** 0.5 + 2), 4))
    if not aggs:
        return _empty(fig, ax, "no runs")
    colors = _colors(methods)
    width = 0.8 / max(1, len(methods))
    for j, m in enumerate(methods):
        xs, ys, lo, hi = [], [], [], []
        for i, t in enumerate(tasks):
            a = next((a for a in aggs if a["task"] == t and a["method"] == m), None)
            if a is None:
                continue
            xs.append(i - 0.4 + width * (j + 0.5))
            ys.append(a["success_rate"])
            lo.append(max(0.0, a["success_rate"] - (a["success_ci_low"] or 0)))
            hi.append(max(0.0, (a["success_ci_high"] or 0) - a["success_rate"]))
        ax.bar(xs, ys, width * 0.95, color=colors[m], label=m, yerr=[lo, hi], capsize=3, ecolor="0.25")
        for x, y, h in zip(xs, ys, hi):
            ax.text(x, y + h + 0.015, f"{y:.0%}", ha="center", va="bottom", fontsize=8)
    _tick_labels(ax, tasks)
    ax.set_ylim(0, 1.15)
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_ylabel("success rate (improvement > 10%)")
    ax.set_title("Success rate per task (bars: 95% bootstrap CI)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    return fig


@_styled
def plot_improvement(table: dict[str, Any]) -> Figure:
    """Distribution of the final improvement over the baseline, runs with a valid submission."""
    runs = [r for r in table["runs"] if r.get("valid_submission") and r.get("improvement") is not None]
    tasks = sorted({r["task"] for r in runs})
    methods = _methods(table)
    fig, ax = _subplots(figsize=(max(5.0, 1.3 * len(tasks) * max(1, len(methods)) ** 0.5 + 2), 4))
    if not runs:
        return _empty(fig, ax, "no run has a valid submission")
    colors = _colors(methods)
    width = 0.8 / max(1, len(methods))
    rng = np.random.default_rng(0)  # jitter only
    for j, m in enumerate(methods):
        for i, t in enumerate(tasks):
            vals = [100 * r["improvement"] for r in runs if r["task"] == t and method_of(r) == m]
            if not vals:
                continue
            x = i - 0.4 + width * (j + 0.5)
            if len(vals) >= 3:
                ax.boxplot([vals], positions=[x], widths=width * 0.7, showfliers=False, patch_artist=True,
                           boxprops={"facecolor": (*colors[m][:3], 0.25), "edgecolor": colors[m]},
                           medianprops={"color": colors[m]}, whiskerprops={"color": colors[m]}, capprops={"color": colors[m]})
            ax.scatter(x + rng.uniform(-width * 0.2, width * 0.2, len(vals)), vals, s=14, color=colors[m], zorder=3,
                       label=m if i == min(k for k, tt in enumerate(tasks) if any(
                           rr["task"] == tt and method_of(rr) == m for rr in runs)) else None)
    ax.axhline(0, color="0.5", lw=0.8)
    ax.axhline(10, color="tab:green", lw=0.8, ls="--", label="success threshold (10%)")
    _tick_labels(ax, tasks)
    ax.set_xlim(-0.6, len(tasks) - 0.4)
    ax.set_ylabel("improvement over baseline (%)")
    ax.set_title("Final improvement per run (valid submissions)")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    return fig


@_styled
def plot_profiles(table: dict[str, Any]) -> Figure:
    """MLGym performance profiles rho(tau) for best-attempt and best-submission scores."""
    prof = table["profiles"]
    fig, axes = _subplots(1, 2, figsize=(11, 4), sharey=True)
    if not prof.get("tasks"):
        for ax in axes:
            _empty(fig, ax, "no scored runs")
        return fig
    colors = _colors(prof["methods"])
    styles = ["-", "--", "-.", ":"]
    for ax, kind, title in zip(axes, ("best_attempt", "best_submission"), ("Best attempt", "Best submission")):
        tau = np.asarray(prof[kind]["tau"])
        for i, m in enumerate(prof["methods"]):
            d = prof[kind]["methods"][m]
            ax.step(tau, d["rho"], where="post", color=colors[m], ls=styles[i % len(styles)], lw=1.8,
                    label=f"{m} (AUP {d['aup']:.3f})")
        ax.set_title(f"{title} ({len(prof['tasks'])} task(s))")
        ax.set_xlabel(r"$\tau$  (log$_{10}$ of the ratio to the best score)")
        ax.set_xlim(0, prof["max_tau"])
        ax.set_ylim(-0.02, 1.05)
        ax.legend(loc="lower right", frameon=False)
        ax.grid(alpha=0.3)
    axes[0].set_ylabel(r"$\rho(\tau)$: share of tasks within $\tau$")
    fig.tight_layout()
    return fig


def _current_scores(run: dict[str, Any], n: int) -> np.ndarray:
    """Score of the submission in place after each step 0..n-1 (NaN before the first one)."""
    cur = np.full(n, np.nan)
    for s, v in sorted((s, v) for s, v in run["scores_by_step"] if v is not None):
        if s < n:
            cur[s:] = v
    return cur


@_styled
def plot_score_over_steps(table: dict[str, Any], runs: Sequence[dict[str, Any]] | None = None) -> Figure:
    """Score of the submission in place after each step, one panel per task (baseline dashed).

    With at most ``MAX_RUNS_PER_PANEL`` runs in a panel every run is a line; with more,
    each method is its median over runs with the interquartile range shaded.
    """
    runs = [r for r in (runs if runs is not None else table["runs"]) if r.get("task") and r.get("scores_by_step")]
    tasks = sorted({r["task"] for r in runs})
    n = max(1, len(tasks))
    cols = min(3, n)
    rows_ = (n + cols - 1) // cols
    fig, axes = _subplots(rows_, cols, figsize=(4.6 * cols + 2, 3.4 * rows_), squeeze=False)
    flat = axes.ravel()
    if not runs:
        _empty(fig, flat[0], "no scored submissions")
        return fig
    methods = _methods(table) or sorted({method_of(r) for r in runs})
    colors = _colors(methods)
    seen: set[str] = set()
    summarised = False
    for ax, t in zip(flat, tasks):
        trs = [r for r in runs if r["task"] == t]
        length = max(max(r["steps"] or 0, max(s for s, _ in r["scores_by_step"])) for r in trs) + 1
        if len(trs) <= MAX_RUNS_PER_PANEL:
            for r in trs:
                m = method_of(r)
                cur = _current_scores(r, (r["steps"] or 0) + 1)
                ax.step(np.arange(cur.size), cur, where="post", color=colors.get(m, "0.3"), alpha=0.85, lw=1.4,
                        label=None if m in seen else m)
                pts = [(s, v) for s, v in r["scores_by_step"] if v is not None]
                ax.plot([p[0] for p in pts], [p[1] for p in pts], "o", ms=3.5, color=colors.get(m, "0.3"))
                seen.add(m)
        else:
            summarised = True
            x = np.arange(length)
            for m in methods:
                mat = np.array([_current_scores(r, length) for r in trs if method_of(r) == m])
                if mat.size == 0:
                    continue
                ok = (~np.isnan(mat)).sum(axis=0) > 0
                if not ok.any():
                    continue
                with warnings.catch_warnings():  # all-NaN columns (before any submission) are masked below
                    warnings.simplefilter("ignore", RuntimeWarning)
                    med = np.nanmedian(mat, axis=0)
                    q1, q3 = np.nanpercentile(mat, 25, axis=0), np.nanpercentile(mat, 75, axis=0)
                ax.step(x[ok], med[ok], where="post", color=colors[m], lw=1.8, label=None if m in seen else m)
                ax.fill_between(x[ok], q1[ok], q3[ok], step="post", color=colors[m], alpha=0.12, lw=0)
                seen.add(m)
        base = next((r["baseline"] for r in trs if r.get("baseline") is not None), None)
        if base is not None:
            ax.axhline(base, color="0.3", ls="--", lw=1, label="task baseline score" if "baseline line" not in seen else None)
            seen.add("baseline line")
        metric = next((r["metric"] for r in trs if r.get("metric")), "score")
        direction = next((r["direction"] for r in trs if r.get("direction")), "higher")
        ax.set_title(f"{t}: {metric} ({direction} is better), {len(trs)} run(s)")
        ax.set_xlabel("step")
        ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    for ax in flat[len(tasks):]:
        ax.axis("off")
    fig.legend(loc="upper left", bbox_to_anchor=(1.0, 0.95), frameon=False)
    how = "median over runs, shaded: interquartile range" if summarised else "one line per run, dots: a new submission scored"
    fig.suptitle(f"Score of the submission in place after each step ({how})", y=1.0)
    fig.tight_layout()
    return fig


@_styled
def plot_run(row: dict[str, Any]) -> Figure:
    """Score over steps for one run."""
    fig = plot_score_over_steps({"runs": [row]}, [row])
    fig.suptitle(f"{row.get('task')} · {method_of(row)} · seed {row.get('seed')} · {row.get('run_id')}", y=1.0)
    return fig


@_styled
def plot_cost_vs_improvement(table: dict[str, Any]) -> Figure:
    """LLM cost (USD) of each run against its final improvement."""
    runs = [r for r in table["runs"] if r.get("task")]
    fig, ax = _subplots(figsize=(6.5, 4))
    if not runs:
        return _empty(fig, ax, "no runs")
    methods = _methods(table)
    colors = _colors(methods)
    any_cost = any((r.get("cost") or 0) > 0 for r in runs)
    for m in methods:
        rs = [r for r in runs if method_of(r) == m and r.get("improvement") is not None]
        if rs:
            ax.scatter([r.get("cost") or 0.0 for r in rs], [100 * r["improvement"] for r in rs], s=22, color=colors[m], label=m, alpha=0.85)
    ax.axhline(10, color="tab:green", lw=0.8, ls="--", label="success threshold (10%)")
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set_xlabel("LLM cost per run (USD)")
    ax.set_ylabel("improvement over baseline (%)")
    ax.set_title("Cost vs improvement" + ("" if any_cost else " (no LLM cost recorded)"))
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


FIGURES = {
    "success_rate": plot_success,
    "improvement": plot_improvement,
    "performance_profiles": plot_profiles,
    "score_over_steps": plot_score_over_steps,
    "cost_vs_improvement": plot_cost_vs_improvement,
}


@_styled
def plot_pass_at_k(table: dict[str, Any]) -> Figure:
    """Pass@k against k per method: first k attempts (solid) and Chen et al.'s unbiased estimator (dashed)."""
    pk = table.get("pass_at_k") or {"ks": [], "methods": []}
    fig, ax = _subplots(figsize=(6, 4))
    methods = [m for m in pk["methods"] if any(m[f"pass@{k}"] is not None for k in pk["ks"])]
    if not methods:
        return _empty(fig, ax, "no task with enough attempts")
    colors = _colors([m["method"] for m in methods])
    for m in methods:
        ks = [k for k in pk["ks"] if m[f"pass@{k}"] is not None]
        ax.plot(ks, [m[f"pass@{k}"] for k in ks], "o-", color=colors[m["method"]], label=f"{m['method']}: first k")
        ax.plot(ks, [m[f"pass@{k}_unbiased"] for k in ks], "s--", color=colors[m["method"]], label=f"{m['method']}: unbiased")
    ax.set_xticks(pk["ks"])
    ax.set_xlabel("k (attempts)")
    ax.set_ylim(-0.02, 1.05)
    ax.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    ax.set_ylabel("Pass@k (mean over tasks)")
    ax.set_title("Pass@k: first k attempts vs unbiased estimator")
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    fig.tight_layout()
    return fig


@_styled
def plot_frameworks(table: dict[str, Any]) -> Figure:
    """Published frameworks and agents (``mlgym eval --amlb-results``): mean rank and normalized score
    over each task's optimised metric (mlgym.analysis.frameworks)."""
    fw = table.get("frameworks") or {}
    rows = [r for r in fw.get("summary", []) if r["metric"] == "result" and r["rank"] is not None]
    fig, axes = _subplots(1, 2, figsize=(11, max(3.0, 0.35 * len(rows) + 1.5)))
    if not rows:
        return _empty(fig, axes[0], "no dataset every framework has a result on")
    names = [r["framework"] for r in rows]
    colors = ["tab:orange" if r["kind"] == "agent" else "tab:blue" for r in rows]
    y = np.arange(len(rows))
    axes[0].barh(y, [r["rank"] for r in rows], color=colors)
    axes[0].set_yticks(y, names)
    axes[0].invert_yaxis()
    axes[0].set_xlabel(f"mean rank over {rows[0]['datasets']} dataset(s) (lower is better)")
    axes[1].barh(y, [r["normalized_score"] or 0.0 for r in rows], color=colors)
    axes[1].set_yticks(y, [""] * len(rows))
    axes[1].invert_yaxis()
    axes[1].set_xlabel(f"normalized score (0 = {fw.get('reference')}, 1 = the best)")
    fig.suptitle("Frameworks (blue) and agents (orange) on each task's optimised metric")
    fig.tight_layout()
    return fig


def _save(fig: Figure, base: Path, formats: Sequence[str]) -> list[Path]:
    written = []
    with matplotlib.rc_context(STYLE):
        for fmt in formats:
            path = base.with_name(f"{base.name}.{fmt}")
            fig.savefig(path, dpi=130, bbox_inches="tight", metadata={"Date": None} if fmt == "svg" else None)
            written.append(path)
    return written


def save_all(table: dict[str, Any], out: Path, formats: Sequence[str] = ("png", "svg"), per_run: int = 0) -> list[Path]:
    """Every figure in every format under ``out``; plus ``runs/<run_id>`` for the first ``per_run`` runs."""
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, fn in FIGURES.items():
        written += _save(fn(table), out / name, formats)
    if any(t.get("metric") == "pass" for t in (table.get("pass_at_k") or {}).get("tasks", [])):  # pass/fail tasks (ML-Bench)
        written += _save(plot_pass_at_k(table), out / "pass_at_k", formats)
    if table.get("frameworks"):  # --amlb-results
        written += _save(plot_frameworks(table), out / "frameworks", formats)
    runs = [r for r in table["runs"] if r.get("scores_by_step")][:per_run]
    if runs:
        (out / "runs").mkdir(exist_ok=True)
    for r in runs:
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in str(r.get("run_id") or "run"))
        written += _save(plot_run(r), out / "runs" / safe, formats)
    return written


def table_from_sources(sources: Sequence[Path], *, sandbox: str = "local", max_rescore: int = MAX_RESCORE) -> dict[str, Any]:
    """A table.json path / a folder holding one, or folders of runs to evaluate now."""
    if len(sources) == 1 and (sources[0].suffix == ".json" or (sources[0] / "table.json").is_file()):
        return load_table(sources[0])
    return evaluate_runs(sources, sandbox=sandbox, max_rescore=max_rescore)


def main(argv: Sequence[str] | None = None) -> int:
    p = Parser(prog="mlgym plot", description="Figures from `mlgym eval` output or from folders of runs.")
    p.add_argument("sources", nargs="+", type=Path, help="table.json (or its folder), or folders of runs")
    p.add_argument("--out", type=Path, default=Path("figures"), help="output folder")
    p.add_argument("--format", default="png,svg", help="comma-separated: png, svg, pdf")
    p.add_argument("--per-run", type=int, default=10, help="also draw score over steps for the first N runs (runs/<run_id>)")
    p.add_argument("--sandbox", default="local")
    p.add_argument("--max-rescore", type=int, default=MAX_RESCORE)
    from mlgym.analysis import frameworks

    frameworks.add_arguments(p)  # --amlb-results FILE: published frameworks beside the agents
    args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    formats = [f.strip().lower() for f in args.format.split(",") if f.strip()]
    bad = [f for f in formats if f not in ("png", "svg", "pdf")]
    if bad or not formats:
        raise MLGymError(f"--format: expected png, svg or pdf, got {args.format!r}")
    table = table_from_sources(args.sources, sandbox=args.sandbox, max_rescore=args.max_rescore)
    frameworks.attach(table, frameworks.from_args(args), reference=args.reference_framework)
    for path in save_all(table, args.out, formats, per_run=args.per_run):
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
