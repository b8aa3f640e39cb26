"""Does the research agent's prompt stay bounded?  A 30-step scripted episode on ``digits``.

    .venv/bin/python scripts/bench_prompt_growth.py [--steps 30] [--model openai/gpt-4o-mini]

The scripted OpenAI-compatible server (tests/helpers/llm_server.py) answers on loopback; the model
name only selects litellm's price (gpt-4o-mini by default, so costs are real list prices
for the token counts the server reports, which are tiktoken counts here).  Every step
inspects, executes or reads files, so observations are long.  Prints, per step, the
research agent's prompt in tokens (tiktoken) and the cost of all calls of that step, then
the largest prompt and the agent's cap.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "helpers"))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from llm_server import ScriptedLLM, react

from mlgym.llm.client import count_tokens


def usage_by_tiktoken(model: str, text: str):  # type: ignore[no-untyped-def]
    def respond(body: dict) -> dict:
        prompt = "".join(str(m.get("content") or "") for m in body["messages"])
        return {"content": text, "usage": {"prompt_tokens": count_tokens(prompt, model), "completion_tokens": count_tokens(text, model)}}

    return respond


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--model", default="openai/gpt-4o-mini", help="litellm name used for prices")
    a = p.parse_args()
    os.environ.setdefault("OPENAI_API_KEY", "sk-bench")
    cycle = [
        ("Inspect Script Lines", {"script_name": "train.py", "start_line_number": 1, "end_line_number": 100}),
        ("Execute Script", {"script_name": "train.py"}),
        ("List Files", {"dir_path": "data"}),
        ("Understand File", {"file_name": "train.py", "things_to_look_for": "the model and its hyperparameters"}),
        ("Reflection", {"things_to_reflect_on": "what to try next"}),
    ]
    plan_lines = []
    script = []
    for i in range(a.steps - 1):
        plan_lines.append(f"{i + 1}. step {i + 1}: tried {cycle[i % len(cycle)][0]} and recorded the result")
        name, args = cycle[i % len(cycle)]
        script.append(react(name, args, thought=f"step {i + 1} " + "reasoning " * 40, plan="\n".join(plan_lines)))
    script.append(react("Final Answer", {"final_answer": "done"}))

    from mlgym.agents.research import ResearchAgent

    from mlgym.runs import runner

    with tempfile.TemporaryDirectory() as tmp, ScriptedLLM() as llm:
        fast = "openai/gpt-4o-mini-2024-07-18"  # another name, so the server tells the calls apart
        llm.script(a.model, *[usage_by_tiktoken(a.model, s) for s in script])
        llm.default(fast, usage_by_tiktoken(fast, "[Reasoning]: a summary of the step. " * 30))
        log_dir = Path(tmp) / "run"
        t0 = time.monotonic()
        rc = runner.main([
            "--task", "digits", "--agent", "research", "--llm-name", a.model, "--fast-llm-name", fast,
            "--llm-base-url", llm.url, "--log-dir", str(log_dir), "--work-dir", str(Path(tmp) / "ws"),
            "--max-steps", str(a.steps), "-q", "--no-fsync",
        ])
        wall = time.monotonic() - t0
        records = [json.loads(line) for line in (log_dir / "trace.jsonl").read_text().splitlines()]

    per_step: list[dict] = []
    cur = {"prompt": 0, "cost": 0.0, "calls": 0}
    for r in records:
        if r["type"] == "llm":
            cur["cost"] += r["cost"]
            cur["calls"] += 1
            if r["purpose"] == "research agent":
                cur["prompt"] = count_tokens(r["prompt"][0]["content"], a.model)
        elif r["type"] == "step":
            per_step.append({**cur, "step": r["step"]})
            cur = {"prompt": 0, "cost": 0.0, "calls": 0}
    print(f"{'step':>4} {'prompt tokens':>13} {'calls':>5} {'cost USD':>10}")
    for s in per_step:
        print(f"{s['step']:>4} {s['prompt']:>13} {s['calls']:>5} {s['cost']:>10.6f}")
    largest = max(s["prompt"] for s in per_step)
    total = sum(s["cost"] for s in per_step) + cur["cost"]
    print(f"runner exit {rc}; {len(per_step)} steps in {wall:.1f}s; total cost ${total:.4f} ({a.model} list prices)")
    print(f"largest prompt: {largest} tokens (cap {ResearchAgent.prompt_token_cap}); "
          f"prompt at step 5: {per_step[min(4, len(per_step) - 1)]['prompt']}, at the last step: {per_step[-1]['prompt']}")
    return 0 if largest <= ResearchAgent.prompt_token_cap else 1


if __name__ == "__main__":
    sys.exit(main())
