"""``mlgym view RUNS... --port P``: a live local web viewer over run log folders.

Standard library only (``http.server``), no build step: every page is rendered on the
server (so a plain HTTP GET sees the links, the model replies and the observations) and a
small inline script keeps it live by polling JSON endpoints that return HTML fragments.

    mlgym view runs/ more_runs/ --port 8765 [--host 127.0.0.1]     (the command: mlgym.cli.view)

Pages and endpoints
    GET /                         runs index (server-rendered first page; filter/sort/page via query)
    GET /compare                  task x label table: n, done, errors, success rate, mean improvement
    GET /run/<k>/<rel>            one run: header + timeline (steps, LLM calls, research log, result)
    GET /api/runs?q=&sort=&desc=&page=&size=   JSON rows (machine use)
    GET /api/index?...            {"html": <tbody>, "pager": ..., "total", "version"} for the live index
    GET /api/run/<k>/<rel>?offset=N   {"offset", "html" (records after byte N), "head", "status"}
    GET /api/record/<k>/<rel>?i=I     one record's full JSON (lazy: prompts, long observations)

Speed on many runs: the index holds one small summary per run, keyed by
(trace size, trace mtime, result.json mtime); a rescan (at most every ``min_scan`` s) costs
a directory walk plus two ``stat`` per run, and only changed runs are read again.  A
finished run is summarised from ``result.json`` and the first line of ``trace.jsonl``; a
run still being written from its trace, parsed incrementally from the last byte offset.

It reads plain folders (``trace.jsonl``, ``result.json``, ``objects/``) and never writes into
them; statuses and labels come from :mod:`mlgym.runlog.status` (the same functions eval,
report and bench use).  A run without ``result.json`` is ``running`` while its trace writer
holds its lock (else while its trace changed less than ``stale_after`` seconds ago), else
``interrupted``.
"""

from __future__ import annotations

import base64
import difflib
import gzip
import html
import json
import os
import re
import secrets
import logging
import threading
import time
from collections import OrderedDict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterable
from urllib.parse import parse_qs, quote, unquote, urlsplit

from mlgym.runlog.status import ENDED, STATUSES, lock_held, run_label, run_status

log = logging.getLogger("mlgym")

TRACE = "trace.jsonl"
RESULT = "result.json"
OBJECTS = "objects"
_DIGEST = re.compile(r"^[0-9a-f]{64}$")
_FIRST_LINE_CAP = 1 << 20  # the reset record is read whole up to this size; beyond: task etc. only by regex
MAX_INLINE = 20_000  # characters of an observation / reply shown before "show all"
MAX_DIFF_BYTES = 512 * 1024
MAX_DIFF_LINES = 400
PAGE_SIZE = 100


# ====================================================================== reading runs
def find_runs(roots: Iterable[Path]) -> dict[Path, int]:
    """Every folder holding ``trace.jsonl`` under ``roots`` -> the index of its root.

    ``os.scandir`` walk; a run's own sub-folders (objects/) and hidden folders
    (``.workspaces``) are not entered.
    """
    found: dict[Path, int] = {}
    for k, root in enumerate(roots):
        stack = [root]
        while stack:
            d = stack.pop()
            try:
                with os.scandir(d) as it:
                    entries = list(it)
            except OSError:
                continue
            if any(e.name == TRACE for e in entries):
                found.setdefault(d, k)
                continue
            for e in entries:
                if e.name != OBJECTS and not e.name.startswith(".") and e.is_dir(follow_symlinks=False):
                    stack.append(Path(e.path))
    return found


def _stat_key(d: str) -> tuple[Any, ...] | None:
    try:
        st = os.stat(os.path.join(d, TRACE))
    except OSError:
        return None
    try:
        rt = os.stat(os.path.join(d, RESULT)).st_mtime_ns
    except OSError:
        rt = None
    return (st.st_size, st.st_mtime_ns, rt)


def _read_json(path: str | Path) -> dict[str, Any] | None:
    try:
        with open(path, "rb") as f:
            v = json.loads(f.read())
        return v if isinstance(v, dict) else None
    except (OSError, ValueError):
        return None


def _first_record(path: str | Path) -> dict[str, Any]:
    try:
        with open(path, "rb") as f:
            line = f.readline(_FIRST_LINE_CAP)
    except OSError:
        return {}
    try:
        rec = json.loads(line)
        return rec if isinstance(rec, dict) else {}
    except ValueError:  # a huge or torn first line: the few keys the index needs
        out = {}
        for key in ("task", "run_id", "agent", "model", "label"):
            m = re.search(rb'"%s": ?"([^"\\]{0,200})"' % key.encode(), line)
            if m:
                out[key] = m.group(1).decode(errors="replace")
        return out


class TraceTail:
    """``trace.jsonl`` parsed incrementally: each ``update`` reads only the bytes appended since.

    ``records[i]`` ends at byte ``ends[i]``; a partial last line (being written, or torn by a
    kill) is left for the next update.  A file that shrank (a torn line moved aside on
    resume) is read again from the start.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.records: list[dict[str, Any]] = []
        self.ends: list[int] = []
        self.offset = 0
        self.bad = 0
        self.lock = threading.Lock()

    def update(self) -> bool:
        with self.lock:
            try:
                size = os.stat(self.path).st_size
            except OSError:
                return False
            if size < self.offset:
                self.records, self.ends, self.offset, self.bad = [], [], 0, 0
            if size == self.offset:
                return False
            with open(self.path, "rb") as f:
                f.seek(self.offset)
                data = f.read(size - self.offset)
            cut = data.rfind(b"\n")
            if cut < 0:
                return False
            pos = self.offset
            for raw in data[: cut + 1].split(b"\n")[:-1]:
                pos += len(raw) + 1
                try:
                    rec = json.loads(raw)
                except ValueError:
                    rec = None
                if isinstance(rec, dict):
                    self.records.append(rec)
                    self.ends.append(pos)
                elif raw.strip():
                    self.bad += 1
            self.offset = pos
            return True


class Accum:
    """Totals of a trace still being written, advanced from the last byte read (no records kept)."""

    __slots__ = ("offset", "steps", "cost", "tokens", "llm_calls", "last_action", "reset")

    def __init__(self) -> None:
        self.offset, self.steps, self.cost, self.tokens, self.llm_calls = 0, 0, 0.0, 0, 0
        self.last_action: str | None = None
        self.reset: dict[str, Any] = {}

    def update(self, path: str, size: int) -> None:
        if size < self.offset:  # rewritten (a torn line moved aside): start over
            self.offset, self.steps, self.cost, self.tokens, self.llm_calls = 0, 0, 0.0, 0, 0
            self.last_action, self.reset = None, {}
        if size == self.offset:
            return
        try:
            with open(path, "rb") as f:
                f.seek(self.offset)
                data = f.read(size - self.offset)
        except OSError:
            return
        cut = data.rfind(b"\n")
        if cut < 0:
            return
        for raw in data[: cut + 1].split(b"\n")[:-1]:
            try:
                r = json.loads(raw)
            except ValueError:
                continue
            if not isinstance(r, dict):
                continue
            kind = r.get("type")
            if kind == "step":
                self.steps = max(self.steps, int(r.get("step") or 0))
                self.last_action = str((r.get("action") or {}).get("name"))
            elif kind == "llm":
                self.cost += float(r.get("cost") or 0)
                self.tokens += int(r.get("prompt_tokens") or 0) + int(r.get("completion_tokens") or 0)
                self.llm_calls += 1
            elif kind == "reset":
                self.reset = {k: r.get(k) for k in ("task", "run_id", "seed", "agent", "model", "label", "agent_config")}
        self.offset += cut + 1


def summarize(d: str, key: tuple[Any, ...], acc: Accum | None, *, now: float, stale_after: float) -> dict[str, Any]:
    """One index row.  A finished run: its ``result.json`` only (one small read).  Otherwise the
    trace's totals from ``acc``, advanced over the bytes appended since the last call."""
    result = _read_json(os.path.join(d, RESULT)) if key[2] is not None else None
    finished = result is not None and (result.get("status") in ENDED or result.get("episode_finished") is not False)
    if result is not None and finished:
        src: dict[str, Any] = result
        steps, cost, tokens, llm_calls, last = src.get("steps"), src.get("llm_cost"), src.get("llm_tokens"), src.get("llm_calls"), None
        reset: dict[str, Any] = {}
        if not src.get("agent"):
            reset = _first_record(os.path.join(d, TRACE))
    else:
        assert acc is not None
        acc.update(os.path.join(d, TRACE), key[0])
        src, reset = {}, acc.reset
        steps, cost, tokens, llm_calls, last = acc.steps, round(acc.cost, 6), acc.tokens, acc.llm_calls, acc.last_action
    agent = src.get("agent") or reset.get("agent")
    model = src.get("model") or reset.get("model")
    return {
        "task": src.get("task") or reset.get("task"),
        "agent": agent,
        "model": model,
        "label": run_label(src, reset),
        "seed": src.get("seed", reset.get("seed")),
        "status": run_status(result, live=None if finished else lock_held(d), mtime=key[1] / 1e9, now=now, stale_after=stale_after),
        "reason": src.get("reason") or (f"at step {steps}: {last}" if last else None),
        "score": src.get("score"),
        "improvement": src.get("improvement"),
        "solved": src.get("success") if finished else None,
        "error": src.get("error"),
        "cost": cost,
        "tokens": tokens,
        "llm_calls": llm_calls,
        "steps": steps,
        "wall_time": src.get("wall_time"),
        "updated": key[1] / 1e9,
        "run_id": src.get("run_id") or reset.get("run_id") or os.path.basename(d),
    }


class _Entry:
    __slots__ = ("key", "row", "acc", "dir_mtime", "root")

    def __init__(self, root: int) -> None:
        self.key: tuple[Any, ...] | None = None
        self.row: dict[str, Any] = {}
        self.acc: Accum | None = None
        self.dir_mtime = 0
        self.root = root


class RunIndex:
    """The summaries of every run under ``roots``, refreshed cheaply (see the module docstring).

    A rescan stats each directory once: a folder whose mtime did not change keeps its cached
    list of sub-folders, and a finished run whose folder did not change (``result.json`` is
    written by rename, which changes it) is not looked at again.  Runs without ``result.json``
    get their trace stat-ed and only its new bytes read.  ``start()`` rescans in a background
    thread, so no request ever waits for a scan.
    """

    def __init__(self, roots: list[Path], *, interval: float = 2.0, stale_after: float = 900.0, max_tails: int = 32, workers: int = 8) -> None:
        self.roots = [Path(r).resolve() for r in roots]
        self.interval = interval
        self.stale_after = stale_after
        self.max_tails = max_tails
        self.workers = workers
        self.entries: dict[str, _Entry] = {}
        self.rows: dict[str, dict[str, Any]] = {}  # replaced whole after each scan: readers need no lock
        self.root_of: dict[str, int] = {}
        self._dirs: dict[str, tuple[int, bool, list[str]]] = {}
        self.tails: OrderedDict[Path, TraceTail] = OrderedDict()
        self.version = 0  # bumps when any row changed
        self.scanning = False
        self.scans = 0
        self.last_scan_seconds = 0.0
        self._lock = threading.Lock()
        self._scan_lock = threading.Lock()
        self._stop = threading.Event()

    # -------------------------------------------------------------- scanning
    def _walk(self) -> Iterable[tuple[str, int, int]]:
        """(run folder, its mtime, root index) for every run, listing only folders that changed."""
        for k, root in enumerate(self.roots):
            stack = [str(root)]
            while stack:
                d = stack.pop()
                try:
                    mt = os.stat(d).st_mtime_ns
                except OSError:
                    continue
                cached = self._dirs.get(d)
                if cached is not None and cached[0] == mt:
                    is_run, children = cached[1], cached[2]
                else:
                    try:
                        with os.scandir(d) as it:
                            ents = list(it)
                    except OSError:
                        continue
                    is_run = any(e.name == TRACE for e in ents)
                    children = [] if is_run else [e.path for e in ents
                                                  if e.name != OBJECTS and not e.name.startswith(".") and e.is_dir(follow_symlinks=False)]
                    self._dirs[d] = (mt, is_run, children)
                if is_run:
                    yield d, mt, k
                else:
                    stack.extend(children)

    def refresh(self, force: bool = False) -> None:
        """One rescan (the background thread calls this every ``interval`` seconds)."""
        with self._scan_lock:
            self.scanning = True
            t0 = time.perf_counter()
            now = time.time()
            seen: set[str] = set()
            todo: list[tuple[str, _Entry, tuple[Any, ...]]] = []
            changed = False
            for d, mt, k in self._walk():
                seen.add(d)
                e = self.entries.get(d)
                if e is None:
                    e = self.entries[d] = _Entry(k)
                    self.root_of[d] = k
                elif e.dir_mtime == mt and e.row and e.row["status"] in ("success", "error", "cancelled"):
                    continue  # finished, and nothing added or renamed in its folder since
                e.dir_mtime = mt
                key = _stat_key(d)
                if key is None:
                    continue
                if e.key == key and e.row:
                    if e.row["status"] in ("running", "interrupted"):  # status moves with time (and the lock) alone
                        st = run_status(None, live=lock_held(d), mtime=key[1] / 1e9, now=now, stale_after=self.stale_after)
                        if st != e.row["status"]:
                            e.row = {**e.row, "status": st}
                            changed = True
                    continue
                todo.append((d, e, key))
            if todo:
                changed = True
                def one(item: tuple[str, _Entry, tuple[Any, ...]]) -> None:
                    d, e, key = item
                    if key[2] is None and e.acc is None:
                        e.acc = Accum()
                    row = summarize(d, key, e.acc, now=now, stale_after=self.stale_after)
                    if row["status"] in ("success", "error", "cancelled"):
                        e.acc = None
                    row["path"] = d
                    row["href"] = run_href(e.root, str(self.roots[e.root]), d)
                    e.row, e.key = row, key
                if len(todo) > 16 and self.workers > 1:
                    from concurrent.futures import ThreadPoolExecutor
                    with ThreadPoolExecutor(self.workers) as pool:
                        list(pool.map(one, todo))
                else:
                    for item in todo:
                        one(item)
            for d in set(self.entries) - seen:
                del self.entries[d]
                self.root_of.pop(d, None)
                changed = True
            if changed or force:
                self.rows = {d: e.row for d, e in self.entries.items() if e.row}
            if changed:
                self.version += 1
            self.scans += 1
            self.last_scan_seconds = time.perf_counter() - t0
            self.scanning = False

    def start(self) -> threading.Thread:
        def loop() -> None:
            while not self._stop.is_set():
                try:
                    self.refresh()
                except Exception as e:  # noqa: BLE001 - keep serving the last index
                    log.warning("view: scan failed: %s: %s", type(e).__name__, e)
                self._stop.wait(self.interval)
        t = threading.Thread(target=loop, name="view-index", daemon=True)
        t.start()
        return t

    def stop(self) -> None:
        self._stop.set()

    def tail(self, d: Path) -> TraceTail:
        with self._lock:
            t = self.tails.get(d)
            if t is None:
                t = self.tails[d] = TraceTail(d / TRACE)
            self.tails.move_to_end(d)
            while len(self.tails) > self.max_tails:
                self.tails.popitem(last=False)
            return t

    def query(self, q: str = "", sort: str = "updated", desc: bool = True, page: int = 0, size: int = PAGE_SIZE) -> tuple[list[dict[str, Any]], int]:
        rows = list(self.rows.values())
        for tok in q.split():
            if ":" in tok:
                k, v = tok.split(":", 1)
                rows = [r for r in rows if v.lower() in str(r.get(k, "")).lower()]
            else:
                t = tok.lower()
                rows = [r for r in rows if t in _haystack(r)]
        def keyf(r: dict[str, Any]) -> tuple[int, Any]:
            v = r.get(sort)
            if v is None:
                return (0 if desc else 1, 0)  # missing values last either way
            return (1 if desc else 0, v if isinstance(v, (int, float)) else str(v).lower())
        try:
            rows.sort(key=keyf, reverse=desc)
        except TypeError:
            rows.sort(key=lambda r: str(r.get(sort)), reverse=desc)
        total = len(rows)
        return rows[page * size : (page + 1) * size], total

    def locate(self, k: int, rel: str) -> Path | None:
        """The run folder of a ``/run/<k>/<rel>`` link, only when it is a run the index knows."""
        if not 0 <= k < len(self.roots):
            return None
        d = os.path.realpath(os.path.join(self.roots[k], rel)) if rel else str(self.roots[k])
        if d not in self.rows:
            self.refresh()
        return Path(d) if d in self.rows else None


def _haystack(r: dict[str, Any]) -> str:
    return " ".join(str(r.get(k) or "") for k in ("task", "agent", "model", "label", "status", "reason", "path", "error")).lower()


def run_href(k: int, root: str, d: str) -> str:
    rel = os.path.relpath(d, root).replace(os.sep, "/") if d != root else ""
    return f"/run/{k}/{quote(rel)}"


# ====================================================================== rendering
E = html.escape


def _fmt(v: Any, kind: str = "") -> str:
    if v is None:
        return "–"
    if kind == "pct" and isinstance(v, (int, float)):
        return f"{round(v, 4) + 0.0:+.2%}"
    if kind == "usd" and isinstance(v, (int, float)):
        return f"${v:.4f}" if v else "$0"
    if kind == "s" and isinstance(v, (int, float)):
        return f"{v:.1f}s"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def _ago(t: float | None) -> str:
    if not t:
        return "–"
    s = time.time() - t
    return f"{s:.0f}s ago" if s < 90 else f"{s / 60:.0f}m ago" if s < 5400 \
        else f"{s / 3600:.1f}h ago" if s < 172800 else time.strftime("%Y-%m-%d", time.localtime(t))


def badge(status: str) -> str:
    return f'<span class="badge s-{E(status)}">{E(status)}</span>'


COLUMNS = [("task", "task"), ("label", "label"), ("model", "model"), ("status", "status"), ("score", "score"),
           ("improvement", "improvement"), ("cost", "cost"), ("steps", "steps"), ("reason", "ended by"), ("updated", "updated")]


def index_rows_html(rows: list[dict[str, Any]]) -> str:
    out = []
    for r in rows:
        err = f' title="{E(str(r["error"]))}"' if r.get("error") else ""
        solved = ' <span class="ok" title="improvement above the task threshold">✓</span>' if r.get("solved") else ""
        out.append(
            f'<tr data-status="{E(r["status"])}"><td><a href="{E(r["href"])}">{E(str(r.get("task") or "?"))}</a></td>'
            f'<td>{E(str(r.get("label") or ""))}</td><td>{E(str(r.get("model") or "–"))}</td><td>{badge(r["status"])}</td>'
            f'<td class="n">{_fmt(r.get("score"))}</td><td class="n">{_fmt(r.get("improvement"), "pct")}{solved}</td>'
            f'<td class="n">{_fmt(r.get("cost"), "usd")}</td><td class="n">{_fmt(r.get("steps"))}</td>'
            f'<td{err}>{E(str(r.get("reason") or "–"))}</td><td>{_ago(r.get("updated"))}</td></tr>'
        )
    return "\n".join(out) or '<tr><td colspan="10" class="muted">no runs match</td></tr>'


def pager_html(total: int, page: int, size: int, counts: dict[str, int]) -> str:
    pages = max(1, (total + size - 1) // size)
    c = " · ".join(f"{badge(s)} {n}" for s, n in counts.items() if n)
    return (f'<span>{total} runs{" · " + c if c else ""}</span> '
            f'<button data-page="{page - 1}" {"disabled" if page <= 0 else ""}>‹ prev</button> '
            f'page {page + 1} of {pages} '
            f'<button data-page="{page + 1}" {"disabled" if page + 1 >= pages else ""}>next ›</button>')


CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#1d2330;background:#f6f7f9}
header{background:#1d2330;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:center}
header a{color:#cfe0ff} main{padding:12px 16px}
table{border-collapse:collapse;width:100%;background:#fff} th,td{padding:4px 8px;border-bottom:1px solid #e3e6ea;text-align:left;vertical-align:top}
th{cursor:pointer;user-select:none;background:#eef0f3;position:sticky;top:0} td.n{text-align:right;font-variant-numeric:tabular-nums}
.badge{padding:1px 7px;border-radius:9px;font-size:12px;color:#fff;background:#777}
.s-success{background:#2e7d32}.s-error{background:#c62828}.s-cancelled{background:#8d6e63}.s-running{background:#1565c0}.s-interrupted{background:#ef6c00}
.ok{color:#2e7d32;font-weight:bold}.muted{color:#888}
#bar{display:flex;gap:8px;align-items:center;margin-bottom:8px;flex-wrap:wrap} #q{width:420px;padding:4px}
.card{background:#fff;border:1px solid #dde1e6;border-radius:6px;margin:8px 0;padding:8px 10px}
.step{border-left:4px solid #1565c0}.llm{border-left:4px solid #7b1fa2;margin-left:24px}.aside{border-left:4px solid #00897b;margin-left:24px}
.result{border-left:4px solid #2e7d32}.resume{border-left:4px solid #ef6c00}.err{border-left-color:#c62828}
.k{color:#666;font-size:12px}
pre{white-space:pre-wrap;word-break:break-word;margin:4px 0;background:#f8f9fb;padding:6px;border-radius:4px;max-height:480px;overflow:auto}
pre.reply{background:#f6f0fa} .diff .a{color:#1b5e20;background:#e8f5e9}.diff .d{color:#b71c1c;background:#ffebee}.diff .h{color:#6a1b9a}
.kv{display:grid;grid-template-columns:max-content 1fr;gap:2px 12px} summary{cursor:pointer}
#live{font-size:12px}
"""

INDEX_JS = """
const st={q:'',sort:'updated',desc:true,page:0,version:null};
const p=new URLSearchParams(location.search);for(const k of ['q','sort','page'])if(p.has(k))st[k]=k=='page'?+p.get(k):p.get(k);
if(p.has('desc'))st.desc=p.get('desc')!='0';
const qi=document.getElementById('q');qi.value=st.q;
async function load(force){
  const u=new URLSearchParams({q:st.q,sort:st.sort,desc:st.desc?1:0,page:st.page});
  history.replaceState(null,'','?'+u);
  const r=await fetch('/api/index?'+u+(force?'':'&since='+(st.version??'')));
  if(r.status==204)return; const j=await r.json(); st.version=j.version;
  document.getElementById('rows').innerHTML=j.html;document.getElementById('pager').innerHTML=j.pager;
  document.querySelectorAll('th[data-k]').forEach(th=>{th.textContent=th.textContent.replace(/ [▾▴]$/,'')+(th.dataset.k==st.sort?(st.desc?' ▾':' ▴'):'')});
  document.getElementById('live').textContent='updated '+new Date().toLocaleTimeString()+' · scan '+j.scan_ms+' ms';
}
let t;qi.addEventListener('input',()=>{clearTimeout(t);t=setTimeout(()=>{st.q=qi.value;st.page=0;load(true)},200)});
document.querySelectorAll('th[data-k]').forEach(th=>th.onclick=()=>{const k=th.dataset.k;st.desc=st.sort==k?!st.desc:true;st.sort=k;load(true)});
document.getElementById('pager').addEventListener('click',e=>{
  const b=e.target.closest('button[data-page]');if(b&&!b.disabled){st.page=+b.dataset.page;load(true)}});
setInterval(()=>load(false).catch(()=>{}),2000);
"""

RUN_JS = """
let off=+document.body.dataset.offset, busy=false;
const api=document.body.dataset.api, tl=document.getElementById('timeline');
async function poll(){
  if(busy)return;busy=true;
  try{
    const r=await fetch(api+'?offset='+off+'&status='+(document.body.dataset.status||''));const j=await r.json();
    if(j.html){const atEnd=innerHeight+scrollY>=document.body.scrollHeight-40;tl.insertAdjacentHTML('beforeend',j.html);
      if(atEnd&&document.getElementById('follow').checked)scrollTo(0,document.body.scrollHeight);}
    if(j.head)document.getElementById('head').innerHTML=j.head; document.body.dataset.status=j.status;
    off=j.offset;document.getElementById('live').textContent=(j.status=='running'?'live · ':'')+'checked '+new Date().toLocaleTimeString();
  }catch(e){}finally{busy=false}
}
setInterval(poll,1000);
document.addEventListener('toggle',async e=>{const d=e.target;if(d.open&&d.dataset.src&&!d.dataset.loaded){d.dataset.loaded=1;
  const r=await fetch(d.dataset.src);const j=await r.json();d.querySelector('.lazy').textContent=j.text;}},true);
"""


def page(title: str, body: str, script: str, nonce: str, attrs: str = "") -> str:
    return (f'<!doctype html><html><head><meta charset="utf-8"><title>{E(title)}</title>'
            f'<meta name="viewport" content="width=device-width"><style>{CSS}</style></head>'
            f'<body{attrs}><header><b>mlgym view</b><a href="/">runs</a><a href="/compare">compare</a>'
            f'<span id="live" class="muted"></span></header><main>{body}</main>'
            f'<script nonce="{nonce}">{script}</script></body></html>')


def index_page(idx: RunIndex, q: str, sort: str, desc: bool, pg: int, nonce: str) -> str:
    rows, total = idx.query(q, sort, desc, pg)
    heads = "".join(f'<th data-k="{k}">{E(n)}{" ▾" if k == sort and desc else " ▴" if k == sort else ""}</th>' for k, n in COLUMNS)
    note = '<p class="muted">indexing… the table fills in as runs are found</p>' if idx.scans == 0 else ""
    body = note + (f'<div id="bar"><input id="q" placeholder="filter: words, or key:value (status:running task:digits label:...)">'
            f'<span id="pager">{pager_html(total, pg, PAGE_SIZE, status_counts(idx))}</span></div>'
            f'<table><thead><tr>{heads}</tr></thead><tbody id="rows">{index_rows_html(rows)}</tbody></table>')
    return page("mlgym runs", body, INDEX_JS, nonce)


def status_counts(idx: RunIndex) -> dict[str, int]:
    c = dict.fromkeys(STATUSES, 0)
    for r in idx.rows.values():
        c[r["status"]] = c.get(r["status"], 0) + 1
    return c


def compare_page(idx: RunIndex, nonce: str) -> str:
    """Task x label: runs, errors (left out of the rates), success rate and mean improvement of the ended runs."""
    cells: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for r in idx.rows.values():
        cells.setdefault((str(r.get("task")), str(r.get("label"))), []).append(r)
    labels = sorted({lb for _, lb in cells})
    tasks = sorted({t for t, _ in cells})
    head = "".join(f"<th>{E(lb)}</th>" for lb in labels)
    body_rows = []
    for t in tasks:
        tds = []
        for lb in labels:
            rs = cells.get((t, lb), [])
            if not rs:
                tds.append('<td class="muted">–</td>')
                continue
            ok = [r for r in rs if r["status"] == "success"]
            err = sum(r["status"] == "error" for r in rs)
            other = len(rs) - len(ok) - err
            imps = [r["improvement"] for r in ok if isinstance(r.get("improvement"), (int, float))]
            sr = sum(bool(r.get("solved")) for r in ok) / len(ok) if ok else None
            tds.append(f'<td>n={len(rs)} · solved {_fmt(sr, "pct").lstrip("+") if sr is not None else "–"} · '
                       f'mean imp {_fmt(sum(imps) / len(imps), "pct") if imps else "–"}'
                       f'{f" · <b>{err} error</b>" if err else ""}{f" · {other} running/interrupted/cancelled" if other else ""}</td>')
        body_rows.append(f"<tr><td>{E(t)}</td>{''.join(tds)}</tr>")
    body = (f'<p class="muted">Success rate and mean improvement over runs that ended (status success); errors are the '
            f'harness\'s or a service\'s failures and are counted apart.</p>'
            f'<table><thead><tr><th>task</th>{head}</tr></thead><tbody>{"".join(body_rows)}</tbody></table>')
    return page("mlgym compare", body, "", nonce)


# ---------------------------------------------------------------- one run
def _pre(text: Any, cls: str = "", src: str | None = None) -> str:
    s = text if isinstance(text, str) else json.dumps(text, indent=2, ensure_ascii=False)
    if len(s) > MAX_INLINE and src:
        return (f'<pre class="{cls}">{E(s[:MAX_INLINE])}</pre><details data-src="{E(src)}"><summary>'
                f'show all {len(s):,} characters</summary><pre class="lazy {cls}"></pre></details>')
    return f'<pre class="{cls}">{E(s)}</pre>'


def _obj(d: Path, digest: str | None) -> bytes | None:
    if not digest or not _DIGEST.match(digest):
        return None
    try:
        p = d / OBJECTS / digest[:2] / digest
        if p.stat().st_size > MAX_DIFF_BYTES:
            return None
        return p.read_bytes()
    except OSError:
        return None


def _text(b: bytes | None) -> str | None:
    if b is None or b"\0" in b[:8192]:
        return None
    try:
        return b.decode()
    except UnicodeDecodeError:
        return None


def file_diff(d: Path, path: str, old: str | None, new: str | None) -> str:
    """One changed file against its previous snapshot: a unified diff, or what it is when not text."""
    if new is None:
        return f"<details><summary><code>{E(path)}</code> <span class='k'>deleted</span></summary></details>"
    if new.startswith("skipped:"):
        return f"<div><code>{E(path)}</code> <span class='k'>not stored ({E(new)})</span></div>"
    a, b = _text(_obj(d, old)) if old else "", _text(_obj(d, new))
    if b is None or a is None:
        return f"<div><code>{E(path)}</code> <span class='k'>{'new ' if not old else ''}binary or large file</span></div>"
    lines = list(difflib.unified_diff(a.splitlines(), b.splitlines(), f"a/{path}", f"b/{path}", lineterm="", n=2))
    add = sum(1 for x in lines if x.startswith("+") and not x.startswith("+++"))
    rem = sum(1 for x in lines if x.startswith("-") and not x.startswith("---"))
    shown = lines[:MAX_DIFF_LINES]
    body = "\n".join(
        f'<span class="{"h" if x.startswith("@@") else "a" if x.startswith("+") else "d" if x.startswith("-") else ""}">{E(x)}</span>' for x in shown
    )
    more = f"\n… {len(lines) - MAX_DIFF_LINES} more lines" if len(lines) > MAX_DIFF_LINES else ""
    return (f"<details><summary><code>{E(path)}</code> <span class='k'>{'new file, ' if not old else ''}+{add} −{rem}</span>"
            f"</summary><pre class='diff'>{body}{E(more)}</pre></details>")


def _args(action: dict[str, Any]) -> str:
    args = action.get("arguments")
    if not args:
        return ""
    if isinstance(args, dict) and all(isinstance(v, (str, int, float, bool)) and len(str(v)) < 120 and "\n" not in str(v) for v in args.values()):
        return "<div class='kv'>" + "".join(f"<span class='k'>{E(str(k))}</span><code>{E(str(v))}</code>" for k, v in args.items()) + "</div>"
    return _pre(args)


def render_record(d: Path, i: int, r: dict[str, Any], state: dict[str, str], src: str) -> str:
    """One trace record as a card; ``state`` (path -> digest before this record) is advanced."""
    kind = r.get("type")
    rec_src = f"{src}?i={i}"
    if kind == "step":
        action = r.get("action") or {}
        name = action.get("name") or "(unparsed action)"
        files = r.get("files") or {}
        diffs = "".join(file_diff(d, p, state.get(p), dg) for p, dg in files.items())
        _advance(state, files)
        val = r.get("validation")
        extra = []
        if r.get("raw_action") and not action.get("name"):
            extra.append(f"<div class='k'>the action as sent</div>{_pre(r['raw_action'], src=rec_src)}")
        if r.get("traceback"):
            extra.append(f"<details><summary>traceback ({E(str(r.get('error_type')))})</summary>{_pre(r['traceback'])}</details>")
        if r.get("snapshot_error"):
            extra.append(f"<div class='k'>snapshot: {E(str(r['snapshot_error']))}</div>")
        return (f'<div class="card step{" err" if r.get("error") else ""}" id="step-{E(str(r.get("step")))}">'
                f'<b>Step {E(str(r.get("step")))} · {E(str(name))}</b> <span class="k">{_fmt(r.get("duration"), "s")} · '
                f'reward {_fmt(r.get("reward"))}'
                f'{" · validation " + E(_fmt((val or {}).get("score"))) + " (" + _fmt((val or {}).get("improvement"), "pct") + ")" if val else ""}'
                f'{" · error " + E(str(r.get("error_type") or "")) if r.get("error") else ""}</span>'
                f'{_args(action)}<div class="k">observation</div>{_pre(r.get("observation") or "", src=rec_src)}'
                f'{"<div class=k>files</div>" + diffs if diffs else ""}{"".join(extra)}</div>')
    if kind == "llm":
        prompt = r.get("prompt")
        n_msgs = len(prompt) if isinstance(prompt, list) else 0
        tools = r.get("tool_calls")
        msgs = (f'<details data-src="{E(rec_src)}&part=prompt"><summary>prompt: {n_msgs} messages</summary><pre class="lazy"></pre></details>'
                if prompt else f"<div class='k'>prompt not stored (sha256 {E(str(r.get('prompt_sha256'))[:12])})</div>")
        return (f'<div class="card llm"><b>LLM · {E(str(r.get("purpose") or ""))}</b> <span class="k">{E(str(r.get("model")))} · '
                f'{r.get("prompt_tokens", 0)}+{r.get("completion_tokens", 0)} tokens · {_fmt(r.get("cost"), "usd")} · '
                f'{_fmt(r.get("latency"), "s")}{" · cached" if r.get("cached") else ""}</span>{msgs}'
                f'<div class="k">reply</div>{_pre(r.get("completion") or "", "reply", src=rec_src)}'
                f'{"<div class=k>tool calls</div>" + _pre(tools) if tools else ""}</div>')
    if kind == "aside":
        action = r.get("action") or {}
        return (f'<div class="card aside"><b>research log · {E(str(action.get("name")))}</b> <span class="k">after step {E(str(r.get("after_step")))}</span>'
                f'{_args(action)}<div class="k">observation</div>{_pre(r.get("observation") or "", src=rec_src)}</div>')
    if kind == "reset":
        _advance(state, r.get("files") or {})
        lim = r.get("limits") or {}
        return (f'<div class="card"><b>Reset</b> <span class="k">task {E(str(r.get("task")))} · seed {E(str(r.get("seed")))} · '
                f'{E(str(r.get("sandbox")))} · limits {E(json.dumps(lim))}</span>'
                f'<details><summary>first observation (task and tools)</summary>{_pre(r.get("observation") or "", src=rec_src)}</details>'
                f'<div class="k">starting files: {E(", ".join(sorted((r.get("files") or {}).keys())))}</div></div>')
    if kind == "resume":
        return (f'<div class="card resume"><b>Resumed</b> <span class="k">after step {E(str(r.get("steps_so_far")))}, '
                f'{_fmt(r.get("elapsed"), "s")} used</span></div>')
    if kind == "result":
        return f'<div class="card result"><b>Scored</b>{result_html(r)}</div>'
    return f'<div class="card"><b>{E(str(kind))}</b>{_pre({k: v for k, v in r.items() if k != "type"})}</div>'


def _advance(state: dict[str, str], files: dict[str, Any]) -> None:
    for p, dg in files.items():
        if dg is None:
            state.pop(p, None)
        else:
            state[p] = dg


def result_html(r: dict[str, Any]) -> str:
    keys = [("status", r.get("status")), ("ended by", r.get("reason")), ("score", _fmt(r.get("score"))), ("baseline", _fmt(r.get("baseline"))),
            ("improvement", _fmt(r.get("improvement"), "pct")), ("solved", r.get("success")), ("valid submission", r.get("valid_submission")),
            ("steps", r.get("steps")), ("wall time", _fmt(r.get("wall_time"), "s"))]
    kv = "".join(f"<span class='k'>{E(k)}</span><span>{E(str(v))}</span>" for k, v in keys if v is not None)
    err = f"<div class='k'>why it failed</div>{_pre(r['error'])}" if r.get("error") else ""
    fa = f"<div class='k'>final answer</div>{_pre(r['final_answer'])}" if r.get("final_answer") else ""
    return f"<div class='kv'>{kv}</div>{err}{fa}"


def run_head(row: dict[str, Any], result: dict[str, Any] | None) -> str:
    why = ""
    if row["status"] == "interrupted":
        why = "<div class='k'>no result.json and the trace has not changed for a while: the run was interrupted (continue it with --resume)</div>"
    elif row["status"] == "running":
        why = "<div class='k'>being written: new steps appear here as they are recorded</div>"
    cfg = (result or {}).get("agent_config")
    return (f"<h2>{E(str(row.get('task')))} · {E(str(row.get('label')))} {badge(row['status'])}</h2>"
            f"<div class='kv'><span class='k'>agent</span><span>{E(str(row.get('agent')))}</span>"
            f"<span class='k'>model</span><span>{E(str(row.get('model') or '–'))}</span>"
            f"<span class='k'>score</span><span>{_fmt(row.get('score'))} ({_fmt(row.get('improvement'), 'pct')})</span>"
            f"<span class='k'>cost</span><span>{_fmt(row.get('cost'), 'usd')} · "
            f"{_fmt(row.get('tokens'))} tokens · {_fmt(row.get('llm_calls'))} LLM calls</span>"
            f"<span class='k'>steps</span><span>{_fmt(row.get('steps'))}</span>"
            f"<span class='k'>ended by</span><span>{E(str(row.get('reason') or '–'))}</span>"
            f"{'<span class=k>agent config</span><code>' + E(json.dumps(cfg)) + '</code>' if cfg else ''}"
            f"<span class='k'>folder</span><code>{E(row['path'])}</code></div>{why}"
            + (f"<details open><summary>result</summary>{result_html(result)}</details>" if result else ""))


def render_from(d: Path, tail: TraceTail, offset: int, src: str) -> tuple[str, int]:
    """HTML of the records that end after byte ``offset``, and the new offset."""
    tail.update()
    recs, ends = tail.records, tail.ends
    state: dict[str, str] = {}
    parts = []
    for i, r in enumerate(recs):
        if ends[i] <= offset:
            if r.get("type") in ("reset", "step"):
                _advance(state, r.get("files") or {})
            continue
        parts.append(render_record(d, i, r, state, src))
    return "".join(parts), tail.offset


def run_page(idx: RunIndex, d: Path, nonce: str) -> str:
    k = idx.root_of[str(d)]
    href = idx.rows[str(d)]["href"]
    src = "/api/record" + href[len("/run") :]
    api = "/api" + href
    html_, off = render_from(d, idx.tail(d), 0, src)
    row = idx.rows[str(d)]
    head = run_head(row, _read_json(d / RESULT))
    body = (f"<div id='head'>{head}</div><label class='k'><input type='checkbox' id='follow' checked> follow new steps</label>"
            f"<div id='timeline'>{html_}</div>")
    return page(f"{row.get('task')} · {row.get('label')}", body, RUN_JS, nonce,
                f' data-offset="{off}" data-api="{E(api)}" data-root="{k}" data-status="{E(row["status"])}"')


# ====================================================================== serving
class Handler(BaseHTTPRequestHandler):
    server: "ViewServer"
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:  # noqa: N802
        try:
            self._route()
        except (BrokenPipeError, ConnectionResetError):
            pass
        except Exception as e:  # noqa: BLE001 - one bad run must not take the viewer down
            self._send(500, f"error: {type(e).__name__}: {e}".encode(), "text/plain; charset=utf-8")

    def _route(self) -> None:
        if not self._host_ok():
            self._send(403, b"forbidden host", "text/plain")
            return
        url = urlsplit(self.path)
        qs = {k: v[-1] for k, v in parse_qs(url.query).items()}
        path = unquote(url.path)
        idx = self.server.index
        if path == "/favicon.ico":
            self._send(204, b"", "image/x-icon")
            return
        nonce = base64.b64encode(secrets.token_bytes(12)).decode()
        if path == "/":
            self._html(index_page(idx, qs.get("q", ""), qs.get("sort", "updated"), qs.get("desc", "1") != "0", _int(qs.get("page")), nonce), nonce)
        elif path == "/compare":
            self._html(compare_page(idx, nonce), nonce)
        elif path == "/api/runs":
            size = min(max(_int(qs.get("size"), PAGE_SIZE), 1), 10_000)
            rows, total = idx.query(qs.get("q", ""), qs.get("sort", "updated"), qs.get("desc", "1") != "0", _int(qs.get("page")), size)
            self._json({"total": total, "rows": rows, "version": idx.version})
        elif path == "/api/index":
            if idx.scans and qs.get("since") == str(idx.version) and not any(r["status"] == "running" for r in idx.rows.values()):
                self._send(204, b"", "text/plain")
                return
            pg = _int(qs.get("page"))
            rows, total = idx.query(qs.get("q", ""), qs.get("sort", "updated"), qs.get("desc", "1") != "0", pg)
            self._json({"html": index_rows_html(rows), "pager": pager_html(total, pg, PAGE_SIZE, status_counts(idx)),
                        "total": total, "version": idx.version, "scan_ms": round(idx.last_scan_seconds * 1000)})
        elif m := re.fullmatch(r"/(run|api/run|api/record)/(\d+)/?(.*)", path):
            d = idx.locate(int(m.group(2)), m.group(3))
            if d is None:
                self._send(404, b"no such run", "text/plain")
                return
            if m.group(1) == "run":
                self._html(run_page(idx, d, nonce), nonce)
            elif m.group(1) == "api/run":
                src = "/api/record" + idx.rows[str(d)]["href"][len("/run") :]
                frag, off = render_from(d, idx.tail(d), _int(qs.get("offset")), src)
                row = idx.rows[str(d)]
                self._json({"offset": off, "html": frag, "status": row["status"],
                            "head": run_head(row, _read_json(d / RESULT)) if frag or qs.get("status") != row["status"] else ""})
            else:
                tail = idx.tail(d)
                tail.update()
                i = _int(qs.get("i"))
                rec = tail.records[i] if 0 <= i < len(tail.records) else {}
                if qs.get("part") == "prompt":
                    text = "\n\n".join(f"── {m_.get('role')} ──\n{_content(m_.get('content'))}"
                                       for m_ in rec.get("prompt") or [] if isinstance(m_, dict))
                else:
                    longs = (rec[k] for k in ("completion", "observation", "raw_action") if isinstance(rec.get(k), str) and len(rec[k]) > MAX_INLINE)
                    text = next(longs, json.dumps(rec, indent=1))
                self._json({"text": text, "record": rec if qs.get("full") else None})
        else:
            self._send(404, b"not found", "text/plain")

    def _host_ok(self) -> bool:
        """Loopback names only (a page elsewhere cannot reach us through DNS rebinding)."""
        if self.server.any_host:
            return True
        host = (self.headers.get("Host") or "").rsplit(":", 1)[0].strip("[]")
        return host in ("127.0.0.1", "localhost", "::1", self.server.server_address[0])

    def _html(self, text: str, nonce: str) -> None:
        csp = f"default-src 'self'; script-src 'nonce-{nonce}'; style-src 'unsafe-inline'; img-src 'self' data:"
        self._send(200, text.encode("utf-8", "replace"), "text/html; charset=utf-8", {"Content-Security-Policy": csp})

    def _json(self, obj: Any) -> None:
        self._send(200, json.dumps(obj, ensure_ascii=False, allow_nan=False, default=str).encode("utf-8", "replace"), "application/json")

    def _send(self, code: int, body: bytes, ctype: str, headers: dict[str, str] | None = None) -> None:
        gz = len(body) > 4096 and "gzip" in (self.headers.get("Accept-Encoding") or "")
        if gz:
            body = gzip.compress(body, 5)
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        if gz:
            self.send_header("Content-Encoding", "gzip")
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def _content(c: Any) -> str:
    return c if isinstance(c, str) else json.dumps(c, indent=1)


def _int(s: str | None, default: int = 0) -> int:
    try:
        return int(s) if s is not None else default
    except ValueError:
        return default


class ViewServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, index: RunIndex, host: str = "127.0.0.1", port: int = 0, verbose: bool = False) -> None:
        super().__init__((host, port), Handler)
        self.index = index
        self.verbose = verbose
        self.any_host = host not in ("127.0.0.1", "localhost", "::1")

    @property
    def url(self) -> str:
        host = self.server_address[0]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{self.server_address[1]}/"
