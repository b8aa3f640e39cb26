"""``mlgym export RUNS --format chat|openai|hf --out PATH``: episodes as training data.

One row per episode (every folder with a ``trace.jsonl`` under RUNS), built from the trace
alone, so any agent's runs export the same way:

``messages``  what the policy saw and produced.  ``chat``/``hf``: the first observation as
              the user message, then per step the action as an assistant message (the
              model's full reply that chose it when the agent has a model, else the agent's raw
              text when it sent text, else ``Action: ...`` / ``Action Input:`` JSON) and the
              observation as the next user message.  ``openai``: a system
              message (:data:`SYSTEM`), the task description without the tool list as the
              user message, then per step an assistant message with one function call (its
              ``content``: the model's reply text, None for an agent without a model) and
              a ``tool`` message with its result (an action that named no tool stays an
              assistant text followed by a user message with the error); ``tools`` holds
              the JSON schemas of the run's tools.
``rewards``   per step, aligned with the assistant messages: exactly the trace's step
              rewards, which are what ``env.step`` returned.
``reward``    the episode's final reward (``result.json``'s), None when it never finished;
``return`` the sum of ``rewards``.
metadata      ``task, run_id, agent, model, seed, metric, direction, score, baseline,
              improvement, success, reason, steps, finished, log_dir, group, group_size``
              (``metadata`` object in JSONL; flat columns in the ``hf`` dataset).  ``group`` and
              ``group_size`` come from a grouped rollout's run info (``result.json`` / the
              trace's reset record; None otherwise); :func:`export` adds the group statistics
              of :func:`mlgym.analysis.groups.group_stats` over the exported rows:
              ``group_mean``, ``group_std`` and ``advantage`` (the reward minus its group's mean;
              None for a run outside any group or unfinished).  A group is one task's episodes
              with the same ``group`` in one rollout folder (the parent of their run folders).

``chat`` and ``openai`` write JSONL (one episode a line); ``hf`` writes a Hugging Face
``datasets`` folder (``datasets.load_from_disk(PATH)``) with the chat layout.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from mlgym.core.parsing import Parser
from mlgym.core.errors import MLGymError
from mlgym.core.safetext import function_name
from mlgym.analysis.groups import GROUP_KEYS, group_stats
from mlgym.runlog.trace import Trace, load, to_json, to_utf8

__all__ = ["FORMATS", "SYSTEM", "add_group_stats", "episode", "export", "main"]

FORMATS = ("chat", "openai", "hf")
SYSTEM = ("You are a machine learning engineer working in a sandboxed folder. Solve the task by calling the tools; "
          "call final_answer once the submission is written.")
META = ("task", "run_id", "agent", "model", "seed", "metric", "direction", "score", "baseline", "improvement", "success",
        "reason", "steps", "finished", "log_dir", "group", "group_size")


def _action_text(step: dict[str, Any]) -> str:
    if isinstance(step.get("raw_action"), str):
        return str(step["raw_action"])
    action = step.get("action") or {}
    return f"Action: {action.get('name')}\nAction Input: {json.dumps(action.get('arguments') or {}, ensure_ascii=False)}"


def _first_observation(reset: dict[str, Any], *, with_tools: bool) -> str:
    text = reset.get("observation") if with_tools else reset.get("task_description")
    if not isinstance(text, str):  # a trace written before these were recorded
        text = reset.get("task_description") or reset.get("observation") or f"Task: {reset.get('task')}"
    return str(text)


def _schemas(reset: dict[str, Any]) -> list[dict[str, Any]]:
    """The run's tool schemas as the agent saw them (the reset record's ``tool_schemas``); a trace written before
    they were recorded gives each tool's name only."""
    recorded = reset.get("tool_schemas")
    if isinstance(recorded, list):
        return [s for s in recorded if isinstance(s, dict)]
    names: Iterable[Any] = reset.get("tools") or []
    return [{"type": "function", "function": {"name": function_name(str(n)), "description": str(n),
                                              "parameters": {"type": "object", "properties": {}}}} for n in names]


def _messages(trace: Trace, fmt: str) -> list[dict[str, Any]]:
    reset = trace.reset or {}
    if fmt == "openai":
        msgs: list[dict[str, Any]] = [{"role": "system", "content": SYSTEM},
                                      {"role": "user", "content": _first_observation(reset, with_tools=False)}]
    else:
        msgs = [{"role": "user", "content": _first_observation(reset, with_tools=True)}]
    reply: str | None = None
    for s in trace.records:
        if s.get("type") == "llm":
            if _agent_reply(s):
                reply = str(s.get("completion") or "") or reply
            continue
        if s.get("type") != "step":
            continue
        action = s.get("action") or {}
        obs = str(s.get("observation") or "")
        if fmt == "openai" and action.get("name") and isinstance(action.get("arguments"), dict):
            call_id = f"call_{s.get('step')}"
            call = {"id": call_id, "type": "function",
                    "function": {"name": function_name(str(action["name"])), "arguments": json.dumps(action["arguments"], ensure_ascii=False)}}
            msgs += [{"role": "assistant", "content": reply, "tool_calls": [call]},
                     {"role": "tool", "tool_call_id": call_id, "content": obs}]
        else:
            msgs += [{"role": "assistant", "content": reply or _action_text(s)}, {"role": "user", "content": obs}]
        reply = None
    return msgs


def _agent_reply(rec: dict[str, Any]) -> bool:
    """The agent's own model call (its reply chose the next action), not an LLM-backed tool's, a step summary's or a
    failed attempt: purposes ``research agent``, ``tools agent``, ``langchain agent``, ``aide ...``."""
    purpose = str(rec.get("purpose") or "")
    return not rec.get("error") and (purpose.endswith(" agent") or purpose.startswith("aide"))


def episode(log_dir: str | Path, fmt: str = "chat") -> dict[str, Any]:
    """One run's row (see the module docstring)."""
    if fmt not in FORMATS:
        raise MLGymError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    trace = load(log_dir)
    reset, result = trace.reset or {}, trace.result
    rewards = [float(s.get("reward") or 0.0) for s in trace.steps]
    merged = {**reset, **(result or {})}
    meta = {k: merged.get(k) for k in META}
    meta.update(finished=result is not None, log_dir=str(Path(log_dir)), steps=len(rewards))
    row: dict[str, Any] = {"messages": _messages(trace, fmt), "rewards": rewards,
                           "reward": float(result["reward"]) if result and isinstance(result.get("reward"), (int, float)) else None,
                           "return": sum(rewards)}
    if fmt == "openai":
        row["tools"] = _schemas(reset)
    if fmt == "hf":
        row.update(meta)
    else:
        row["metadata"] = meta
    return row


def add_group_stats(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Give every row (from :func:`episode`) ``group_mean``, ``group_std`` and ``advantage`` beside its
    other metadata (None outside a group); returns the per-group statistics of
    :func:`~mlgym.analysis.groups.group_stats` (``group``: ``(task, rollout folder, group)``)."""
    metas = [r.get("metadata", r) for r in rows]
    grouped = [i for i, m in enumerate(metas) if m.get("group") is not None]
    keys = [(metas[i].get("task"), str(Path(str(metas[i].get("log_dir"))).parent), metas[i].get("group")) for i in grouped]
    per_row, groups = group_stats(keys, [rows[i].get("reward") for i in grouped])
    for m in metas:
        m.update(dict.fromkeys(GROUP_KEYS))
    for i, stats in zip(grouped, per_row):
        metas[i].update(stats)
    return groups


def export(runs: Sequence[str | Path], fmt: str, out: str | Path) -> int:
    """Write every run under ``runs`` to ``out``; returns how many episodes were written."""
    from mlgym.analysis.eval import find_runs

    if fmt not in FORMATS:
        raise MLGymError(f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    dirs = find_runs(runs)
    if not dirs:
        raise MLGymError(f"no runs (folders with trace.jsonl) under {', '.join(map(str, runs))}")
    rows = [episode(d, fmt) for d in dirs]
    add_group_stats(rows)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "hf":
        import datasets  # type: ignore[import-untyped]

        datasets.Dataset.from_list(rows).save_to_disk(str(out))
    else:
        with open(out, "wb") as f:
            for r in rows:
                f.write(to_utf8(to_json(r)) + b"\n")
    return len(rows)


def build_parser() -> argparse.ArgumentParser:
    p = Parser(prog="mlgym export", description="Export runs as training data (messages, rewards, metadata).")
    p.add_argument("runs", nargs="+", type=Path, help="run log folders, or folders holding them")
    p.add_argument("--format", choices=FORMATS, default="chat",
                   help="chat: JSONL of role/content messages; openai: JSONL with tool calls and tool schemas; "
                        "hf: a datasets.load_from_disk folder")
    p.add_argument("--out", type=Path, required=True, help="the JSONL file (chat, openai) or the dataset folder (hf)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        n = export(args.runs, args.format, args.out)
    except MLGymError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"wrote {n} episode(s) to {args.out} ({args.format})")
    return 0
