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


class Pump:
    """Moves bytes between a command's pipes and :class:`HeadTail` buffers on one selector.

    One thread, no pump or timer threads to start per command, no ``Popen.wait(timeout)``
    polling.  stdin is fed through the same selector (a blocking write deadlocks once
    the command's output fills its pipe).  Extra file descriptors (a pidfd, a control
    socket) can be watched: :meth:`poll` returns the tags of those that are ready.
    """

    def __init__(self, out_fd: int, err_fd: int, stdin_fd: int | None, stdin: bytes, output_bytes: int) -> None:
        self.out, self.err = HeadTail(output_bytes), HeadTail(output_bytes)
        self.sel = selectors.DefaultSelector()
        self.pending = memoryview(stdin)
        # The fds this pump owns and will close, each exactly once: an fd number closed
        # twice may by then belong to a file another thread just opened (issue 9).
        self._owned = {out_fd, err_fd}
        for fd, sink in ((out_fd, self.out), (err_fd, self.err)):
            os.set_blocking(fd, False)
            self.sel.register(fd, selectors.EVENT_READ, sink)
        if stdin_fd is not None:
            self._owned.add(stdin_fd)
            if self.pending:
                os.set_blocking(stdin_fd, False)
                self.sel.register(stdin_fd, selectors.EVENT_WRITE, _STDIN)
            else:
                self._release(stdin_fd)

    def _release(self, fd: int) -> None:
        """Close an owned fd once; later calls for the same number are no-ops."""
        if fd in self._owned:
            self._owned.discard(fd)
            _close_fd(fd)

    def watch(self, fd: int, tag: object) -> None:
        self.sel.register(fd, selectors.EVENT_READ, tag)

    def unwatch(self, fd: int) -> None:
        self.sel.unregister(fd)

    @property
    def outputs_open(self) -> bool:
        return any(isinstance(k.data, HeadTail) for k in self.sel.get_map().values())

    def poll(self, timeout: float) -> list[object]:
        ready = []
        for key, _ in self.sel.select(max(0.0, timeout)):
            if key.data is _STDIN:
                try:
                    self.pending = self.pending[os.write(key.fd, self.pending[:65536]) :]
                except BlockingIOError:
                    continue
                except OSError:  # the command closed its stdin
                    self.pending = memoryview(b"")
                if not self.pending:
                    self.sel.unregister(key.fd)
                    self._release(key.fd)
            elif isinstance(key.data, HeadTail):
                try:
                    chunk = os.read(key.fd, 65536)
                except BlockingIOError:
                    continue
                if chunk:
                    key.data.feed(chunk)
                else:
                    self.sel.unregister(key.fd)
            else:
                ready.append(key.data)
        return ready

    def drain(self, seconds: float = 2.0) -> None:
        """Read what dead writers left in the pipes (bounded: an escaped writer may linger)."""
        until = time.monotonic() + seconds
        while self.outputs_open and time.monotonic() < until:
            self.poll(until - time.monotonic())

    def close(self) -> None:
        self.sel.close()
        for fd in list(self._owned):
            self._release(fd)

    def result(self, returncode: int, start: float, timed_out: bool, reason: str | None) -> ExecResult:
        return ExecResult(
            returncode=124 if timed_out else returncode,
            stdout=self.out.text(),
            stderr=self.err.text(),
            duration=time.monotonic() - start,
            timed_out=timed_out,
            truncated_bytes=self.out.dropped + self.err.dropped,
            killed_reason="timeout" if timed_out else reason,
        )


def signal_reason(rc: int | None) -> str | None:
    if rc is not None and rc < 0:
        return f"signal {signal.Signals(-rc).name}" if -rc in signal.valid_signals() else f"signal {-rc}"
    return None


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
    pass_fds: Sequence[int] = (),
) -> ExecResult:
    """Run ``argv`` (no shell); on timeout kill its whole process group (and ``kill_tree``).
    ``pass_fds``: kept open in the child (bwrap reads its seccomp program from one)."""
    start = time.monotonic()
    # Our own pipes, so the Pump alone owns (and closes) the parent's ends.
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_r, in_w = os.pipe() if stdin is not None else (subprocess.DEVNULL, None)
    try:
        proc = subprocess.Popen(
            list(argv), cwd=cwd, env=dict(env), stdin=in_r, stdout=out_w, stderr=err_w,
            start_new_session=True, preexec_fn=preexec_fn, pass_fds=tuple(pass_fds),
        )
    except (FileNotFoundError, PermissionError) as e:
        for fd in (out_r, err_r, in_w):  # the child ends are closed below
            if fd is not None:
                _close_fd(fd)
        return ExecResult(127, "", f"cannot run {argv[0]!r}: {e.strerror}", time.monotonic() - start)
    finally:
        for fd in (out_w, err_w, in_r):
            if fd >= 0:
                _close_fd(fd)
    pump = Pump(out_r, err_r, in_w, stdin.encode() if stdin else b"", output_bytes)
    deadline = start + timeout
    timed_out = exited = False
    pidfd = _pidfd(proc.pid)  # ends the wait even if a background child holds the pipes
    if pidfd is not None:
        pump.watch(pidfd, _EXIT)
    try:
        while not exited and pump.outputs_open:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            exited = _EXIT in pump.poll(remaining if pidfd is not None else min(remaining, 0.05))
            if pidfd is None and proc.poll() is not None:
                exited = True
        if not timed_out and not exited:
            try:  # output closed: the process is (nearly always) gone already
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                timed_out = True
        # Whatever happened, nothing the command started may outlive it.
        _killpg(proc.pid)
        if kill_tree is not None:
            kill_tree(proc.pid)
        if not timed_out:
            pump.drain()
    finally:
        if pidfd is not None:
            pump.unwatch(pidfd)
            os.close(pidfd)
        pump.close()
    proc.wait()
    return pump.result(proc.returncode, start, timed_out, signal_reason(proc.returncode))


_STDIN, _EXIT = object(), object()


def _pidfd(pid: int) -> int | None:
    try:
        return os.pidfd_open(pid)
    except (AttributeError, OSError):  # Python without it, or a kernel before 5.3
        return None


def _close_fd(fd: int) -> None:
    try:
        os.close(fd)
    except OSError:
        pass


def _killpg(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
