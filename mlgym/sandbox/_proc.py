"""Running a host process with bounded output capture and a whole-tree kill.

Shared by the local backends; the Docker backend reuses :class:`HeadTail`.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import IO, Callable, Mapping, Sequence

from mlgym.sandbox.base import ExecResult


class HeadTail:
    """Keeps the first and last ``limit // 2`` bytes of a stream and counts the rest."""

    def __init__(self, limit: int) -> None:
        self.half = max(1, limit // 2)
        self.head = bytearray()
        self.tail = bytearray()
        self.total = 0

    def feed(self, chunk: bytes) -> None:
        self.total += len(chunk)
        room = self.half - len(self.head)
        if room > 0:
            self.head += chunk[:room]
            chunk = chunk[room:]
        if chunk:
            self.tail += chunk
            if len(self.tail) > 2 * self.half:  # amortised trim
                del self.tail[: len(self.tail) - self.half]

    @property
    def dropped(self) -> int:
        return max(0, self.total - len(self.head) - min(len(self.tail), self.half))

    def text(self) -> str:
        tail = bytes(self.tail[-self.half :]) if self.tail else b""
        head = bytes(self.head)
        if self.dropped:
            mid = f"\n[... {self.dropped} bytes of output cut ...]\n".encode()
            return (head + mid + tail).decode("utf-8", "replace")
        return (head + tail).decode("utf-8", "replace")


def _pump(stream: IO[bytes], sink: HeadTail) -> None:
    try:
        while True:
            chunk = stream.read1(65536)  # type: ignore[attr-defined]
            if not chunk:
                break
            sink.feed(chunk)
    finally:
        stream.close()


def run_bounded(
    argv: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    timeout: float,
    output_bytes: int,
    stdin: str | None = None,
    preexec_fn: Callable[[], None] | None = None,
    kill_tree: Callable[[int], None] | None = None,
) -> ExecResult:
    """Run ``argv`` (no shell); on timeout kill its whole process group (and ``kill_tree``)."""
    start = time.monotonic()
    try:
        proc = subprocess.Popen(
            list(argv),
            cwd=cwd,
            env=dict(env),
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
            preexec_fn=preexec_fn,
        )
    except (FileNotFoundError, PermissionError) as e:
        return ExecResult(127, "", f"cannot run {argv[0]!r}: {e.strerror}", time.monotonic() - start)
    out, err = HeadTail(output_bytes), HeadTail(output_bytes)
    pumps = [
        threading.Thread(target=_pump, args=(proc.stdout, out), daemon=True),
        threading.Thread(target=_pump, args=(proc.stderr, err), daemon=True),
    ]
    for t in pumps:
        t.start()
    if stdin is not None and proc.stdin is not None:
        try:
            proc.stdin.write(stdin.encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    # Whatever happened, nothing the command started may outlive it.
    _killpg(proc.pid)
    if kill_tree is not None:
        kill_tree(proc.pid)
    proc.wait()
    for t in pumps:
        t.join(timeout=5)
    rc = proc.returncode
    reason = None
    if timed_out:
        reason = "timeout"
    elif rc is not None and rc < 0:
        reason = f"signal {signal.Signals(-rc).name}" if -rc in signal.valid_signals() else f"signal {-rc}"
    return ExecResult(
        returncode=rc if not timed_out else 124,
        stdout=out.text(),
        stderr=err.text(),
        duration=time.monotonic() - start,
        timed_out=timed_out,
        truncated_bytes=out.dropped + err.dropped,
        killed_reason=reason,
    )


def _killpg(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
