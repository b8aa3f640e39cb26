"""Parse time of adversarial 200k-character actions (the action space's limit).

    .venv/bin/python scripts/bench_parse.py [--chars 200000] [--runs 3]

Each case is text an agent could send to defeat a backtracking parser (long runs of
whitespace and newlines where a pattern allows ``\\s*``, unclosed braces, deep
nesting).  Prints, per case, the best parse time and its ratio to a bare
``str.splitlines`` of the same text: a linear parser stays a small constant factor
from it, a quadratic one grows with the length (the old parser took ~290 s on 200k).
"""

from __future__ import annotations

import argparse
import time
from typing import Callable

from mlgym.env.actions import parse_action
from mlgym.core.errors import ActionError


def cases(n: int) -> dict[str, str]:
    head = "Action: List Files\nAction Input: "
    return {
        "newlines": "\n" * n,
        "blank lines after Action": "Action: x\n" + " \n" * (n // 2),
        "spaces inside the name": "Action: a" + " " * n + "b",
        "spaces before a colon": "Action" + " " * n,
        "open brace and spaces": head + "{" + " " * n,
        "many commas": head + "{" + ", " * (n // 2),
        "nested brackets": head + "{\"a\": " + "[" * (n // 2),
        "quotes and braces": head + "{" + "\"{\\\"}" * (n // 5),
        "Observation lines": head + "{}\n" + " Observation \n" * (n // 14),
        "valid, long content": head + '{"file_name": "a.py", "content": "' + "x = 1\\n" * (n // 8) + '"}',
    }


def best(fn: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def parse_quietly(text: str) -> None:
    try:
        parse_action(text, max_length=len(text))
    except ActionError:
        pass


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--chars", type=int, default=200_000)
    p.add_argument("--runs", type=int, default=3)
    a = p.parse_args()
    worst = 0.0
    print(f"{'case':28} {'chars':>8} {'parse ms':>10} {'splitlines ms':>14} {'ratio':>8}")
    for name, text in cases(a.chars).items():
        t = best(lambda: parse_quietly(text), a.runs)
        bare = best(text.splitlines, a.runs)
        worst = max(worst, t)
        print(f"{name:28} {len(text):8d} {t * 1000:10.2f} {bare * 1000:14.3f} {t / max(bare, 1e-9):8.1f}")
    print(f"slowest parse: {worst * 1000:.1f} ms for {a.chars} characters")


if __name__ == "__main__":
    main()
