"""Running a host process with bounded output capture and a whole-tree kill.

Shared by the local backends; the Docker backend reuses :class:`HeadTail`.
"""

from __future__ import annotations

import os
import selectors
import signal
import subprocess
import time
from pathlib import Path
from typing import Callable, Mapping, Sequence

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
    if stdin is not None and proc.stdin is not None:
        try:
            proc.stdin.write(stdin.encode())
            proc.stdin.close()
        except BrokenPipeError:
            pass
    # One thread, one selector: no pump or timer threads to start per command, and no
    # Popen.wait(timeout) polling, which sleeps in steps and adds latency.
    deadline = start + timeout
    timed_out = False
    sel = selectors.DefaultSelector()
    assert proc.stdout is not None and proc.stderr is not None
    for stream, sink in ((proc.stdout, out), (proc.stderr, err)):
        os.set_blocking(stream.fileno(), False)
        sel.register(stream, selectors.EVENT_READ, sink)
    try:
        while sel.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            for key, _ in sel.select(remaining):
                try:
                    chunk = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                if chunk:
                    key.data.feed(chunk)
                else:
                    sel.unregister(key.fileobj)
        if not timed_out:
            try:  # output closed: the process is (nearly always) gone already
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                timed_out = True
    finally:
        sel.close()
    # Whatever happened, nothing the command started may outlive it.
    _killpg(proc.pid)
    if kill_tree is not None:
        kill_tree(proc.pid)
    proc.wait()
    proc.stdout.close()
    proc.stderr.close()
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
