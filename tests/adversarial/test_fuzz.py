"""Seeded fuzzing of ``env.step``: nothing an agent sends or does raises, every step is recorded.

``MLGYM_FUZZ_N`` actions (default 2000; more on demand), seed ``MLGYM_FUZZ_SEED`` (0):
valid tool names with garbage arguments, text actions with broken or exotic JSON and
Python literals, unicode and lone surrogates, huge and odd integers, deep nesting, long
and looping paths, non-string actions, plus agent code that makes weird file names
(non-UTF-8 bytes, escape sequences), symlink loops, a 1,100-deep tree, FIFOs (also as
the submission) and a sparse file.  One env; a new episode only after a Final Answer.

Asserted: no exception escapes ``step``; every observation is a ``str`` in the
observation space; each episode's trace has exactly one strict-JSON record per step
(plus its reset and result records); ``result.json`` is strict JSON.

Run as a script for the figures: ``python tests/adversarial/test_fuzz.py [N]``.
"""

from __future__ import annotations

import collections
import json
import os
import random
import sys
import time
from pathlib import Path
from typing import Any, Callable

HOSTILE_SETUP = r'''
import os
def tryit(f, *a):
    try:
        f(*a)
    except OSError:
        pass
os.makedirs("weird", exist_ok=True)
for name in [b"weird/\xff\xfe", b"weird/a\x1b]0;title\x07\x1b[2Jb", b"weird/new\nline", "weird/\u202eevil".encode(),
             b"weird/\xe9t\xe9", b"weird/[bold]x[/bold]"]:
    try:
        with open(name, "wb") as f:
            f.write(b"x\xff\xfe\x00\xed\xa0\x80")
    except OSError:
        pass
with open("weird/content.txt", "wb") as f:
    f.write(b"\xed\xa0\x80 encoded lone surrogate, \xff, NUL \x00, ESC \x1b[2J\n" * 3)
tryit(os.symlink, "loop2", "loop1")
tryit(os.symlink, "loop1", "loop2")
tryit(os.symlink, "self", "self")
tryit(os.symlink, "/etc/passwd", "outside")
tryit(os.symlink, "/", "root")
tryit(os.symlink, "../" * 50 + "etc/shadow", "weird/up")
here = os.getcwd()
tryit(os.mkdir, "deep")
os.chdir("deep")
for _ in range(1100):  # os.makedirs would recurse past Python's limit
    tryit(os.mkdir, "d")
    os.chdir("d")
os.chdir(here)
tryit(os.mkfifo, "fifo")
tryit(os.mkfifo, "weird/fifo.csv")
tryit(os.mkfifo, "submission.csv")
with open("sparse.bin", "wb") as f:
    f.truncate(2**30)
print("made a hostile workspace \x1b[2J \udcff".encode("utf-8", "surrogateescape").decode("latin-1"))
'''

NOISY = "import sys\nsys.stdout.buffer.write(b'\\xff\\xfe\\x1b]0;t\\x07\\x1b[2J [bold]x[/bold] \\xed\\xa0\\x80\\n' * 50)\nprint(float('nan'))\n"

TOOLS = ["List Files", "Read File", "Write File", "Append File", "Copy File", "Undo Edit Script", "Execute Script",
         "Inspect Script Lines", "Final Answer"]

PATHS = [
    ".", "", "weird", "weird/\udcff\udcfe", "weird/a\x1b]0;title\x07\x1b[2Jb", "weird/content.txt", "weird/up",
    "loop1", "loop1/x", "self", "self/x", "outside", "root/etc/passwd", "deep", "deep/" + "d/" * 1100 + "x",
    "d/" * 1000, "fifo", "weird/fifo.csv", "submission.csv", "sparse.bin", "\ud800", "a\udcffb", "a\x00b", "..",
    "../../etc/passwd", "/etc/passwd", "~", "~root", "x" * 5000, "a/" * 3000, "data", "data/train.csv",
    "data/../../x", "train.py", "new.txt", "sub/dir/new.py", "tiny.py", " ", "\n", "\u202e.txt", "con", "a" * 255,
    "a" * 256, "weird/new\nline", "[bold]x", "\x1b[2J",
]


def _weird_values(rng: random.Random) -> list[Any]:
    return [
        None, True, False, 0, -1, 10**30, 10**400, -(10**5000) if rng.random() < 0.1 else 7, 1.5, float("nan"),
        float("inf"), -float("inf"), "--5", "²", "5" * 5000, "0x10", " 12 ", "+3", "1e5", "١٢", "\ud800", "\udcff",
        "", [], {}, [1, [2, [3]]], {"a": {"b": None}}, "x" * rng.choice([10, 1000, 100_000]),
        _nested(rng.choice([10, 40, 3000])), rng.choice(PATHS), "\x00\x1b[2J\x07", "é\u202e中文",
    ]


def _nested(depth: int) -> Any:
    v: Any = 1
    for _ in range(depth):
        v = [v]
    return v


def _garbage_json(rng: random.Random) -> str:
    kinds = [
        lambda: "{" * rng.choice([10, 1000, 50_000]),
        lambda: "[" * 5000 + "]" * 5000,
        lambda: '{"dir_path": ' + "9" * rng.choice([4300, 4301, 10_000]) + "}",
        lambda: '{"file_name": "a", "content": NaN}',
        lambda: '{"start_line_number": Infinity, "end_line_number": -Infinity, "script_name": "x"}',
        lambda: "{'file_name': b'bytes', 'content': 'x'}",
        lambda: "{'dir_path': {1, 2, 3}}",
        lambda: "{(1, 2): 'tuple key'}",
        lambda: "{1: 2}",
        lambda: "{'a': 1j}",
        lambda: "{'a': ...}",
        lambda: "{'dir_path': '" + "\\" * 1001 + "'}",
        lambda: '{"dir_path": "\\ud800"}',
        lambda: '{"dir_path": "\\udcff\\udcfe"}',
        lambda: '{"file_name": "' + rng.choice(PATHS).replace("\\", "\\\\").replace('"', '\\"') + '", "content": "\\u0000"}',
        lambda: "```json\n" + "{" + " " * 20_000 + "\n```",
        lambda: '{"dir_path": "."}' + "\nObservation: " + " \n" * 5000,
        lambda: '{"dir_path": ".",,,,}',
        lambda: '{"a": ' * 200 + "1" + "}" * 200,
        lambda: "".join(chr(rng.randrange(0, 0x3000)) for _ in range(rng.choice([5, 200, 3000]))),
        lambda: "{'start_line_number': '--5', 'end_line_number': '²', 'script_name': 'train.py'}",
        lambda: "{'start_line_number': " + "1" * 5000 + ", 'end_line_number': 2, 'script_name': 'train.py'}",
    ]
    return rng.choice(kinds)()


class Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no str")

    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def make_action(rng: random.Random) -> tuple[str, Any]:
    """One fuzzed action and the name of its kind (for the figures)."""
    r = rng.random()
    tool = rng.choice(TOOLS[:-1]) if rng.random() > 0.005 else "Final Answer"
    if tool == "Execute Script" and rng.random() < 0.9:
        tool = "List Files"  # running scripts is slow: keep it rare
    if r < 0.35:  # a real tool, garbage arguments
        from mlgym.env.tools import REGISTRY

        params = list(REGISTRY[tool].params)
        args: dict[Any, Any] = {}
        for p in params:
            if rng.random() < 0.9:
                args[p] = rng.choice(PATHS) if ("name" in p or "path" in p or p in ("source", "destination")) and rng.random() < 0.7 \
                    else rng.choice(_weird_values(rng))
        if rng.random() < 0.1:
            args[rng.choice(["extra", "\ud800", "x" * 500, "dir_path"])] = 1
        if tool == "Execute Script":
            args = {"script_name": rng.choice(["tiny.py", "weird/content.txt", "fifo", "loop1", "sparse.bin", "x.sh"])}
        return "dict:tool+garbage", {"name": tool, "arguments": args}
    if r < 0.55:  # text action, exotic JSON
        name = tool if rng.random() < 0.8 else rng.choice(["list files", "LIST_FILES", "\x1b]0;t\x07\x1b[2J", "[bold]x", "\ud800", ""])
        return "text:garbage-json", f"Thought: hm\nAction: {name}\nAction Input: {_garbage_json(rng)}"
    if r < 0.65:  # text action, valid JSON, weird values
        args = {"dir_path": rng.choice(PATHS)} if tool == "List Files" else {"file_name": rng.choice(PATHS)}
        try:
            body = json.dumps(args)
        except ValueError:
            body = "{}"
        return "text:odd-paths", f"Action: {'List Files' if tool == 'List Files' else 'Read File'}\nAction Input: {body}"
    if r < 0.75:  # dict with garbage structure
        return "dict:bad-shape", rng.choice([
            {"name": rng.choice(_weird_values(rng)), "arguments": {}}, {"arguments": {}}, {"name": tool, "arguments": "[1,2]"},
            {"name": tool, "arguments": _garbage_json(rng)}, {"name": tool, "arguments": rng.choice(_weird_values(rng))},
            {"name": tool, "args": {"x": {1, 2}}}, {"name": tool, "arguments": {(1, 2): 3}}, {"name": tool, "arguments": {"a": b"\xff"}},
            {"name": "List Files", "arguments": {"dir_path": Unprintable()}},
        ])
    if r < 0.85:  # not a dict or str at all
        return "other-type", rng.choice([None, 5, 3.5, b"Action: List Files", ["List Files"], ("a",), {1, 2}, Unprintable(), object()])
    if r < 0.95:  # raw text garbage
        return "text:garbage", rng.choice([
            "", " " * 50_000, "\n" * 50_000, "Action:" + " " * 30_000, "Action: x" + " " * 30_000 + "y",
            "Action Input:" * 1000, "".join(chr(rng.randrange(0xD800, 0xE000)) for _ in range(100)),
            "Action: List Files\nAction Input: " + "{" + " " * 50_000, "x" * 200_001,
        ])
    return "dict:valid", {"name": "List Files", "arguments": {"dir_path": rng.choice(["weird", ".", "deep/d/d", "loop1"])}}


def _strict_json(line: bytes) -> Any:
    def bad(c: str) -> Any:
        raise ValueError(f"non-JSON constant {c}")

    return json.loads(line, parse_constant=bad)


def fuzz(n: int, seed: int, root: Path, progress: Callable[[str], None] = lambda s: None) -> dict[str, Any]:
    """Run ``n`` fuzzed actions; returns figures (escapes by exception type, kinds, episodes)."""
    from mlgym.env.core import MLGymEnv

    rng = random.Random(seed)
    env = MLGymEnv("digits", log_dir=root / "log", work_dir=root / "ws", max_steps=10**6, max_time=10**6, exec_timeout=20,
                   fsync=False)
    escapes: collections.Counter[str] = collections.Counter()
    kinds: collections.Counter[str] = collections.Counter()
    episodes: list[dict[str, Any]] = []

    def do(kind: str, action: Any) -> None:
        kinds[kind] += 1
        episodes[-1]["steps"] += 1  # the counter moves whatever happens; the record must be there too
        try:
            obs, _r, terminated, truncated, _info = env.step(action)
        except Exception as e:  # noqa: BLE001 - that is what we count
            escapes[f"{kind}: {type(e).__name__}: {str(e)[:80]!r}"] += 1
            return
        if not (isinstance(obs, str) and env.observation_space.contains(obs)):
            escapes["bad observation"] += 1
        if terminated or truncated:
            episodes[-1]["finished"] = True
            new_episode()

    def new_episode() -> None:
        env.reset(seed=len(episodes))
        episodes.append({"log_dir": env.log_dir, "steps": 0, "finished": False})
        do("setup", {"name": "Write File", "arguments": {"file_name": "hostile.py", "content": HOSTILE_SETUP}})
        do("setup", {"name": "Execute Script", "arguments": {"script_name": "hostile.py"}})
        do("setup", {"name": "Write File", "arguments": {"file_name": "tiny.py", "content": NOISY}})

    t0 = time.monotonic()
    new_episode()
    for i in range(n):
        do(*make_action(rng))
        if i % 500 == 0:
            progress(f"{i}/{n} actions, {sum(escapes.values())} escapes, {time.monotonic() - t0:.0f}s")
    env.close()
    record_problems = []
    for ep in episodes:
        lines = (ep["log_dir"] / "trace.jsonl").read_bytes().splitlines()
        try:
            records = [_strict_json(line) for line in lines]
        except ValueError as e:
            record_problems.append(f"{ep['log_dir']}: {e}")
            continue
        steps = [r for r in records if r.get("type") == "step"]
        want = 1 + ep["steps"] + (1 if ep["finished"] else 0)
        if len(lines) != want or [s["step"] for s in steps] != list(range(1, ep["steps"] + 1)):
            record_problems.append(f"{ep['log_dir']}: {len(lines)} lines for {ep['steps']} steps")
        if ep["finished"]:
            try:
                _strict_json((ep["log_dir"] / "result.json").read_bytes())
            except (OSError, ValueError) as e:
                record_problems.append(f"{ep['log_dir']}: result.json: {e}")
    return {"actions": n, "seconds": round(time.monotonic() - t0, 1), "kinds": dict(kinds), "escapes": dict(escapes),
            "n_escapes": sum(escapes.values()), "episodes": len(episodes),
            "record_problems": record_problems}


def test_fuzzed_actions_never_escape_and_are_all_recorded(tmp_path):
    n = int(os.environ.get("MLGYM_FUZZ_N", "2000"))
    figures = fuzz(n, int(os.environ.get("MLGYM_FUZZ_SEED", "0")), tmp_path)
    assert figures["escapes"] == {}, figures["escapes"]
    assert figures["record_problems"] == [], figures["record_problems"]
    assert figures["episodes"] >= 1 and sum(figures["kinds"].values()) == n + 3 * figures["episodes"]


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as d:  # rmtree recurses: the deep tree defeats it
        out = fuzz(int(sys.argv[1]) if len(sys.argv) > 1 else 2000, int(sys.argv[2]) if len(sys.argv) > 2 else 0, Path(d),
                   progress=lambda s: print(s, file=sys.stderr))
        print(json.dumps(out, indent=1, default=str))
