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
    # One thread, one selector: no pump or timer threads to start per command, and no
    # Popen.wait(timeout) polling, which sleeps in steps and adds latency.  stdin is fed
    # through the same selector (a blocking write deadlocks once the command's output
    # fills its pipe), and a pidfd ends the wait when the command exits even if a
    # background child still holds the output pipes.
    deadline = start + timeout
    timed_out = exited = False
    pending = memoryview(stdin.encode()) if stdin is not None else memoryview(b"")
    sel = selectors.DefaultSelector()
    assert proc.stdout is not None and proc.stderr is not None
    for stream, sink in ((proc.stdout, out), (proc.stderr, err)):
        os.set_blocking(stream.fileno(), False)
        sel.register(stream, selectors.EVENT_READ, sink)
    if proc.stdin is not None:
        if pending:
            os.set_blocking(proc.stdin.fileno(), False)
            sel.register(proc.stdin, selectors.EVENT_WRITE, _STDIN)
        else:
            proc.stdin.close()
    pidfd = _pidfd(proc.pid)
    if pidfd is not None:
        sel.register(pidfd, selectors.EVENT_READ, _EXIT)
    try:
        while not exited and any(k.data is not _EXIT for k in sel.get_map().values()):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            events = sel.select(remaining if pidfd is not None else min(remaining, 0.05))
            if pidfd is None and proc.poll() is not None:
                exited = True
            for key, _ in events:
                if key.data is _EXIT:
                    exited = True
                elif key.data is _STDIN:
                    try:
                        pending = pending[os.write(key.fd, pending[:65536]) :]
                    except BlockingIOError:
                        continue
                    except OSError:  # the command closed its stdin
                        pending = memoryview(b"")
                    if not pending:
                        sel.unregister(key.fileobj)
                        _close(key.fileobj)
                else:
                    _read(sel, key)
        if not timed_out and not exited:
            try:  # output closed: the process is (nearly always) gone already
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                timed_out = True
        # Whatever happened, nothing the command started may outlive it.
        _killpg(proc.pid)
        if kill_tree is not None:
            kill_tree(proc.pid)
        # Drain what the dead writers left in the pipes (bounded: an escaped writer may linger).
        drain_until = time.monotonic() + 2.0
        while not timed_out and time.monotonic() < drain_until:
            keys = [k for k in sel.get_map().values() if isinstance(k.data, HeadTail)]
            if not keys:
                break
            for key, _ in sel.select(max(0.0, drain_until - time.monotonic())):
                if isinstance(key.data, HeadTail):
                    _read(sel, key)
    finally:
        sel.close()
        if pidfd is not None:
            os.close(pidfd)
        if proc.stdin is not None:
            _close(proc.stdin)
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


_STDIN, _EXIT = object(), object()


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # Python without it, or a kernel before 5.3
        return None


def _read(sel: selectors.BaseSelector, key: selectors.SelectorKey) -> None:
    try:
        chunk = os.read(key.fd, 65536)
    except BlockingIOError:
        return
    if chunk:
        key.data.feed(chunk)
    else:
        sel.unregister(key.fileobj)


def _close(stream: object) -> None:
    try:
        stream.close()  # type: ignore[attr-defined]
    except OSError:
        pass


def _killpg(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
