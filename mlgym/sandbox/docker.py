"""Docker sandbox: one container per sandbox, driven through the Docker SDK (never the CLI).

The container runs a sleep loop under ``docker-init`` (``init=True``) as PID 1; every
``exec`` is a ``docker exec`` as an unprivileged uid with no capabilities, wrapped in an
in-container ``timeout -k 2`` (docker exec does not forward signals, so only that
kills the tree) and followed by a sweep of that uid's leftover processes: nothing a
command starts outlives it, as in the local backends.

The workspace is bind-mounted read-write at ``/workspace``; each :class:`Mount` is
bind-mounted read-only (a relative target is inside ``/workspace``).  No network
unless ``Limits.network``; memory (no swap), CPU share and the number of processes
are container limits.  ``read_file`` / ``write_file`` work on the host side of the
bind mounts.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import socket
import struct
import threading
import time
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import docker.errors
from docker.client import DockerClient, from_env
from docker.types import DeviceRequest, Ulimit
from docker.types import Mount as DockerMount

from mlgym.errors import ImageMissingError, SandboxError
from mlgym.paths import resolve_in
from mlgym.sandbox._proc import HeadTail
from mlgym.sandbox.base import ExecResult, Limits, Mount, check_writable

__all__ = ["DEFAULT_IMAGE", "DockerSandbox", "connect", "gc"]

log = logging.getLogger(__name__)
DEFAULT_IMAGE = "mlgym-task:latest"
WORKDIR = "/workspace"
LABEL_RUN, LABEL_TASK = "mlgym.run", "mlgym.task"
LABEL_OWNER = "mlgym.owner"  # "<hostname>:<pid>" of the process that made the container
DEFAULT_UID = 1000
KILL_GRACE = 2  # seconds between timeout's TERM and KILL
# Runs the command under `timeout`, then kills whatever the command left behind (every
# process of the sandbox uid but this shell); keeps the command's exit status.
_WRAPPER = f'timeout -k {KILL_GRACE} "$0" "$@"; rc=$?; kill -9 -1 2>/dev/null; exit $rc'
# Prints the container's cumulative OOM-kill count (cgroup v2, then v1).
_OOM_PROBE = (
    "f=/sys/fs/cgroup/memory.events; [ -r $f ] || f=/sys/fs/cgroup/memory/memory.oom_control; "
    "awk '$1==\"oom_kill\" {print $2}' $f 2>/dev/null"
)
_LIVE: set[DockerSandbox] = set()


def connect() -> DockerClient:
    """A client for the daemon in the environment (``DOCKER_HOST``...), or :class:`SandboxError`."""
    try:
        client = from_env()
        client.ping()
    except docker.errors.DockerException as e:
        raise SandboxError(f"docker daemon not reachable ({_first_line(e)}); start dockerd or set DOCKER_HOST") from e
    return client


def _owner() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def _orphaned(labels: Mapping[str, str]) -> bool:
    """True when the container's owner process (on this host) is gone, or unknown."""
    host, _, pid = labels.get(LABEL_OWNER, "").rpartition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return host == ""  # no owner label: an old container; another host's: not ours to judge
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False  # the owner is alive: its run may still be going


def gc(client: DockerClient | None = None, *, everything: bool = False) -> int:
    """Remove containers labelled ``mlgym.run`` whose owner process is gone (all of them
    with ``everything``: also those of runs still going); return how many."""
    client = client or connect()
    n = 0
    for c in client.containers.list(all=True, filters={"label": LABEL_RUN}):
        if not everything and not _orphaned(c.labels):
            continue
        try:
            c.remove(force=True)
            n += 1
        except docker.errors.NotFound:
            pass
    return n


class DockerSandbox:
    """See the module docstring.

    Options: ``image`` (default ``$MLGYM_DOCKER_IMAGE`` or ``mlgym-task:latest``),
    ``run_id`` / ``task`` (container labels), ``device`` ("0", "0,1" or "all": GPUs),
    ``env`` (extra environment for every exec), ``uid`` (override the exec user).
    """

    name = "docker"
    workdir = WORKDIR

    def __init__(
        self,
        workspace: Path,
        *,
        limits: Limits = Limits(),
        mounts: Sequence[Mount] = (),
        image: str | None = None,
        run_id: str | None = None,
        task: str | None = None,
        device: str | None = None,
        env: Mapping[str, str] | None = None,
        uid: int | None = None,
        client: DockerClient | None = None,
    ) -> None:
        self.workspace = Path(workspace).resolve()
        self.limits = limits
        self.mounts = list(mounts)
        self.image = image or os.environ.get("MLGYM_DOCKER_IMAGE") or DEFAULT_IMAGE
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self.task = task or ""
        self.device = device
        self.extra_env = dict(env or {})
        self._uid = uid
        self._client = client
        self.container: Any = None
        self.uid: int | None = None
        self.gid: int | None = None
        self._oom_seen = 0
        self._lock = threading.Lock()

    # lifecycle -------------------------------------------------------------
    @property
    def client(self) -> DockerClient:
        if self._client is None:
            self._client = connect()
        return self._client

    def start(self) -> None:
        if self.container is not None:
            return
        client = self.client
        try:
            client.images.get(self.image)
        except docker.errors.ImageNotFound:
            raise ImageMissingError(
                f"docker image {self.image!r} not found; build it with `mlgym sandbox build`"
            ) from None
        except docker.errors.APIError as e:
            raise SandboxError(f"docker: {_first_line(e)}") from e
        self.workspace.mkdir(parents=True, exist_ok=True)
        self.uid, self.gid = self._exec_user()
        lim = self.limits
        kwargs: dict[str, Any] = dict(
            image=self.image,
            command=["sh", "-c", "while :; do sleep 3600; done"],
            name=f"mlgym-{self.run_id}-{uuid.uuid4().hex[:6]}",
            labels={LABEL_RUN: self.run_id, LABEL_TASK: self.task, LABEL_OWNER: _owner()},
            detach=True,
            init=True,
            user="0:0",  # PID 1 only; every exec runs as self.uid with no capabilities
            working_dir=WORKDIR,
            mounts=self._docker_mounts(),
            network_mode=None if lim.network else "none",
            mem_limit=f"{lim.memory_mb}m",
            memswap_limit=f"{lim.memory_mb}m",
            pids_limit=lim.max_processes,
            cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            ulimits=[Ulimit(name="fsize", soft=lim.file_size_mb << 20, hard=lim.file_size_mb << 20),
                     Ulimit(name="core", soft=0, hard=0)],
            environment={"HOME": "/tmp"},
        )
        if lim.cpu_seconds:  # per process, like the local backends' RLIMIT_CPU
            kwargs["ulimits"].append(Ulimit(name="cpu", soft=lim.cpu_seconds, hard=lim.cpu_seconds + 5))
        if lim.cpus:
            kwargs["nano_cpus"] = int(lim.cpus * 1e9)
        if self.device:
            kwargs["device_requests"] = [_gpu_request(self.device)]
        try:
            container = client.containers.create(**kwargs)
        except docker.errors.ImageNotFound:
            raise ImageMissingError(f"docker image {self.image!r} not found; build it with `mlgym sandbox build`") from None
        except docker.errors.APIError as e:
            raise SandboxError(f"cannot create container from {self.image!r}: {_first_line(e)}") from e
        self.container = container
        _register(self)
        try:
            container.start()
        except docker.errors.APIError as e:
            self.stop()
            raise SandboxError(f"cannot start container from {self.image!r}: {_first_line(e)}") from e
        self._oom_seen = 0  # a fresh container has no OOM kills yet

    def stop(self) -> None:
        with self._lock:
            container, self.container = self.container, None
        _LIVE.discard(self)
        if container is None:
            return
        try:
            container.remove(force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as e:
            if "already in progress" not in str(e):
                log.warning("could not remove container %s: %s", container.name, _first_line(e))
        except docker.errors.DockerException as e:  # daemon gone
            log.warning("could not remove container %s: %s", container.name, _first_line(e))

    def __enter__(self) -> DockerSandbox:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __hash__(self) -> int:
        return id(self)

    def _exec_user(self) -> tuple[int, int]:
        """The workspace owner's uid when it is not root, else 1000 (and the workspace is chowned)."""
        if self._uid is not None:
            return self._uid, self._uid
        st = self.workspace.stat()
        if st.st_uid != 0:
            return st.st_uid, st.st_gid
        # Not the host copies under mount targets: they may be hard links into the data cache.
        skip = {str(self.workspace / m.target.strip("/")) for m in self.mounts if not os.path.isabs(m.target)}
        try:
            for root, dirs, files in os.walk(self.workspace):
                dirs[:] = [d for d in dirs if os.path.join(root, d) not in skip]
                for name in (root, *(os.path.join(root, n) for n in dirs + files)):
                    os.lchown(name, DEFAULT_UID, DEFAULT_UID)
        except PermissionError as e:
            raise SandboxError(f"cannot hand {self.workspace} to uid {DEFAULT_UID}: {e.strerror}") from e
        return DEFAULT_UID, DEFAULT_UID

    def _target(self, m: Mount) -> str:
        return m.target if os.path.isabs(m.target) else f"{WORKDIR}/{m.target.strip('/')}"

    def _docker_mounts(self) -> list[DockerMount]:
        out = [DockerMount(WORKDIR, str(self.workspace), type="bind", read_only=False)]
        for m in self.mounts:
            src = Path(m.source).resolve()
            if not src.exists():
                raise SandboxError(f"mount source {src} does not exist")
            out.append(DockerMount(self._target(m), str(src), type="bind", read_only=m.read_only))
        return out

    # files -------------------------------------------------------------------
    def _host_path(self, path: str) -> Path:
        """Host path of workspace-relative ``path``: the mount's source when it lies on a mount."""
        target = resolve_in(self.workspace, path)
        for m in self.mounts:
            if os.path.isabs(m.target):
                continue
            where = self.workspace / m.target.strip("/")
            if target == where or where in target.parents:
                return resolve_in(Path(m.source), str(target.relative_to(where)))
        return target

    def read_file(self, path: str) -> bytes:
        host = self._host_path(path)
        if not host.exists():
            raise FileNotFoundError(f"{path!r} does not exist")
        return host.read_bytes()

    def write_file(self, path: str, data: bytes) -> None:
        target = resolve_in(self.workspace, path)
        check_writable(self.workspace, WORKDIR, self.mounts, target, path)
        missing = [p for p in [target.parent, *target.parent.parents] if not p.exists()]
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        if os.geteuid() == 0 and self.uid and self.gid is not None:  # the agent must be able to edit it
            for p in [target, *missing]:
                os.lchown(p, self.uid, self.gid)

    # exec --------------------------------------------------------------------
    def _env(self, env: Mapping[str, str] | None) -> dict[str, str]:
        base = {
            "HOME": "/tmp",
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
            "PYTHONDONTWRITEBYTECODE": "1",
            "MPLBACKEND": "Agg",
            "MPLCONFIGDIR": "/tmp",
        }
        for key in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "TZ"):
            if key in os.environ:
                base[key] = os.environ[key]
        base.update(self.extra_env)
        base.update(env or {})
        return base

    def exec(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        stdin: str | None = None,
    ) -> ExecResult:
        if self.container is None:
            raise SandboxError("sandbox is not started; call start() first")
        if not argv:
            raise ValueError("argv is empty")
        secs = max(0.1, timeout if timeout is not None else self.limits.timeout)
        cmd = ["sh", "-c", _WRAPPER, f"{secs:.3f}", *argv]
        start = time.monotonic()
        api = self.client.api
        try:
            exec_id = api.exec_create(
                self.container.id, cmd, stdin=stdin is not None, user=f"{self.uid}:{self.gid}",
                environment=self._env(env), workdir=WORKDIR,
            )["Id"]
            out, err = HeadTail(self.limits.output_bytes), HeadTail(self.limits.output_bytes)
            hung = _run_exec(api, exec_id, stdin, out, err, deadline=secs + KILL_GRACE + 30)
            rc = api.exec_inspect(exec_id)["ExitCode"]
        except docker.errors.NotFound as e:
            raise SandboxError(f"sandbox container is gone: {_first_line(e)}") from e
        except docker.errors.APIError as e:
            raise SandboxError(f"docker exec failed: {_first_line(e)}") from e
        except (OSError, docker.errors.DockerException) as e:
            raise SandboxError(f"docker exec failed: {e}") from e
        duration = time.monotonic() - start
        if hung or rc is None:  # the daemon never finished the stream: sweep by hand
            self._sweep()
            rc = 124
        res = ExecResult(
            returncode=rc, stdout=out.text(), stderr=err.text(), duration=duration,
            truncated_bytes=out.dropped + err.dropped,
        )
        if rc == 127 and not res.stderr:
            res.stderr = f"cannot run {argv[0]!r}: not found"
        self._classify(res, secs)
        return res

    def _classify(self, res: ExecResult, secs: float) -> None:
        rc = res.returncode
        if rc == 0:
            return
        new_oom = False
        if rc > 124:  # killed by a signal: was it the OOM killer?  (one extra exec, failures only)
            oom = self._oom_count()
            if oom is None:  # no counter: a SIGKILL that was not the timeout is taken for the OOM killer
                new_oom = rc == 137 and res.duration < secs
            else:
                new_oom, self._oom_seen = oom > self._oom_seen, max(oom, self._oom_seen)
        if new_oom or (rc != 124 and "MemoryError" in res.stderr[-2000:]):
            res.killed_reason = "memory"
        elif rc == 124 or (rc == 137 and res.duration >= secs):
            res.timed_out, res.killed_reason, res.returncode = True, "timeout", 124
        elif rc > 128 and rc - 128 in signal.valid_signals():
            res.killed_reason = f"signal {signal.Signals(rc - 128).name}"

    def _probe(self, cmd: list[str], user: str = "0:0") -> str:
        try:
            r = self.container.exec_run(cmd, user=user, demux=False)
            return r.output.decode(errors="replace") if r.output else ""
        except docker.errors.DockerException:
            return ""

    def _oom_count(self) -> int | None:
        """The container's cumulative OOM kills, or None when its cgroup is not visible."""
        text = self._probe(["sh", "-c", _OOM_PROBE]).strip()
        return int(text.split()[0]) if text and text.split()[0].isdigit() else None

    def _sweep(self) -> None:
        self._probe(["sh", "-c", "kill -9 -1"], user=f"{self.uid}:{self.gid}")


def _run_exec(api: Any, exec_id: str, stdin: str | None, out: HeadTail, err: HeadTail, *, deadline: float) -> bool:
    """Stream a started exec's multiplexed output into ``out``/``err``; True if it hung."""
    sock = api.exec_start(exec_id, socket=True)
    raw = getattr(sock, "_sock", sock)
    raw.settimeout(deadline)
    writer = None
    if stdin is not None:
        def feed() -> None:
            try:
                raw.sendall(stdin.encode())
            except OSError:
                pass
            finally:
                try:
                    raw.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

        writer = threading.Thread(target=feed, daemon=True)
        writer.start()
    sinks = {1: out, 2: err}
    buf = b""
    try:
        while True:
            while len(buf) < 8:
                chunk = raw.recv(65536)
                if not chunk:
                    return False
                buf += chunk
            kind, size = struct.unpack(">BxxxL", buf[:8])
            buf = buf[8:]
            while size:
                if not buf:
                    buf = raw.recv(65536)
                    if not buf:
                        return False
                part, buf = buf[:size], buf[size:]
                size -= len(part)
                sinks.get(kind, out).feed(part)
    except TimeoutError:
        return True
    finally:
        try:
            sock.close()
        except OSError:
            pass
        if writer is not None:
            writer.join(timeout=1)


def _gpu_request(device: str) -> DeviceRequest:
    if device == "all":
        return DeviceRequest(count=-1, capabilities=[["gpu"]])
    return DeviceRequest(device_ids=[d.strip() for d in str(device).split(",")], capabilities=[["gpu"]])


def _first_line(e: BaseException) -> str:
    text = getattr(e, "explanation", None) or str(e)
    return str(text).strip().splitlines()[0] if str(text).strip() else type(e).__name__


# cleanup: at interpreter exit and on SIGTERM, no container may be left behind -------------
_hooks_installed = False


def _register(sb: DockerSandbox) -> None:
    global _hooks_installed
    _LIVE.add(sb)
    if _hooks_installed:
        return
    _hooks_installed = True
    atexit.register(_stop_all)
    if threading.current_thread() is threading.main_thread():
        previous = signal.getsignal(signal.SIGTERM)
        if previous in (signal.SIG_DFL, None):
            signal.signal(signal.SIGTERM, _on_sigterm)


def _stop_all() -> None:
    for sb in list(_LIVE):
        sb.stop()


def _on_sigterm(signum: int, frame: object) -> None:
    _stop_all()
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
