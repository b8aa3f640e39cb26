"""Host-side file access under real races (issue 8).

A separate process swaps, in a tight loop, one name between a regular file, symlinks to
a secret outside the workspace, to ``/proc/self/environ`` (the harness's, when followed
by the harness) and to a root-owned victim file, a FIFO and a hard link to the victim,
and swaps a folder with a symlink to an outside folder (atomically, with
``renameat2(RENAME_EXCHANGE)``), while every file tool, Undo, the snapshotter and the
scoring copy run thousands of times.  Nothing secret may reach an observation, the
workspace or ``objects/``; the victim is never modified; nothing hangs.  Then the totals:
a 300 MiB file inspected with bounded memory, sparse files against the snapshot caps,
the undo history's bounds.
"""

from __future__ import annotations

import os
import secrets
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from mlgym.core import fs
from mlgym.core.errors import MLGymError
from mlgym.grading.scoring import evaluate
from mlgym.runlog.snapshot import Snapshotter
from mlgym.env.tools import files as file_tools

pytestmark = pytest.mark.timeout(600)  # a FIFO opened blocking would hang: fail instead
ROUNDS = int(os.environ.get("MLGYM_RACE_ROUNDS", "400"))  # x 14 racing operations

SWAPPER = textwrap.dedent(r"""
    import ctypes, os, sys
    ws, secret, victim, outside = sys.argv[1:5]
    names = sys.argv[5:]
    os.chdir(ws)
    libc = ctypes.CDLL(None, use_errno=True)

    def exchange(a, b):
        if libc.renameat2(-100, a.encode(), -100, b.encode(), 2) != 0:  # RENAME_EXCHANGE
            try:
                os.rename(a, b)
            except OSError:
                pass

    def make(kind, path):
        if kind == "file":
            with open(path, "w") as f:
                f.write("public line\n" * 3)
        elif kind == "fifo":
            os.mkfifo(path)
        elif kind == "hardlink":
            os.link(victim, path)
        else:
            os.symlink({"secret": secret, "environ": "/proc/self/environ", "victim": victim, "dir": outside}[kind], path)

    kinds = ["file", "secret", "file", "environ", "fifo", "victim", "file", "hardlink", "dir"]
    os.makedirs("d", exist_ok=True)
    with open("d/x", "w") as f:
        f.write("public in d\n")
    os.symlink(outside, ".dalt")
    i = 0
    while True:
        for name in names:
            alt = "." + name + ".alt"
            try:
                os.unlink(alt)
            except IsADirectoryError:
                os.rmdir(alt)
            except OSError:
                pass
            try:
                make(kinds[i % len(kinds)], alt)
            except OSError:
                continue
            exchange(alt, name)
        exchange("d", ".dalt")
        i += 1
""")


class Attack:
    """The swapping process and what it must never get at."""

    def __init__(self, root: Path, ws: Path, names: tuple[str, ...] = ("x",)) -> None:
        self.token = secrets.token_hex(8)
        self.outside = root / "outside"
        self.outside.mkdir()
        self.secret = self.outside / "secret.txt"
        self.secret.write_text(f"TOPSECRET-{self.token}\n")
        (self.outside / "x").write_text(f"TOPSECRET-{self.token} (x)\n")
        (self.outside / f"secretname-{self.token}.txt").write_text(f"TOPSECRET-{self.token}\n")
        self.victim = root / "victim.txt"
        self.victim.write_text("ORIGINAL\n")
        self.victim_stat = self.victim.stat()
        self.outside_files = {p: p.read_bytes() for p in self.outside.iterdir()}
        with open("/proc/self/environ", "rb") as f:
            self.environ = max(f.read().split(b"\0"), key=len).decode(errors="replace")
        assert len(self.environ) >= 8
        self.ws = ws
        self.proc = subprocess.Popen([sys.executable, "-c", SWAPPER, str(ws), str(self.secret), str(self.victim),
                                      str(self.outside), *names], stderr=subprocess.PIPE)
        time.sleep(0.2)

    def stop(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def leaked(self, text: str | bytes) -> bool:
        if isinstance(text, bytes):
            text = text.decode("utf-8", "replace")
        return self.token in text or self.environ in text

    def check_untouched(self) -> None:
        assert self.victim.read_text() == "ORIGINAL\n"
        now = self.victim.stat()
        assert (now.st_mtime_ns, now.st_ino, now.st_mode) == (self.victim_stat.st_mtime_ns, self.victim_stat.st_ino, self.victim_stat.st_mode)
        assert {p: p.read_bytes() for p in self.outside.iterdir()} == self.outside_files

    def check_tree(self, root: Path) -> None:
        """No regular file under ``root`` holds the secret (links are not followed)."""
        for dirpath, _dirs, names in os.walk(root):
            for n in names:
                p = Path(dirpath) / n
                if stat.S_ISREG(p.lstat().st_mode):
                    assert not self.leaked(p.read_bytes()), p


@pytest.fixture
def env(env_factory):
    e = env_factory(max_steps=10**6, exec_timeout=20)
    e.reset(seed=0)
    return e


def test_file_tools_undo_snapshot_and_scoring_copy_under_swaps(env, tmp_path: Path) -> None:
    ws = env.workspace
    (ws / "public.txt").write_text("public copy source\n")
    attack = Attack(tmp_path, ws)
    actions = [
        ("Read File", {"file_name": "x"}),
        ("Read File", {"file_name": "d/x"}),
        ("Inspect Script Lines", {"script_name": "x", "start_line_number": 1, "end_line_number": 3}),
        ("Inspect Script Lines", {"script_name": "d/x", "start_line_number": 1, "end_line_number": 3}),
        ("Write File", {"file_name": "x", "content": "written\n"}),
        ("Append File", {"file_name": "x", "content": "appended\n"}),
        ("Copy File", {"source": "public.txt", "destination": "x"}),
        ("Copy File", {"source": "x", "destination": "copy.txt"}),
        ("Copy File", {"source": "d/x", "destination": "copy2.txt"}),
        ("Undo Edit Script", {"script_name": "x"}),
        ("Write File", {"file_name": "d/x", "content": "written in d\n"}),
        ("List Files", {"dir_path": "d"}),
    ]
    outcomes: dict[str, set[str]] = {}
    try:
        for i in range(ROUNDS):
            for name, args in actions:
                obs, _, _, _, info = env.step({"name": name, "arguments": args})
                assert not attack.leaked(obs), (name, obs)
                assert "secretname" not in obs, (name, obs)
                key = f"{name} {args.get('file_name') or args.get('script_name') or args.get('source')}"
                outcomes.setdefault(key, set()).add("error" if info["error"] else "ok")
            assert not attack.leaked(repr(env.snap.changes()))  # the snapshotter's own records
            try:  # scoring's copy of the submission
                fs.copy_out(ws, "x", tmp_path / "scored.csv")
                assert not attack.leaked((tmp_path / "scored.csv").read_bytes())
            except (OSError, MLGymError):
                pass
    finally:
        attack.stop()
    attack.check_untouched()
    attack.check_tree(ws)
    attack.check_tree(env.log_dir)  # objects/ and trace.jsonl
    # The race really ran: reads both succeeded and were refused.
    for key in ("Read File x", "Read File d/x", "Copy File x", "Inspect Script Lines x"):
        assert outcomes[key] == {"ok", "error"}, (key, outcomes[key])


def test_scoring_never_follows_or_blocks_on_a_swapped_submission(env, tmp_path: Path) -> None:
    attack = Attack(tmp_path, env.workspace, names=("submission.csv",))
    try:
        results = [evaluate(env.task, env.data, env.workspace) for _ in range(6)]
    finally:
        attack.stop()
    for r in results:
        assert not attack.leaked(repr(r))
    attack.check_untouched()


def test_fifo_and_links_as_submission_are_invalid_not_hangs(env, tmp_path: Path) -> None:
    sub = env.workspace / "submission.csv"
    secret = tmp_path / "answers.csv"
    secret.write_text("TOPSECRET,1\n")
    for make in (lambda: os.mkfifo(sub), lambda: os.symlink(secret, sub), lambda: os.symlink("/proc/self/environ", sub)):
        sub.unlink(missing_ok=True)
        make()
        r = evaluate(env.task, env.data, env.workspace)
        assert not r["valid_submission"] and r["error"] and "TOPSECRET" not in repr(r)


_MEMORY_PROBE = textwrap.dedent(r"""
    import json, os, resource, sys
    from pathlib import Path
    from mlgym.sandbox.local import LocalSandbox
    from mlgym.env.tools import REGISTRY
    from mlgym.env.tools.base import ToolContext
    ws = Path(sys.argv[1])
    ctx = ToolContext(sandbox=LocalSandbox(ws, isolation="plain"))
    def rss():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # MiB
    out = {}
    base = rss()
    for name, args in json.loads(sys.argv[2]):
        obs = REGISTRY[name](ctx, args)
        out[name + " " + json.dumps(args)] = [rss() - base, len(obs)]
    print(json.dumps(out))
""")


def test_300_mib_files_are_streamed_with_bounded_memory(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    ws.mkdir()
    with open(ws / "oneline.bin", "wb") as f:  # one 300 MiB line: no newline anywhere
        f.truncate(300 * 2**20)
    with open(ws / "lines.txt", "wb") as f:
        block = b"".join(b"line %07d %s\n" % (i, b"z" * 100) for i in range(8192))
        for _ in range(300 * 2**20 // len(block)):
            f.write(block)
    import json

    calls = [
        ("Inspect Script Lines", {"script_name": "oneline.bin", "start_line_number": 1, "end_line_number": 100}),
        ("Inspect Script Lines", {"script_name": "lines.txt", "start_line_number": 2000000, "end_line_number": 2000099}),
        ("Read File", {"file_name": "lines.txt"}),
        ("Copy File", {"source": "lines.txt", "destination": "copy.txt"}),
        ("Append File", {"file_name": "oneline.bin", "content": "tail\n"}),
    ]
    res = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, str(ws), json.dumps(calls)], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    grown = json.loads(res.stdout.strip().splitlines()[-1])
    for call, (mib, obs_len) in grown.items():
        assert mib < 40 and obs_len < 25_000, (call, mib, obs_len)  # the old tools grew by 300+ MiB
    assert (ws / "copy.txt").stat().st_size == (ws / "lines.txt").stat().st_size
    assert (ws / "oneline.bin").stat().st_size == 300 * 2**20 + 5


def test_inspect_cuts_long_lines_and_counts_all(env) -> None:
    (env.workspace / "wide.py").write_text("a = 1\n" + "b" * 50_000 + "\nc = 3\n")
    obs, _, _, _, info = env.step({"name": "Inspect Script Lines", "arguments": {"script_name": "wide.py", "start_line_number": 1, "end_line_number": 3}})
    assert info["error"] is None and "the file ends at line 3" in obs and "c = 3" in obs
    assert "more bytes of this line cut" in obs and len(obs) < 5000


def _blocks_used(root: Path) -> int:
    return sum(p.lstat().st_blocks * 512 for p in root.rglob("*") if p.is_file())


def _apparent(root: Path) -> int:
    return sum(p.lstat().st_size for p in root.rglob("*") if p.is_file())


def test_sparse_files_cannot_inflate_objects(tmp_path: Path) -> None:
    ws, log = tmp_path / "ws", tmp_path / "log"
    ws.mkdir()
    for i in range(20):  # 20 files of 99 MiB apparent, ~2 KiB each on disk, all different
        with open(ws / f"sparse{i}.bin", "wb") as f:
            f.seek(99 * 2**20)
            f.write(os.urandom(2048))
    assert _blocks_used(ws) < 1 * 2**20
    snap = Snapshotter(ws, log, episode_bytes=500 * 2**20)
    first = snap.changes()
    assert _apparent(log) <= 256 * 2**20 and any("256 MiB per step" in n for n in snap.last_notes)
    assert sum(1 for d in first.values() if d and d.startswith("skipped:")) >= 17
    for _ in range(4):
        snap.changes()
    assert _apparent(log) <= 500 * 2**20 and any("per episode" in n for n in snap.last_notes)
    assert _blocks_used(log) < 4 * 2**20  # stored objects stay sparse too
    assert snap.bytes_stored <= 500 * 2**20


def test_snapshot_survives_odd_entries_and_clears_setuid(tmp_path: Path) -> None:
    ws, log = tmp_path / "ws", tmp_path / "log"
    ws.mkdir()
    (ws / "tool").write_bytes(b"#!/bin/sh\n")
    os.chmod(ws / "tool", 0o6755)
    os.mkfifo(ws / "fifo")
    os.symlink(os.fsdecode(b"/etc/\xff\x1b]0;title\x07"), ws / "oddlink")
    (ws / os.fsdecode(b"bad\xffname")).write_text("x")
    deep = ws
    for _ in range(40):
        deep = deep / "d"
    deep.mkdir(parents=True)
    (deep / "bottom.txt").write_text("deep")
    snap = Snapshotter(ws, log)
    files = snap.changes()
    assert stat.S_IMODE((ws / "tool").stat().st_mode) == 0o755
    assert files["oddlink"] == "symlink:/etc/\\xff\\x1b]0;title\\x07"
    assert "fifo" not in files and "tool" in files
    notes = " | ".join(snap.last_notes)
    assert "setuid" in notes and "not UTF-8" in notes and "deeper than" in notes
    import json

    json.dumps(files, ensure_ascii=False).encode()  # what the trace writer does: must not raise


def test_snapshot_stores_what_it_hashed(tmp_path: Path) -> None:
    ws, log = tmp_path / "ws", tmp_path / "log"
    ws.mkdir()
    attack = Attack(tmp_path, ws)
    snap = Snapshotter(ws, log)
    try:
        for _ in range(ROUNDS * 4):
            snap.changes()
    finally:
        attack.stop()
    import hashlib

    for obj in (log / "objects").rglob("*"):
        if obj.is_file():
            assert hashlib.sha256(obj.read_bytes()).hexdigest() == obj.name
    attack.check_tree(log)
    attack.check_untouched()


def test_undo_history_is_bounded(env, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(file_tools, "UNDO_FILE_BYTES", 1000)
    monkeypatch.setattr(file_tools, "UNDO_TOTAL_BYTES", 5000)
    for i in range(15):
        env.step({"name": "Write File", "arguments": {"file_name": "a.txt", "content": f"v{i}\n" * 50}})
    history = env.ctx.history
    assert len(history["a.txt"]) == file_tools.UNDO_VERSIONS
    env.step({"name": "Write File", "arguments": {"file_name": "big.txt", "content": "x" * 2000}})
    env.step({"name": "Write File", "arguments": {"file_name": "big.txt", "content": "y"}})
    for i in range(12):
        env.step({"name": "Write File", "arguments": {"file_name": f"f{i}.txt", "content": "z" * 900}})
        env.step({"name": "Write File", "arguments": {"file_name": f"f{i}.txt", "content": "w" * 900}})
    kept = sum(len(v) for vs in history.values() for v in vs if isinstance(v, bytes))
    assert kept <= 5000
    obs, _, _, _, info = env.step({"name": "Undo Edit Script", "arguments": {"script_name": "big.txt"}})
    assert info["error"] and "was not kept" in obs and (env.workspace / "big.txt").read_text() == "y"
    obs, _, _, _, info = env.step({"name": "Undo Edit Script", "arguments": {"script_name": "a.txt"}})
    assert info["error"] is None and obs.endswith("v13\n")
