"""``mlgym mlbench-llm``: ML-Bench's one-shot setting (ML-LLM-Bench), without the agent loop.

    mlgym mlbench-llm --llm-name openai/gpt-4o-mini --setting oracle --out mlbench-llm/
    mlgym mlbench-llm --llm-name M --llm-base-url http://127.0.0.1:8000/v1 --task mlbench-3 --samples 5

For each row (``MLGYM_MLBENCH`` / the hub, as for the ML-Bench family) the model gets one
prompt: the instruction plus, by ``--setting``, nothing (``instruction``), the repository's
text files, the row's folder first (``code``, cut to ``--max-context-tokens``), the README of the
row's folder or of the repository (``readme``, cut to ``--max-context-tokens``), the BM25-best
window of 10 README sentences (``retrieval``, as ML-Bench's merge script picks it) or the
row's ``oracle`` segment (``oracle``).  It answers ``--samples`` times (5 in the paper); each
answer is scored as ML-Bench's ``exec.py`` does: every argument value as a lower-case
substring, the expected type, then a run from the row's folder in a fresh checkout and
sandbox (a command with ``.sh ``/``.py `` runs with bash, other code as ``python temp.py``),
passing on exit 0, a run still going at ``--timeout`` seconds (10) or KeyboardInterrupt.
Pass@1/2/5 are ML-Bench's (answer 1 / one of the first 2 / any of 5) beside the unbiased
estimator.  Calls go through :mod:`mlgym.llm.client` (retries, cost, budget, ``--llm-cache``; each
sample index has its own cache folder, so a replay gives the same five answers).

Writes ``OUT/results.jsonl`` (one row per task: each answer and each check),
``OUT/llm_calls.jsonl`` and ``OUT/summary.json`` (Pass@k overall and per repository).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from mlgym.core.parsing import Parser
from mlgym.core.errors import MLGymError
from mlgym.families.mlbench import family as mlbench
from mlgym.grading.passk import pass_at_k

SETTINGS = ("instruction", "code", "readme", "retrieval", "oracle")
CODE_SUFFIXES = (".py", ".sh", ".md", ".rst", ".txt", ".yaml", ".yml", ".json", ".cfg", ".toml")
SYSTEM = ("You are an expert in machine learning repositories. Given a task in a GitHub repository, answer with the one "
          "command (a bash command line) or the Python code that does it, inside a single ``` code block.")


# ------------------------------------------------------------------ prompts
def readme_text(row: mlbench.Row) -> str:
    """The README of the row's folder, else the repository's (from the pinned tree)."""
    tree, _sha = mlbench.pristine(row)
    for folder in (tree / row.folder, tree):
        for name in ("README.md", "README.rst", "README.txt", "README"):
            p = folder / name
            if p.is_file() and not p.is_symlink():
                return p.read_text(errors="replace")
    return ""


def code_text(row: mlbench.Row, max_bytes: int = 4_000_000) -> str:
    """The repository's text files as ``### path`` sections: the row's folder first, then the rest
    (the code setting; the caller cuts it to its token budget)."""
    tree, _sha = mlbench.pristine(row)
    first = tree / row.folder
    files = sorted((p for p in tree.rglob("*") if p.suffix in CODE_SUFFIXES and p.is_file() and not p.is_symlink()),
                   key=lambda p: (first not in p.parents, len(p.relative_to(tree).parts), str(p)))
    parts, size = [], 0
    for p in files:
        text = p.read_text(errors="replace")
        if size + len(text) > max_bytes:
            break
        parts.append(f"### {p.relative_to(tree).as_posix()}\n{text}")
        size += len(text)
    return "\n\n".join(parts)


def _words(text: str) -> list[str]:
    return re.findall(r"[a-z0-9_\-]+", text.lower())


def bm25_window(query: str, document: str, n_sentence: int = 10, max_sentences: int = 1000, k1: float = 1.5, b: float = 0.75) -> str:
    """The window of ``n_sentence`` consecutive sentences of ``document`` with the best BM25 score for ``query``."""
    sentences = [s for s in re.split(r"(?<=[.!?])\s+|\n\s*\n", document) if s.strip()][:max_sentences]
    if not sentences:
        return ""
    windows = [" ".join(sentences[i:i + n_sentence]) for i in range(len(sentences))]
    docs = [_words(w) for w in windows]
    avg = sum(map(len, docs)) / len(docs) or 1.0
    df: Counter[str] = Counter(t for d in docs for t in set(d))
    n = len(docs)

    def score(d: list[str]) -> float:
        tf = Counter(d)
        total = 0.0
        for t in set(_words(query)):
            if tf[t]:
                idf = math.log((n - df[t] + 0.5) / (df[t] + 0.5) + 1.0)
                total += idf * tf[t] * (k1 + 1) / (tf[t] + k1 * (1 - b + b * len(d) / avg))
        return total

    best = max(range(n), key=lambda i: (score(docs[i]), -i))
    return windows[best]


def prompt(row: mlbench.Row, setting: str, max_context_tokens: int = 8000, model: str | None = None) -> list[dict[str, str]]:
    from mlgym.llm.client import truncate_tokens

    context = ""
    if setting == "readme":
        context = truncate_tokens(readme_text(row), max_context_tokens, model)
    elif setting == "code":
        context = truncate_tokens(code_text(row), max_context_tokens, model)
    elif setting == "retrieval":
        context = bm25_window(row.instruction, readme_text(row))
    elif setting == "oracle":
        context = row.oracle
    parts = [f"Repository: {row.repo} ({row.github}); the command runs from its folder {row.folder or '.'}/."]
    if context.strip():
        label = {"code": "The repository's files", "readme": "README", "retrieval": "The most relevant part of the README",
                 "oracle": "The relevant part of the README"}[setting]
        parts.append(f"{label}:\n{context.strip()}")
    if row.prefix_code.strip():
        parts.append(f"Setup already done:\n{row.prefix_code.strip()}")
    parts.append(f"Task: {row.instruction.strip()}")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": "\n\n".join(parts)}]


def extract_answer(completion: str) -> str:
    """The first fenced code block of ``completion`` (its body), else the whole text."""
    return mlbench.extract_script(completion)


# ------------------------------------------------------------------ scoring one answer
def score_answer(row: mlbench.Row, answer: str, *, seconds: float, sandbox: str = "local", python: str = "python",
                 execute_all: bool = False) -> dict[str, Any]:
    """ML-Bench's checks of one answer: arguments, type, then (when those pass, or always) a run."""
    missing = mlbench.check_arguments(answer, row.arguments)
    type_ok = mlbench.check_type(answer, row.type)
    out: dict[str, Any] = {"answer": answer, "args_missing": missing, "args_pass": not missing, "type_pass": type_ok, "exec": None}
    if (missing or not type_ok) and not execute_all:
        out["passed"] = False
        return out
    if ".sh " in answer or ".py " in answer:
        files, argv = {"mlgym_answer.sh": answer.encode() + b"\n"}, ["bash", "mlgym_answer.sh"]
    else:
        files, argv = {"temp.py": answer.encode() + b"\n"}, ["python", "temp.py"]
    run = mlbench.execute_in_checkout(row, files, argv, seconds=seconds, sandbox=sandbox, python=python)
    out["exec"] = {"pass": run.ok, "returncode": run.returncode, "timed_out": run.timed_out, "seconds": run.seconds,
                   "output_tail": run.output[-2000:]}
    out["passed"] = bool(run.ok and not missing and type_ok)
    return out


# ------------------------------------------------------------------ driver
def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="mlgym mlbench-llm", description="ML-Bench's one-shot LLM setting: Pass@k without an agent loop.")
    p.add_argument("--llm-name", required=True, help="litellm model name, e.g. openai/gpt-4o-mini")
    p.add_argument("--llm-base-url", default=None, help="OpenAI-compatible endpoint")
    p.add_argument("--setting", choices=SETTINGS, default="oracle", help="what the prompt adds to the instruction (default: oracle)")
    p.add_argument("--task", nargs="*", default=None, help="mlbench-<id> tasks (default: every row)")
    p.add_argument("--samples", type=int, default=5, help="answers per row (ML-Bench: 5)")
    p.add_argument("--temperature", type=float, default=0.8, help="sampling temperature of every answer")
    p.add_argument("--max-output-tokens", type=int, default=1024)
    p.add_argument("--max-context-tokens", type=int, default=8000, help="the README or code is cut to this many tokens (settings readme, code)")
    p.add_argument("--timeout", type=float, default=10.0, help="seconds an answer may run (ML-Bench: 10)")
    p.add_argument("--execute-all", action="store_true", help="run answers whose argument or type check failed too")
    p.add_argument("--sandbox", default="local")
    p.add_argument("--python", default=None, help="interpreter answers run with (default: the task's environment, mlgym.tasks.taskenv; "
                   "per repository: MLGYM_MLBENCH_PYTHON_<REPO>)")
    p.add_argument("--llm-cache", type=Path, default=None, help="response cache folder (replayable)")
    p.add_argument("--max-cost", type=float, default=None)
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--out", type=Path, default=Path("mlbench-llm"))
    p.add_argument("-q", "--quiet", action="store_true")
    return p


def run(args: argparse.Namespace) -> dict[str, Any]:
    from mlgym.tasks import taskenv
    from mlgym.runlog.jsonio import write_json
    from mlgym.llm.client import Budget, LLMClient, ResponseCache

    if args.samples < 1:
        raise MLGymError("--samples must be at least 1")
    rows = mlbench.load_rows()
    if args.task:
        by_name = {r.task_name: r for r in rows}
        unknown = [t for t in args.task if t.replace("/", "-", 1) not in by_name]
        if unknown:
            raise MLGymError(f"unknown task(s) {', '.join(unknown)}; rows of {mlbench.source()}: {', '.join(list(by_name)[:8])}")
        rows = [by_name[t.replace("/", "-", 1)] for t in args.task]
    args.out.mkdir(parents=True, exist_ok=True)
    calls = open(args.out / "llm_calls.jsonl", "w")
    budget = Budget(max_cost=args.max_cost, max_tokens=args.max_tokens)

    def record(rec: dict[str, Any]) -> None:
        calls.write(json.dumps(rec, default=str) + "\n")

    clients = [LLMClient(args.llm_name, base_url=args.llm_base_url, temperature=args.temperature, max_output_tokens=args.max_output_tokens,
                         budget=budget, on_call=record,
                         cache=ResponseCache(args.llm_cache / f"sample-{j}") if args.llm_cache else None)
               for j in range(args.samples)]
    results = []
    t0 = time.monotonic()
    try:
        with open(args.out / "results.jsonl", "w") as f:
            for row in rows:
                messages = prompt(row, args.setting, args.max_context_tokens, args.llm_name)
                python = args.python or str(taskenv.ensure(mlbench.spec_for(row)))  # never the harness's own venv
                samples = []
                for j, client in enumerate(clients):
                    reply = client.complete(messages, purpose=f"mlbench-llm sample {j + 1}")
                    scored = score_answer(row, extract_answer(reply.content), seconds=args.timeout, sandbox=args.sandbox,
                                          python=python, execute_all=args.execute_all)
                    samples.append({"completion": reply.content, "cached": reply.cached, **scored})
                rec = {"task": row.task_name, "id": row.id, "github_id": row.github_id, "repo": row.repo, "type": row.type,
                       "setting": args.setting, "samples": samples, **pass_at_k([s["passed"] for s in samples])}
                results.append(rec)
                f.write(json.dumps(rec) + "\n")
                f.flush()
    finally:
        calls.close()
    summary = summarize(results, args)
    summary.update(seconds=round(time.monotonic() - t0, 3), llm_calls=budget.calls, tokens=budget.tokens, cost=round(budget.cost, 6))
    write_json(args.out / "summary.json", summary)
    return summary


def summarize(results: Sequence[dict[str, Any]], args: argparse.Namespace) -> dict[str, Any]:
    def mean(recs: Sequence[dict[str, Any]], key: str) -> float | None:
        vals = [r[key] for r in recs if r.get(key) is not None]
        return sum(vals) / len(vals) if vals else None

    keys = [k for k in (results[0] if results else {}) if k.startswith("pass@")]
    repos: dict[str, list[dict[str, Any]]] = {}
    for r in results:
        repos.setdefault(r["repo"], []).append(r)
    checks: Counter[str] = Counter()
    for r in results:
        for s in r["samples"]:
            checks["answers"] += 1
            checks["args_pass"] += bool(s["args_pass"])
            checks["type_pass"] += bool(s["type_pass"])
            checks["exec_pass"] += bool(s["exec"] and s["exec"]["pass"])
            checks["passed"] += bool(s["passed"])
    return {"model": args.llm_name, "setting": args.setting, "samples": args.samples, "rows": len(results), "source": mlbench.source(),
            "overall": {k: mean(results, k) for k in keys}, "checks": dict(checks),
            "per_repo": {name: {"rows": len(rs), **{k: mean(rs, k) for k in keys}} for name, rs in sorted(repos.items())}}


def print_summary(summary: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    ks = [k for k in summary["overall"] if not k.endswith("_unbiased")]
    t = Table(title=f"ML-Bench one-shot: {summary['model']}, setting {summary['setting']}, {summary['samples']} answers per row "
                    f"(first k | unbiased)")
    t.add_column("repository")
    t.add_column("rows", justify="right")
    for k in ks:
        t.add_column(k.replace("pass", "Pass"), justify="right")

    def cells(rec: dict[str, Any]) -> list[str]:
        return ["-" if rec[k] is None else f"{rec[k]:.0%} | {rec[k + '_unbiased']:.0%}" for k in ks]

    for name, rec in summary["per_repo"].items():
        t.add_row(name, str(rec["rows"]), *cells(rec))
    t.add_row("all", str(summary["rows"]), *cells(summary["overall"]))
    Console(width=None if sys.stdout.isatty() else 160).print(t)
    c = summary["checks"]
    print(f"{c.get('answers', 0)} answers: arguments {c.get('args_pass', 0)}, type {c.get('type_pass', 0)}, "
          f"execution {c.get('exec_pass', 0)}, all {c.get('passed', 0)}; {summary['llm_calls']} LLM calls, "
          f"{summary['tokens']} tokens, ${summary['cost']:.4f}")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    summary = run(args)
    if not args.quiet:
        print_summary(summary)
        print(f"wrote {args.out / 'results.jsonl'}, {args.out / 'summary.json'}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except MLGymError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
