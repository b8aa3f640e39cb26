"""One self-contained HTML page for a folder of runs: ``mlgym report``.

    mlgym report runs/ --out report.html        # evaluates the runs (as `mlgym eval`)
    mlgym report eval/ --out report.html        # or reuses eval's table.json

The page has the aggregate tables, the figures (inline base64 PNG), a runs table and,
per run, every step: action, arguments, observation, LLM calls, the diff of each file
the step changed (``difflib`` on the stored snapshot objects) and the score of each new
submission.  Nothing is loaded from anywhere: CSS and JS are inline, and the page's
Content-Security-Policy allows only those two blocks (by hash) and ``data:`` images, so
even a mistake in escaping could not run a script.  All text from traces is escaped.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import html
import io
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlgym.core.parsing import Parser
from mlgym.analysis.eval import MAX_RESCORE, method_of
from mlgym.runlog.trace import Trace, load

__all__ = ["main", "render"]

MAX_OBS_CHARS = 10_000
MAX_DIFF_LINES = 400
MAX_DIFF_BYTES = 1_000_000

CSS = """
:root{--fg:#1d2330;--muted:#5b6478;--line:#d9dde5;--bg:#fff;--soft:#f5f7fa;--ok:#1a7f37;--bad:#b42318;--warn:#9a6700}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:var(--fg);background:var(--bg);margin:0 auto;max-width:1280px;padding:16px 24px}
h1{font-size:22px;margin:8px 0}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}
table{border-collapse:collapse;margin:8px 0;font-size:13px}th,td{border:1px solid var(--line);padding:3px 7px;text-align:left;vertical-align:top}
th{background:var(--soft)}td.num{text-align:right;font-variant-numeric:tabular-nums}
.muted{color:var(--muted)}.ok{color:var(--ok);font-weight:600}.bad{color:var(--bad);font-weight:600}.warn{color:var(--warn);font-weight:600}
figure{margin:12px 0}figure img{max-width:100%;border:1px solid var(--line)}figcaption{color:var(--muted);font-size:12px}
details{border:1px solid var(--line);border-radius:6px;margin:6px 0;padding:4px 10px;background:var(--bg)}
details>summary{cursor:pointer;font-weight:600}details.step>summary{font-weight:500}
pre{background:var(--soft);padding:8px;overflow:auto;max-height:480px;white-space:pre-wrap;word-break:break-word;font-size:12px;margin:4px 0}
.diff .add{color:var(--ok)}.diff .del{color:var(--bad)}.diff .hunk{color:#6639ba}
.tag{display:inline-block;border-radius:10px;padding:0 7px;font-size:11px;margin-left:6px;border:1px solid var(--line)}
.tag.err{border-color:var(--bad);color:var(--bad)}.tag.score{border-color:var(--ok);color:var(--ok)}
.controls{position:sticky;top:0;background:var(--bg);padding:6px 0;border-bottom:1px solid var(--line);z-index:1}
input[type=search]{width:320px;padding:4px 8px}button{padding:3px 10px;margin-left:6px}
.hidden{display:none}.figs{display:grid;grid-template-columns:repeat(auto-fit,minmax(520px,1fr));gap:8px;align-items:start}svg.spark{vertical-align:middle}
"""

JS = """
(function(){
  var q=document.getElementById('filter'), rows=document.querySelectorAll('#runs-table tbody tr'),
      runs=document.querySelectorAll('details.run'), status=document.getElementById('js-status');
  function apply(){
    var s=(q.value||'').toLowerCase(), shown=0;
    rows.forEach(function(r){var hit=r.textContent.toLowerCase().indexOf(s)>=0;r.classList.toggle('hidden',!hit);if(hit)shown++;});
    runs.forEach(function(d){d.classList.toggle('hidden',d.getAttribute('data-key').toLowerCase().indexOf(s)<0);});
    status.textContent=shown+' of '+rows.length+' runs shown';
  }
  q.addEventListener('input',apply);
  document.getElementById('expand').addEventListener('click',function(){runs.forEach(function(d){d.open=true;});});
  document.getElementById('collapse').addEventListener('click',function(){document.querySelectorAll('details').forEach(function(d){d.open=false;});});
  apply();
  document.body.setAttribute('data-ready','1');
})();
"""


def esc(x: Any) -> str:
    return html.escape("" if x is None else str(x), quote=True)


def _sha(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None:
        return "–"
    if isinstance(v, bool):
        return "yes" if v else "no"
    if isinstance(v, float):
        return f"{v:+.1%}" if pct else f"{v:.4g}"
    return str(v)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]], attrs: str = "") -> str:
    head = "".join(f"<th>{esc(h)}</th>" for h in headers)
    body = []
    for r in rows:
        cells = []
        for c in r:
            if isinstance(c, tuple):  # (html already safe, css class)
                cells.append(f"<td class=\"{c[1]}\">{c[0]}</td>")
            else:
                num = isinstance(c, (int, float)) and not isinstance(c, bool)
                cls = ' class="num"' if num else ""
                cells.append(f"<td{cls}>{esc(_fmt(c))}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table{attrs}><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _figure(fig: Any, caption: str) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    data = base64.b64encode(buf.getvalue()).decode()
    return f'<figure><img alt="{esc(caption)}" src="data:image/png;base64,{data}"><figcaption>{esc(caption)}</figcaption></figure>'


def _sparkline(points: Sequence[Sequence[Any]], steps: int, baseline: float | None) -> str:
    pts = [(s, v) for s, v in points if v is not None]
    if not pts:
        return ""
    w, h, pad = 160, 36, 3
    vals = [v for _, v in pts] + ([baseline] if baseline is not None else [])
    lo, hi = min(vals), max(vals)
    span = (hi - lo) or 1.0
    xmax = max(steps, pts[-1][0], 1)

    def xy(s: float, v: float) -> str:
        return f"{pad + (w - 2 * pad) * s / xmax:.1f},{h - pad - (h - 2 * pad) * (v - lo) / span:.1f}"

    line = " ".join(xy(s, v) for s, v in pts + [(xmax, pts[-1][1])])
    base = ""
    if baseline is not None:
        y = xy(0, baseline).split(",")[1]
        base = f'<line x1="0" x2="{w}" y1="{y}" y2="{y}" stroke="#888" stroke-dasharray="3,3"/>'
    dots = "".join(f'<circle cx="{xy(s, v).split(",")[0]}" cy="{xy(s, v).split(",")[1]}" r="2" fill="#1f77b4"/>' for s, v in pts)
    return (f'<svg class="spark" width="{w}" height="{h}" viewBox="0 0 {w} {h}" role="img" aria-label="score over steps">'
            f'{base}<polyline fill="none" stroke="#1f77b4" stroke-width="1.5" points="{line}"/>{dots}</svg>')


def _object_text(trace: Trace, digest: str | None) -> tuple[list[str] | None, str]:
    """Lines of a stored file, or None with a note (absent, binary, too large, not stored)."""
    if digest is None:
        return [], ""
    if digest.startswith("skipped:"):
        return None, f"not stored ({digest.split(':', 1)[1]} bytes)"
    if digest.startswith("symlink:"):
        return None, f"symlink to {digest.split(':', 1)[1]}"
    p = trace.object_path(digest)
    try:
        size = p.stat().st_size
        if size > MAX_DIFF_BYTES:
            return None, f"{size:,} bytes, too large to diff"
        data = p.read_bytes()
    except OSError:
        return None, "content not stored"
    if b"\0" in data[:8192]:
        return None, f"binary, {len(data):,} bytes"
    try:
        return data.decode("utf-8").splitlines(keepends=True), ""
    except UnicodeDecodeError:
        return None, f"binary, {len(data):,} bytes"


def _diff_html(trace: Trace, path: str, old: str | None, new: str | None) -> str:
    kind = "added" if old is None else "deleted" if new is None else "modified"
    a, note_a = _object_text(trace, old)
    b, note_b = _object_text(trace, new)
    head = f"<div><code>{esc(path)}</code> <span class=\"muted\">{kind}</span>"
    if a is None or b is None:
        return head + f" <span class=\"muted\">({esc(note_a or note_b)})</span></div>"
    lines = list(difflib.unified_diff(a, b, fromfile=f"a/{path}", tofile=f"b/{path}", n=3))
    extra = ""
    if len(lines) > MAX_DIFF_LINES:
        extra = f"\n… {len(lines) - MAX_DIFF_LINES} more diff lines not shown"
        lines = lines[:MAX_DIFF_LINES]
    out = []
    for ln in lines:
        ln = ln.rstrip("\n")
        cls = ("hunk" if ln.startswith("@@") else "add" if ln.startswith("+") and not ln.startswith("+++")
               else "del" if ln.startswith("-") and not ln.startswith("---") else "")
        out.append(f'<span class="{cls}">{esc(ln)}</span>' if cls else esc(ln))
    return head + f'</div><pre class="diff">{chr(10).join(out)}{esc(extra)}</pre>'


def _clip(text: str, limit: int) -> str:
    if len(text) <= limit:
        return text
    return text[:limit] + f"\n… {len(text) - limit:,} more characters not shown"


def _arguments_html(args: Any, max_obs: int) -> str:
    """Arguments as JSON, except multi-line strings (file contents, edits), shown as they are."""
    if not isinstance(args, dict):
        return f"<div class=\"muted\">arguments</div><pre>{esc(_clip(json.dumps(args, indent=2, ensure_ascii=False), max_obs))}</pre>"
    short = {k: v for k, v in args.items() if not (isinstance(v, str) and "\n" in v)}
    out = []
    if short or not args:
        out.append(f"<div class=\"muted\">arguments</div><pre>{esc(_clip(json.dumps(short, indent=2, ensure_ascii=False), max_obs))}</pre>")
    for k, v in args.items():
        if k not in short:
            out.append(f"<div class=\"muted\">argument <code>{esc(k)}</code></div><pre>{esc(_clip(v, max_obs))}</pre>")
    return "".join(out)


def _run_section(i: int, row: dict[str, Any], max_obs: int) -> str:
    key = " ".join(str(row.get(k) or "") for k in ("task", "agent", "model", "run_id", "log_dir"))
    status = ("<span class=\"ok\">success</span>" if row.get("success") else
              "<span class=\"warn\">valid, no success</span>" if row.get("valid_submission") else "<span class=\"bad\">no valid submission</span>")
    summary = (f"{esc(row.get('task'))} · {esc(method_of(row))} · seed {esc(row.get('seed'))} · "
               f"score {esc(_fmt(row.get('score')))} · improvement {esc(_fmt(row.get('improvement'), pct=True))} · {status}"
               + (" <span class=\"tag err\">cut short</span>" if row.get("cut_short") else ""))
    meta = _table(["field", "value"], [[k, _fmt(row.get(k), pct=True) if k.endswith("improvement") else row.get(k)] for k in (
        "run_id", "log_dir", "metric", "direction", "baseline", "score", "best_score", "best_step", "improvement",
        "best_improvement", "steps", "wall_time", "tokens", "cost", "reason", "scored_from", "error")])
    spark = _sparkline(row.get("scores_by_step") or [], row.get("steps") or 0, row.get("baseline"))
    parts = [f'<details class="run" id="run-{i}" data-key="{esc(key)}"><summary>{summary}</summary>', meta]
    if spark:
        parts.append(f"<p>Score of each submission by step {spark} <span class=\"muted\">(dashed: baseline)</span></p>")
    try:
        trace = load(row["log_dir"])
    except (OSError, ValueError) as e:
        parts.append(f"<p class=\"bad\">trace unreadable: {esc(e)}</p></details>")
        return "".join(parts)
    scores = {s: v for s, v in row.get("scores_by_step") or []}
    state: dict[str, str] = {}
    for rec in trace.records:
        kind = rec.get("type")
        if kind == "reset":
            files = rec.get("files") or {}
            state.update({k: v for k, v in files.items() if v is not None})
            desc = rec.get("task_description")
            parts.append(f"<p class=\"muted\">reset: task {esc(rec.get('task'))}, seed {esc(rec.get('seed'))}, sandbox {esc(rec.get('sandbox'))}; "
                         f"starting files: {esc(', '.join(sorted(files)) or 'none recorded')}</p>")
            if desc:
                parts.append(f"<pre>{esc(_clip(str(desc), max_obs))}</pre>")
        elif kind == "llm":
            parts.append(f"<div class=\"muted\">LLM call: {esc(rec.get('model'))}, "
                         f"{esc(rec.get('prompt_tokens'))} + {esc(rec.get('completion_tokens'))} tokens, "
                         f"${esc(_fmt(rec.get('cost')))}, {esc(_fmt(rec.get('latency')))} s</div>")
        elif kind == "step":
            n = rec.get("step")
            action = rec.get("action") or {}
            tags = ""
            if rec.get("error"):
                tags += '<span class="tag err">error</span>'
            if n in scores:
                tags += f'<span class="tag score">submission scored {esc(_fmt(scores[n]))}</span>'
            files = rec.get("files") or {}
            if files:
                tags += f'<span class="tag">{len(files)} file(s) changed</span>'
            dur = rec.get("duration")
            took = f"{dur:.2f} s" if isinstance(dur, (int, float)) else ""
            body = [f'<details class="step"><summary>Step {esc(n)}: {esc(action.get("name") or "?")}{tags}'
                    f' <span class="muted">{esc(took)}</span></summary>']
            args = action.get("arguments")
            if args is None and rec.get("raw_action") is not None:
                body.append(f"<div class=\"muted\">raw action</div><pre>{esc(_clip(str(rec['raw_action']), max_obs))}</pre>")
            else:
                body.append(_arguments_html(args, max_obs))
            body.append(f"<div class=\"muted\">observation</div><pre>{esc(_clip(str(rec.get('observation') or ''), max_obs))}</pre>")
            for path in sorted(files):
                body.append(_diff_html(trace, path, state.get(path), files[path]))
                if files[path] is None:
                    state.pop(path, None)
                else:
                    state[path] = files[path]
            body.append("</details>")
            parts.append("".join(body))
        elif kind == "result":
            parts.append(f"<p class=\"muted\">result: score {esc(_fmt(rec.get('score')))}, reason {esc(rec.get('reason'))}"
                         f"{', error: ' + esc(rec.get('error')) if rec.get('error') else ''}</p>")
    if trace.cut_short:
        parts.append("<p class=\"warn\">The trace ends in a partial line: the run was killed mid-write.</p>")
    parts.append("</details>")
    return "".join(parts)


def render(table: dict[str, Any], *, max_runs: int = 100, max_obs: int = MAX_OBS_CHARS, figures: bool = True) -> str:
    """The whole page as a string."""
    runs = table["runs"]
    aggs = table["aggregates"]
    prof = table["profiles"]
    out = [f"<h1>mlgym report</h1><p class=\"muted\">{len(runs)} runs, {len({r.get('task') for r in runs if r.get('task')})} task(s); "
           f"made {esc(time.strftime('%Y-%m-%d %H:%M:%S'))}. Definitions: docs/evaluation.md.</p>"]
    out.append("<h2>Per task and agent</h2>")
    out.append(_table(
        ["task", "agent", "model", "runs", "valid", "success rate", "95% CI", "mean improvement (valid)", "95% CI", "mean best improvement",
         "mean tokens", "total cost $"],
        [[a["task"], a["agent"], a["model"], a["n_runs"], a["n_valid"], f"{a['success_rate']:.0%}",
          f"{a['success_ci_low']:.0%} … {a['success_ci_high']:.0%}", _fmt(a["mean_improvement"], True),
          f"{_fmt(a['improvement_ci_low'], True)} … {_fmt(a['improvement_ci_high'], True)}", _fmt(a["mean_best_improvement"], True),
          a["mean_tokens"], a["total_cost"]] for a in aggs]))
    if prof.get("tasks"):
        out.append(f"<h2>AUP (MLGym performance profiles, τ ∈ [0, {esc(prof['max_tau'])}])</h2>")
        out.append(_table(["method", "best attempt AUP", "best submission AUP"],
                          [[m, round(prof["best_attempt"]["methods"][m]["aup"], 4), round(prof["best_submission"]["methods"][m]["aup"], 4)]
                           for m in prof["methods"]]))
    fw = table.get("frameworks")
    if fw:  # --amlb-results: published frameworks beside the agents (mlgym.analysis.frameworks)
        out.append(f"<h2>Frameworks and agents</h2><p class=\"muted\">From {esc(', '.join(fw['files']))}. Normalized score: "
                   f"0 = {esc(fw['reference'])}, 1 = the best; result = each task's optimised metric.</p>")
        out.append(_table(["metric", "framework", "kind", "datasets", "mean rank", "rank 1", "win rate", "normalized score", "missing"],
                          [[r["metric"], r["framework"], r["kind"], r["datasets"], _fmt(r["rank"]), r["rank1"], _fmt(r["winrate"]),
                            _fmt(r["normalized_score"]), r["missing"]] for r in fw["summary"]]))
        out.append(_table(["task", "fold", "metric", "framework", "score", "rank"],
                          [[r["task"], r["fold"], r["metric"], r["framework"], _fmt(r["score"]), _fmt(r["rank"])] for r in fw["rows"]]))
        if figures:
            from mlgym.analysis.plot import plot_frameworks

            out.append(_figure(plot_frameworks(table), "Mean rank and normalized score per framework and agent"))
    if figures and runs:
        from mlgym.analysis.plot import FIGURES

        out.append('<h2>Figures</h2><div class="figs">')
        captions = {"success_rate": "Success rate per task and agent, 95% bootstrap CI", "improvement": "Final improvement of each run",
                    "performance_profiles": "Performance profiles (MLGym)", "score_over_steps": "Score of each submission along each run",
                    "cost_vs_improvement": "LLM cost vs improvement"}
        for name, fn in FIGURES.items():
            out.append(_figure(fn(table), captions[name]))
        out.append("</div>")
    out.append("<h2>Runs</h2>")
    out.append('<div class="controls"><input type="search" id="filter" placeholder="filter runs (task, agent, model, run id)" aria-label="filter runs">'
               '<button id="expand" type="button">expand all runs</button><button id="collapse" type="button">collapse all</button> '
               '<span id="js-status" class="muted"></span></div>')
    rows = []
    for i, r in enumerate(runs):
        link = f'<a href="#run-{i}">{esc(r.get("run_id"))}</a>' if i < max_runs else esc(r.get("run_id"))
        rows.append([(link, ""), r.get("task"), r.get("agent"), r.get("model"), r.get("seed"), r.get("score"), r.get("best_score"),
                     (esc(_fmt(r.get("improvement"), True)), "num"), r.get("success"), r.get("steps"), r.get("wall_time"), r.get("tokens"),
                     r.get("cost"), r.get("error")])
    out.append(_table(["run", "task", "agent", "model", "seed", "score", "best score", "improvement", "success", "steps", "wall s", "tokens", "cost $",
                       "error"],
                      rows, attrs=' id="runs-table"'))
    if len(runs) > max_runs:
        out.append(f"<p class=\"muted\">Step-by-step traces are shown for the first {max_runs} runs of {len(runs)} (--max-runs).</p>")
    out.append("<h2>Traces</h2>")
    for i, r in enumerate(runs[:max_runs]):
        out.append(_run_section(i, r, max_obs))
    body = "\n".join(out)
    csp = f"default-src 'none'; img-src data:; style-src {_sha(CSS)}; script-src {_sha(JS)}; base-uri 'none'; form-action 'none'"
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta http-equiv="Content-Security-Policy" content="{csp}">'
            f'<meta name="referrer" content="no-referrer"><meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>mlgym report</title><style>{CSS}</style></head><body>\n{body}\n<script>{JS}</script></body></html>\n")


def main(argv: Sequence[str] | None = None) -> int:
    from mlgym.analysis.plot import table_from_sources

    p = Parser(prog="mlgym report", description="A self-contained HTML page for a folder of runs.")
    p.add_argument("source", type=Path, help="a folder of runs, or eval's table.json (or its folder)")
    p.add_argument("--out", type=Path, default=Path("report.html"))
    p.add_argument("--max-runs", type=int, default=100, help="runs shown step by step (all are in the runs table)")
    p.add_argument("--max-obs-chars", type=int, default=MAX_OBS_CHARS, help="characters shown per observation")
    p.add_argument("--no-figures", action="store_true")
    p.add_argument("--sandbox", default="local")
    p.add_argument("--max-rescore", type=int, default=MAX_RESCORE)
    from mlgym.analysis import frameworks

    frameworks.add_arguments(p)  # --amlb-results FILE: published frameworks beside the agents
    args = p.parse_args(list(sys.argv[1:] if argv is None else argv))
    table = table_from_sources([args.source], sandbox=args.sandbox, max_rescore=args.max_rescore)
    frameworks.attach(table, frameworks.from_args(args), reference=args.reference_framework)
    page = render(table, max_runs=args.max_runs, max_obs=args.max_obs_chars, figures=not args.no_figures)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(page, encoding="utf-8")
    print(f"wrote {args.out} ({len(page) / 1e6:.1f} MB, {len(table['runs'])} runs)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
