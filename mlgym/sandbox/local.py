"""Local sandbox: bubblewrap isolation when ``bwrap`` works, a plain subprocess otherwise.

local-bwrap: a new mount namespace holding only the system (read-only), the Python
installation (read-only), the workspace (read-write) and the task data (read-only);
no network, own PID namespace, an unprivileged uid, no capabilities.  The task's
scripts, answers, the user's home and the mlgym source tree are simply not there.

One bwrap is started per sandbox (``start()``) with a small process server in it
(:mod:`mlgym.sandbox._spawner`); each ``exec`` is then a fork+exec inside the existing
namespaces and cgroup, which makes an empty command cost ~1.2x a bare subprocess
instead of ~2x for a fresh bwrap per command.  After each command everything it
started is killed.

local-plain: the command runs as the calling user in the workspace directory with
rlimits only.  Nothing is hidden from it; a warning says so once.
"""

from __future__ import annotations

import json
import logging
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Sequence

from mlgym.errors import SandboxError
from mlgym.paths import resolve_in
from mlgym.sandbox._cgroup import Cgroup
from mlgym.sandbox._proc import Pump, run_bounded, signal_reason
from mlgym.sandbox.base import ExecResult, Limits, Mount, check_writable

log = logging.getLogger(__name__)
SANDBOX_UID = int(os.environ.get("MLGYM_SANDBOX_UID", "65534"))
_TAG = "MLGYM_SANDBOX_TAG"
_ETC = [
    "/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
    "/etc/ssl", "/etc/ca-certificates", "/etc/localtime", "/etc/nsswitch.conf",
    "/etc/hosts", "/etc/mime.types", "/etc/matplotlibrc",
]
_warned_plain = False


@lru_cache(maxsize=None)
def _which(name: str) -> str | None:
    return shutil.which(name)


@lru_cache(maxsize=1)
def bwrap_available() -> str | None:
    """The reason bwrap cannot be used, or None when it works here."""
    exe = shutil.which("bwrap")
    if exe is None:
        return "bwrap is not installed (Debian: apt-get install bubblewrap)"
    probe = subprocess.run(
        [exe, "--unshare-all", "--unshare-user", "--ro-bind", "/", "/", "--proc", "/proc", "true"],
        capture_output=True, text=True,
    )
    if probe.returncode != 0:
        return f"bwrap does not work here: {probe.stderr.strip() or probe.returncode}"
    return None


def python_roots(python: str | None = None) -> list[Path]:
    """Directories a sandboxed Python needs: its venv and the interpreter it is built on.

    Ours always; with ``python`` (the runner's ``--python``) that one's too.
    """
    roots = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(sys.executable).resolve().parent.parent}
    if python:
        exe = Path(shutil.which(python) or python)
        if exe.is_absolute() and not str(exe).startswith(("/usr/", "/bin/")):
            roots.add(exe.parent.parent.absolute())  # a venv: <venv>/bin/python
            roots.add(exe.resolve().parent.parent)  # the interpreter the venv links to
    return sorted(r for r in roots if r.is_dir() and r != Path("/"))


def hidden_paths() -> list[Path]:
    """Paths that must not be visible even when they sit inside a bound Python tree."""
    from mlgym.task import benchmarks_roots  # local import: task imports sandbox

    return [Path(__file__).resolve().parents[1], *benchmarks_roots()]


class LocalSandbox:
    """See the module docstring.  ``isolation``: "auto", "bwrap" or "plain"."""

    def __init__(
        self,
        workspace: Path,
        *,
        limits: Limits = Limits(),
        mounts: Sequence[Mount] = (),
        isolation: str = "auto",
        env: Mapping[str, str] | None = None,
        device: str | None = None,
        python: str | None = None,
    ) -> None:
        self.workspace = Path(workspace).resolve()
        self.python = python  # an interpreter other than ours, made visible inside bwrap
        self.device = device  # GPU index(es), e.g. "0" or "0,1": CUDA_VISIBLE_DEVICES + /dev/nvidia*
        self.limits = limits
        self.mounts = list(mounts)
        self.extra_env = dict(env or {})
        if isolation not in ("auto", "bwrap", "plain"):
            raise SandboxError(f"unknown local isolation {isolation!r}; use auto, bwrap or plain")
        reason = bwrap_available() if isolation != "plain" else "plain requested"
        if isolation == "bwrap" and reason:
            raise SandboxError(reason)
        self.use_bwrap = reason is None
        self.name = "local-bwrap" if self.use_bwrap else "local-plain"
        self.workdir = str(self.workspace)
        self._cgroup: Cgroup | None = None
        self._server: _Server | None = None
        self._tag = uuid.uuid4().hex
        self._user_procs: int | None = None
        # One long-lived bwrap per sandbox with a process server in it (see _spawner);
        # MLGYM_BWRAP_PER_EXEC=1 starts a new bwrap for every command instead.
        self.persistent = not os.environ.get("MLGYM_BWRAP_PER_EXEC")
        self._started = False
        if not self.use_bwrap and isolation == "auto":
            global _warned_plain
            if not _warned_plain:
                log.warning("isolation reduced: %s; commands run as a plain subprocess", reason)
                _warned_plain = True

    # lifecycle -------------------------------------------------------------
    def start(self) -> None:
        self.workspace.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            self._cgroup = Cgroup.create(self.limits.memory_mb, self.limits.max_processes)
        self._started = True
        if self.use_bwrap and self.persistent:
            self._server = _Server.start(self)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._cgroup is not None:
            self._cgroup.remove()
            self._cgroup = None
        elif not self.use_bwrap:
            self._kill_tagged()
        self._started = False

    def _nproc(self) -> int:
        """RLIMIT_NPROC counts every process of the user, not just the sandbox's: allow
        what the user already runs (counted at start) plus the sandbox's own budget."""
        if self._user_procs is None:
            uid, n = os.getuid(), 0
            for entry in os.listdir("/proc"):
                try:
                    n += entry.isdigit() and os.stat(f"/proc/{entry}").st_uid == uid
                except OSError:
                    pass
            self._user_procs = n
        return self._user_procs + self.limits.max_processes

    def _kill_tagged(self, _pid: int = 0) -> None:
        """Without a cgroup, find the command's leftovers (even after setsid) by the tag
        in their environment.  A process that re-execs with a scrubbed environment is not
        found: local-plain is documented as reduced isolation."""
        needle = f"{_TAG}={self._tag}".encode()
        me = os.getpid()
        for _ in range(20):
            found = 0
            for entry in os.listdir("/proc"):
                if not entry.isdigit() or int(entry) == me:
                    continue
                try:
                    with open(f"/proc/{entry}/environ", "rb") as f:
                        if needle not in f.read().split(b"\0"):
                            continue
                    os.kill(int(entry), signal.SIGKILL)
                    found += 1
                except (OSError, ProcessLookupError):
                    continue
            if not found:
                return
            time.sleep(0.01)

    def __enter__(self) -> "LocalSandbox":
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # files -------------------------------------------------------------------
    def read_file(self, path: str) -> bytes:
        return resolve_in(self.workspace, path, must_exist=True).read_bytes()

    def write_file(self, path: str, data: bytes) -> None:
        target = resolve_in(self.workspace, path)
        check_writable(self.workspace, self.workdir, self.mounts, target, path)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)

    def _target(self, m: Mount) -> Path:
        return Path(m.target) if os.path.isabs(m.target) else self.workspace / m.target

    # exec --------------------------------------------------------------------
    def _env(self, env: Mapping[str, str] | None) -> dict[str, str]:
        base = {
            "PATH": f"{Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
            "HOME": "/tmp" if self.use_bwrap else str(self.workspace),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": "/tmp" if self.use_bwrap else str(self.workspace / ".mpl"),
        }
        for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TZ"):
            if key in os.environ:
                base[key] = os.environ[key]
        if self.device is not None:
            base["CUDA_VISIBLE_DEVICES"] = self.device
        base[_TAG] = self._tag  # lets a cgroup-less plain sandbox find what escaped its process group
        base.update(self.extra_env)
        base.update(env or {})
        return base

    def _rlimits(self) -> None:
        lim = self.limits
        if self._cgroup is None:  # cgroups, when present, do memory and pids better
            mem = lim.memory_mb * 1024 * 1024
            resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
            resource.setrlimit(resource.RLIMIT_NPROC, (self._nproc(), self._nproc()))
        fsize = lim.file_size_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if lim.cpu_seconds:
            resource.setrlimit(resource.RLIMIT_CPU, (lim.cpu_seconds, lim.cpu_seconds + 5))

    def _preexec(self) -> None:
        if self._cgroup is not None:
            self._cgroup.preexec_join()
        self._rlimits()

    def _launcher(self) -> list[str] | None:
        """A command prefix that joins the cgroup and sets rlimits, then execs the command.

        Any ``preexec_fn`` stops subprocess from using vfork and costs ~15 ms per exec;
        ``sh`` + util-linux ``prlimit`` do the same work in ~2 ms.  None: not available.
        """
        prlimit = _which("prlimit")
        if prlimit is None:
            return None
        lim = self.limits
        limits = [prlimit, "--core=0", f"--fsize={lim.file_size_mb * 1024 * 1024}"]
        if self._cgroup is None:
            limits += [f"--as={lim.memory_mb * 1024 * 1024}", f"--nproc={self._nproc()}"]
        if lim.cpu_seconds:
            limits.append(f"--cpu={lim.cpu_seconds}:{lim.cpu_seconds + 5}")
        limits.append("--")
        if self._cgroup is None:
            return limits
        procs = [str(d / "cgroup.procs") for d in dict.fromkeys(self._cgroup.dirs.values())]
        join = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done; exec "$@"'
        return ["/bin/sh", "-c", join, "sh", str(len(procs)), *procs, *limits]

    def _bwrap_argv(self, argv: Sequence[str]) -> list[str]:
        args = ["bwrap", "--unshare-all", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
        if self.limits.network:
            args.append("--share-net")
        if os.geteuid() == 0:
            args += ["--unshare-user", "--uid", str(SANDBOX_UID), "--gid", str(SANDBOX_UID)]
        for d in ("/usr", "/opt"):
            if Path(d).is_dir():
                args += ["--ro-bind", d, d]
        for d in ("/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"):
            p = Path(d)
            if p.is_symlink():
                args += ["--symlink", os.readlink(p), d]
            elif p.is_dir():
                args += ["--ro-bind", d, d]
        for e in _ETC:
            if Path(e).exists():
                args += ["--ro-bind", e, e]
        args += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
        if self.device is not None:  # GPU device nodes (the driver's libraries are under /usr)
            for node in sorted(Path("/dev").glob("nvidia*")) + [Path("/dev/dri")]:
                if node.exists():
                    args += ["--dev-bind", str(node), str(node)]
        roots = python_roots(self.python)
        for root in roots:
            args += ["--ro-bind", str(root), str(root)]
        for hidden in hidden_paths():
            if any(hidden == r or r in hidden.parents for r in roots) and hidden.is_dir():
                args += ["--tmpfs", str(hidden)]
        args += ["--bind", str(self.workspace), str(self.workspace)]
        for m in self.mounts:
            args += ["--ro-bind" if m.read_only else "--bind", str(m.source), str(self._target(m))]
        args += ["--chdir", str(self.workspace), "--"]
        return args + list(argv)

    def exec(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
    ) -> ExecResult:
        if not self._started:
            raise SandboxError("sandbox is not started; call start() first")
        if not argv:
            raise ValueError("argv is empty")
        if self._server is not None:
            if self._cgroup is not None:
                self._cgroup.reset_oom()
            res = self._server.run(argv, self._env(env), timeout if timeout is not None else self.limits.timeout, stdin)
            self._classify(res)
            if not self._server.alive:  # killed (e.g. out of memory): a fresh one for the next command
                self._server.stop()
                self._server = _Server.start(self)
            return res
        full = self._bwrap_argv(argv) if self.use_bwrap else list(argv)
        launcher = self._launcher()
        if launcher is not None:
            full = launcher + full
        if self._cgroup is not None:
            self._cgroup.reset_oom()
        res = run_bounded(
            full,
            cwd=self.workspace,
            env=self._env(env),
            timeout=timeout if timeout is not None else self.limits.timeout,
            output_bytes=self.limits.output_bytes,
            stdin=stdin,
            preexec_fn=None if launcher is not None else self._preexec,
            kill_tree=self._cgroup.kill_all if self._cgroup is not None else self._kill_tagged,
        )
        self._classify(res)
        return res

    def _classify(self, res: ExecResult) -> None:
        if self._cgroup is not None and not res.timed_out and res.returncode != 0 and self._cgroup.oom_killed():
            res.killed_reason = "memory"
        elif "MemoryError" in res.stderr[-2000:] and res.returncode != 0:
            res.killed_reason = "memory"


class _Server:
    """The host side of :mod:`mlgym.sandbox._spawner`: one bwrap, many commands."""

    def __init__(self, proc: subprocess.Popen[bytes], sock: socket.socket, output_bytes: int, workdir: str) -> None:
        self.proc, self.sock, self.output_bytes, self.workdir = proc, sock, output_bytes, workdir
        self.alive = True

    @classmethod
    def start(cls, box: "LocalSandbox") -> "_Server":
        from mlgym.sandbox._spawner import SERVER

        host, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        argv = box._bwrap_argv([sys.executable, "-I", "-S", "-c", SERVER, str(child.fileno())])
        launcher = box._launcher()
        try:
            proc = subprocess.Popen(
                (launcher or []) + argv, cwd=box.workspace, env=box._env(None),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                pass_fds=(child.fileno(),), start_new_session=True,
                preexec_fn=None if launcher is not None else box._preexec,
            )
        finally:
            child.close()
        server = cls(proc, host, box.limits.output_bytes, str(box.workspace))
        probe = server.run(["true"], {"PATH": "/usr/bin:/bin"}, 30.0, None)
        if probe.returncode != 0:
            err = proc.stderr.read().decode(errors="replace").strip() if proc.stderr and not server.alive else probe.stderr
            server.stop()
            raise SandboxError(f"the bwrap sandbox did not start: {err or probe.killed_reason}")
        return server

    def run(self, argv: Sequence[str], env: Mapping[str, str], timeout: float, stdin: str | None) -> ExecResult:
        start = time.monotonic()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        in_r, in_w = os.pipe()
        request = json.dumps({"argv": list(argv), "env": dict(env), "cwd": self.workdir})
        try:
            socket.send_fds(self.sock, [request.encode()], [in_r, out_w, err_w])
        except OSError:
            self.alive = False
            for fd in (out_r, out_w, err_r, err_w, in_r, in_w):
                os.close(fd)
            return ExecResult(125, "", "the sandbox is gone", time.monotonic() - start, killed_reason="sandbox died")
        for fd in (in_r, out_w, err_w):
            os.close(fd)
        pump = Pump(out_r, err_r, in_w, stdin.encode() if stdin else b"", self.output_bytes)
        pump.watch(self.sock.fileno(), _CTL)
        deadline = start + timeout
        status: int | None = None
        timed_out = killed = False
        try:
            while status is None:
                remaining = deadline - time.monotonic()
                if remaining <= 0 and not killed:
                    timed_out = killed = True
                    self._send({"kill": True})
                    deadline = time.monotonic() + 10  # for the server to report back
                    continue
                if remaining <= 0:  # the server does not answer: take the whole sandbox down
                    self.alive = False
                    break
                if _CTL in pump.poll(remaining):
                    status = self._recv_status()
                    if status is None and not self.alive:
                        break
            pump.drain(1.0)
        finally:
            pump.close()
        if status is None:
            return pump.result(137, start, timed_out, "sandbox died")
        return pump.result(status, start, timed_out, signal_reason(status))

    def _send(self, obj: dict[str, object]) -> None:
        try:
            self.sock.send(json.dumps(obj).encode())
        except OSError:
            self.alive = False

    def _recv_status(self) -> int | None:
        try:
            msg = self.sock.recv(1 << 16)
        except OSError:
            msg = b""
        if not msg:
            self.alive = False
            return None
        reply = json.loads(msg)
        return int(reply["exit"]) if "exit" in reply else None

    def stop(self) -> None:
        self.alive = False
        try:
            self.sock.close()
        except OSError:
            pass
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.proc.wait()
        if self.proc.stderr:
            self.proc.stderr.close()


_CTL = object()
