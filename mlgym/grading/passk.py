"""Pass@k over repeated attempts at the same task: ML-Bench's first-k and Chen et al.'s estimator.

For one task and method with ``n`` attempts of which ``c`` pass:

* **first-k** (ML-Bench's Pass@1/2/5): 1 when one of the first ``k`` attempts passes, in the
  order they were made (seed, then run id); defined for ``n >= k``.
* **unbiased** (Chen et al. 2021, "Evaluating Large Language Models Trained on Code", eq. 1):
  ``1 - C(n - c, k) / C(n, k)``, the chance that ``k`` attempts drawn without replacement
  from the ``n`` include a pass; defined for ``n >= k``.

A method's Pass@k is the mean over the tasks where it has at least ``k`` attempts.  An
attempt passes when the run succeeded (``success``: improvement over the baseline above the
task's threshold; for a pass/fail task such as ML-Bench's that is a score of 1).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

__all__ = ["DEFAULT_KS", "columns", "first_k", "pass_at_k", "pass_table", "unbiased"]

DEFAULT_KS = (1, 2, 5)


def unbiased(n: int, c: int, k: int) -> float:
    """Chen et al.'s unbiased Pass@k from ``n`` attempts with ``c`` passes (``k <= n``)."""
    if not 0 <= c <= n or not 1 <= k <= n:
        raise ValueError(f"need 0 <= c <= n and 1 <= k <= n, got n={n} c={c} k={k}")
    if n - c < k:
        return 1.0
    # 1 - prod_{i=n-c+1}^{n} (1 - k / i): the numerically stable form of the binomial ratio
    prod = 1.0
    for i in range(n - c + 1, n + 1):
        prod *= 1.0 - k / i
    return 1.0 - prod


def first_k(passed: Sequence[bool], k: int) -> float:
    """1.0 when one of the first ``k`` attempts (in order) passed (``k <= len(passed)``)."""
    if not 1 <= k <= len(passed):
        raise ValueError(f"need 1 <= k <= {len(passed)} attempts, got k={k}")
    return 1.0 if any(passed[:k]) else 0.0


def pass_at_k(passed: Sequence[bool], ks: Sequence[int] = DEFAULT_KS) -> dict[str, float | None]:
    """``{"pass@k": first-k, "pass@k_unbiased": estimator}`` for each k (None where n < k)."""
    n, c = len(passed), sum(bool(p) for p in passed)
    out: dict[str, float | None] = {}
    for k in ks:
        ok = n >= k
        out[f"pass@{k}"] = first_k(passed, k) if ok else None
        out[f"pass@{k}_unbiased"] = unbiased(n, c, k) if ok else None
    return out


def _order(r: dict[str, Any]) -> tuple[Any, ...]:
    seed = r.get("seed")
    return (0 if isinstance(seed, (int, float)) else 1, seed if isinstance(seed, (int, float)) else 0, str(r.get("run_id") or ""),
            str(r.get("log_dir") or ""))


def pass_table(rows: Sequence[dict[str, Any]], ks: Sequence[int] = DEFAULT_KS) -> dict[str, Any]:
    """Pass@k per task x method and per method (mean over tasks with enough attempts).

    ``rows`` are ``mlgym eval`` run rows (``task``, ``agent``, ``model``, ``success``, ``seed``,
    ``run_id``); returns ``{"ks", "tasks": [...], "methods": [...]}``.
    """
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in rows:
        if r.get("task") is None:
            continue
        groups.setdefault((str(r["task"]), str(r.get("agent")), str(r.get("model") or "")), []).append(r)
    per_task: list[dict[str, Any]] = []
    for (task, agent, model), rs in sorted(groups.items()):
        rs = sorted(rs, key=_order)
        passed = [bool(r.get("success")) for r in rs]
        method = f"{agent} ({model})" if model else agent
        per_task.append({"task": task, "agent": agent, "model": model or None, "method": method, "n": len(passed),
                         "passes": sum(passed), "metric": rs[0].get("metric"), **pass_at_k(passed, ks)})
    methods: dict[str, dict[str, Any]] = {}
    for row in per_task:
        m = methods.setdefault(str(row["method"]), {"method": row["method"], "agent": row["agent"], "model": row["model"], "tasks": 0})
        m["tasks"] += 1
        for k in ks:
            for key in (f"pass@{k}", f"pass@{k}_unbiased"):
                if row[key] is not None:
                    m.setdefault("_" + key, []).append(row[key])
    out_methods = []
    for m in methods.values():
        rec = {k: v for k, v in m.items() if not k.startswith("_")}
        for k in ks:
            for key in (f"pass@{k}", f"pass@{k}_unbiased"):
                vals = m.get("_" + key, [])
                rec[key] = sum(vals) / len(vals) if vals else None
                rec[f"{key}_tasks"] = len(vals)
        out_methods.append(rec)
    return {"ks": list(ks), "tasks": per_task, "methods": sorted(out_methods, key=lambda r: r["method"])}


def columns(ks: Sequence[int] = DEFAULT_KS) -> list[str]:
    """CSV columns of the per-task table."""
    return ["task", "agent", "model", "method", "n", "passes"] + [c for k in ks for c in (f"pass@{k}", f"pass@{k}_unbiased")]

