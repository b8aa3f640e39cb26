"""Docker sandbox: one container per sandbox, driven through the Docker SDK (never the CLI).

Who runs what (issue 8: the agent must not be able to outlive its step or forge a status):

* The container runs a sleep loop under ``docker-init`` (``init=True``) as PID 1, with
  every capability dropped except SETUID, SETGID and KILL, ``no-new-privileges``, no
  network (unless ``Limits.network``), memory (no swap), CPU and process limits.
* Every ``exec`` is a ``docker exec`` as container root running :data:`_WRAPPER`: the
  wrapper shell and ``timeout`` stay root, and only the command itself drops (``setpriv``)
  to the sandbox uid, a host uid from :func:`mlgym.sandbox.uids.allocate` that owns
  nothing but the workspace (handed over to it, mode 0700).  The agent cannot signal or
  ptrace the wrapper (another uid, no capabilities), so after the command or its timeout
  the wrapper always sweeps every process of that uid, without forking (a fork bomb at
  the pids limit cannot stop it).  The exit status is the wrapper's, read from the
  daemon, never parsed from output.  If the stream hangs, a host-side deadline sweeps;
  leftovers the host can still see (same pid namespace) are frozen and killed from there.
* ``hide``: package-data paths ("<pkg>/<relpath>") are resolved with the container's
  ``python3`` and removed at start as container root (the container layer is private).
* ``/tmp``, ``/var/tmp`` and ``/run/lock`` (the image's only world-writable places) are
  tmpfs, charged to the container's memory limit, so scratch files cannot fill the
  host's disk; the workspace can be size-limited by the caller (mlgym.sandbox.quota).

The workspace is bind-mounted read-write at ``/workspace``; each :class:`Mount` is
bind-mounted read-only (a relative target is inside ``/workspace``).  ``read_file`` /
``write_file`` work on the host side of the bind mounts.
"""

from __future__ import annotations

import atexit
import logging
import json
import os
import signal
import socket
import struct
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import docker.errors
from docker.client import DockerClient, from_env
from docker.types import DeviceRequest, Ulimit
from docker.types import Mount as DockerMount

from mlgym.core import fs
from mlgym.core.errors import ImageMissingError, SandboxError
from mlgym.core.paths import resolve_in
import mlgym.sandbox.cpu as cpu
import mlgym.sandbox.seccomp as seccomp
import mlgym.sandbox.uids as uids
from mlgym.sandbox._proc import HeadTail
from mlgym.sandbox.base import EnvLayer, ExecResult, Limits, Mount, check_writable

__all__ = ["DEFAULT_IMAGE", "DockerSandbox", "connect", "gc"]

log = logging.getLogger(__name__)
DEFAULT_IMAGE = "mlgym-task:latest"
WORKDIR = "/workspace"
# Container labels "mlgym.run", "mlgym.task", "mlgym.owner" (spelt from parts: they are not module names).
_NS = "mlgym"
LABEL_RUN, LABEL_TASK = f"{_NS}.run", f"{_NS}.task"
LABEL_OWNER = f"{_NS}.owner"  # "<hostname>:<pid>" of the process that made the container
KILL_GRACE = 2  # seconds between timeout's TERM and KILL
# Kills every live process of uid $u in the container, using only shell builtins: no fork,
# so a fork bomb at the pids limit cannot starve it.  First every such process is stopped
# (SIGSTOP frees no pid, so nothing new can start), and once all are stopped, killed;
# repeated until none is left (bounded; after 500 passes it kills without waiting).
# Zombies are skipped (init reaps them).
_SWEEP = " ".join("""
sig=STOP; n=0;
while [ $n -lt 2000 ]; do
  live=0; running=0;
  for d in /proc/[1-9]*; do
    z=;
    while read -r k a b c; do
      case $k in
        State:) z=$a ;;
        Uid:) if [ "$z" != Z ] && [ "$z" != X ] && { [ "$a" = "$u" ] || [ "$b" = "$u" ] || [ "$c" = "$u" ]; }; then
                live=1; case $z in T|t) ;; *) running=1 ;; esac;
                kill -$sig "${d#/proc/}" 2>/dev/null;
              fi; break ;;
      esac;
    done 2>/dev/null <"$d/status";
  done;
  [ $live = 0 ] && break;
  { [ $running = 0 ] || [ $n -ge 500 ]; } && sig=KILL;
  n=$((n+1));
done
""".split())
# Runs as container root: `timeout` (root) runs the command as uid $1 (setpriv: no groups,
# no capabilities; no_new_privs is container-wide), then the sweep; keeps the command's
# exit status.  Arguments: uid, seconds, argv...
_WRAPPER = (
    f'u=$1 s=$2; shift 2; timeout -k {KILL_GRACE} "$s" '
    'setpriv --reuid="$u" --regid="$u" --clear-groups --inh-caps=-all -- "$@"; '
    f'rc=$?; {_SWEEP}; exit $rc'
)
_CAPS = ["SETUID", "SETGID", "KILL"]  # setpriv to the sandbox uid, and the sweep
# Removes package data the task hides ("<pkg>/<relpath>"), found without importing.
_HIDE = """
import importlib.util, os, shutil, sys
for spec in sys.argv[1:]:
    pkg, _, rel = spec.partition("/")
    try:
        found = importlib.util.find_spec(pkg)
    except (ImportError, ValueError):
        found = None
    for base in (found.submodule_search_locations or []) if found else []:
        path = os.path.normpath(os.path.join(base, rel))
        if not path.startswith(os.path.normpath(base) + os.sep):
            continue
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        elif os.path.lexists(path):
            os.unlink(path)
        else:
            continue
        print(path)
"""
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


ENV_IMAGE_REPO = "mlgym-task-env"
_env_image_lock = threading.Lock()


def env_image(client: DockerClient, base: str, layer: EnvLayer) -> str:
    """``base`` plus a layer holding ``layer.requirements`` at the versions of
    ``layer.constraints``: the docker counterpart of a task environment (the caller,
    :func:`mlgym.tasks.taskenv.sandbox_options`, plans it), tagged
    ``mlgym-task-env:<content key>`` (the layer's key and the base image's id), built once, reused after."""
    import hashlib
    import shutil
    import tempfile

    base_id = client.images.get(base).id
    key = hashlib.sha256(f"{layer.key}:{base_id}".encode()).hexdigest()[:16]
    tag = f"{ENV_IMAGE_REPO}:{key}"
    with _env_image_lock:
        try:
            client.images.get(tag)
            return tag
        except docker.errors.ImageNotFound:
            pass
        ctx = Path(tempfile.mkdtemp(prefix="mlgym-envimage-"))
        try:
            (ctx / "constraints.txt").write_text("".join(c + "\n" for c in layer.constraints))
            run = ["pip", "install", "--no-compile", "-c", "/tmp/mlgym-constraints.txt", *layer.requirements]
            if any(r.split("=")[0].split("<")[0].split(">")[0].strip().lower() in ("torch", "torchvision", "torchaudio")
                   for r in layer.requirements):
                run[2:2] = ["--extra-index-url", "https://download.pytorch.org/whl/cpu"]  # PyTorch's CPU build
            local = ""
            for i, folder in enumerate(layer.local):  # a repository's own packages, copied into the context
                shutil.copytree(folder, ctx / f"local{i}", symlinks=True, ignore=shutil.ignore_patterns(".git"))
                local += (f"COPY local{i} /tmp/mlgym-local{i}\n"
                          f"RUN {json.dumps(['pip', 'install', '--no-compile', '--no-deps', f'/tmp/mlgym-local{i}'])}\n")
            (ctx / "Dockerfile").write_text(
                f"FROM {base}\nUSER root\nCOPY constraints.txt /tmp/mlgym-constraints.txt\n"
                f"RUN {json.dumps(run)}\n{local}RUN [\"rm\", \"-rf\", \"/tmp/mlgym-constraints.txt\"]\n"
                f"LABEL mlgym.env-key={layer.key} mlgym.base-image={base_id}\n"
            )
            log.info("building %s: %s on %s", tag, " ".join(layer.requirements), base)
            for line in stream_build(client, ctx, tag, {}, False):
                log.debug("%s", line)
        finally:
            shutil.rmtree(ctx, ignore_errors=True)
    return tag


def stream_build(client: DockerClient, ctx: Path, tag: str, buildargs: dict[str, str], nocache: bool) -> Iterator[str]:
    """Build the image of context ``ctx`` as ``tag``, yielding the build's output lines
    (``mlgym sandbox build`` and :func:`env_image`); a failed build is a :class:`SandboxError`."""
    api = client.api
    try:
        for chunk in api.build(path=str(ctx), tag=tag, buildargs=buildargs, nocache=nocache, rm=True,
                               forcerm=True, decode=True, network_mode="host"):  # no NAT needed
            if "error" in chunk:
                raise SandboxError(f"image build failed: {str(chunk['error']).strip().splitlines()[-1]}")
            text = chunk.get("stream") or chunk.get("status") or ""
            for line in text.splitlines():
                if line.strip():
                    yield line.rstrip()
    except docker.errors.APIError as e:
        raise SandboxError(f"image build failed: {e.explanation or e}") from e


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
    ``env`` (extra environment for every exec), ``hide`` (package-data paths removed from
    the container at start), ``uid`` (the agent uid instead of a freshly allocated one),
    ``env_layer`` (the task environment's pip requirements beyond the image's own, with their
    pinned versions: the container runs an image layer with them on top of ``image``, built
    once per content key, see :func:`env_image`).
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
        hide: Sequence[str] = (),
        env_layer: EnvLayer | None = None,
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
        self.hide = tuple(hide)
        self.env_layer = env_layer
        self._client = client
        self.container: Any = None
        self.uid: int | None = None
        self.gid: int | None = None
        self._oom_seen = 0
        self._procs_file: str | None = None  # the container's cgroup.procs, when visible from here
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
        if self.env_layer is not None and self.env_layer.requirements:
            self.image = env_image(client, self.image, self.env_layer)
        self.workspace.mkdir(parents=True, exist_ok=True)
        self.uid, self.gid = self._hand_over()
        lim = self.limits
        kwargs: dict[str, Any] = dict(
            image=self.image,
            command=["sh", "-c", "while :; do sleep 3600; done"],
            name=f"mlgym-{self.run_id}-{uuid.uuid4().hex[:6]}",
            labels={LABEL_RUN: self.run_id, LABEL_TASK: self.task, LABEL_OWNER: _owner()},
            detach=True,
            init=True,
            user="0:0",  # PID 1 and the exec wrappers; commands run as self.uid (see _WRAPPER)
            working_dir=WORKDIR,
            mounts=self._docker_mounts(),
            network_mode=None if lim.network else "none",
            mem_limit=f"{lim.memory_mb}m",
            memswap_limit=f"{lim.memory_mb}m",
            pids_limit=lim.max_processes,
            cap_drop=["ALL"],
            cap_add=_CAPS,
            # the local-bwrap filter's refusals (mlgym.sandbox.seccomp): Docker's default profile
            # allows process_vm_*, ptrace attach and the NUMA calls, this one does not
            security_opt=["no-new-privileges", *([f"seccomp={seccomp.docker_profile()}"] if seccomp.enabled() else [])],
            tmpfs={d: f"rw,nosuid,nodev,size={max(1, lim.memory_mb) if d != '/run/lock' else 1}m,mode=1777"
                   for d in ("/tmp", "/var/tmp", "/run/lock")},
            ulimits=[Ulimit(name="fsize", soft=lim.file_size_mb << 20, hard=lim.file_size_mb << 20),
                     Ulimit(name="core", soft=0, hard=0)],
            environment={"HOME": "/tmp"},
        )
        if lim.cpu_seconds:  # per process, like the local backends' RLIMIT_CPU
            kwargs["ulimits"].append(Ulimit(name="cpu", soft=lim.cpu_seconds, hard=lim.cpu_seconds + 5))
        if lim.cpus:
            kwargs["nano_cpus"] = int(lim.cpus * 1e9)
        if cpu.limited(lim.cpus, lim.cores):  # the cores, as on local: ceil(cpus) unless a constraint names them
            kwargs["cpuset_cpus"] = cpu.format_cpulist(cpu.choose_cores(lim.cpus, lim.cores, cpu.host_cpus()))
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
        try:
            init_pid = int(client.api.inspect_container(container.id)["State"]["Pid"])
            self._procs_file = _procs_file(container.id, init_pid) if init_pid > 0 else None
        except (docker.errors.DockerException, KeyError, TypeError, ValueError):
            self._procs_file = None
        if self.hide:
            self._hide()

    def _hide(self) -> None:
        """Remove the hidden package data from this container's layer, as container root."""
        r = self._probe(["python3", "-c", _HIDE, *self.hide], workdir="/")
        log.debug("hidden in %s: %r (asked: %r)", self.container.name, r.splitlines(), self.hide)

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

    def _hand_over(self) -> tuple[int, int]:
        """The uid:gid agent commands run as, owning the workspace (mode 0700).

        As root: a fresh uid from the reserved range (or ``uid=``) that owns nothing else
        on the host; the workspace is chowned to it without following links, except the
        host copies under mount targets (hard links into the data cache).  As a normal
        user: that user, the only uid it can give files to."""
        if os.geteuid() != 0:
            os.chmod(self.workspace, 0o700)
            return os.geteuid(), os.getegid()
        uid = self._uid if self._uid is not None else uids.allocate()
        skip = [self.workspace / m.target.strip("/") for m in self.mounts if not os.path.isabs(m.target)]
        try:
            uids.hand_over(self.workspace, uid, uid, skip=skip)
        except OSError as e:
            raise SandboxError(f"cannot hand {self.workspace} to uid {uid}: {e.strerror}") from e
        return uid, uid

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
    def read_file(self, path: str) -> bytes:
        """By dir fd, no link followed (agent code may race it); a file on a relative mount
        is read from the mount's source."""
        key = fs.normalize(path)
        for m in self.mounts:
            where = None if os.path.isabs(m.target) else fs.normalize(m.target)
            if where is not None and key == where and Path(m.source).is_file():  # a file mount
                return fs.read_bytes(Path(m.source).parent, Path(m.source).name)
            if where is not None and (key == where or key.startswith(where + "/")):
                return fs.read_bytes(Path(m.source), key[len(where):].lstrip("/") or ".")
        return fs.read_bytes(self.workspace, key)

    def write_file(self, path: str, data: bytes) -> None:
        target = resolve_in(self.workspace, path)
        check_writable(self.workspace, WORKDIR, self.mounts, target, path)
        fs.write_bytes(self.workspace, path, data, owner=fs.owner_of(self))  # temp file + rename, new dirs chowned too

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
        cmd = ["sh", "-c", _WRAPPER, "mlgym", str(self.uid), f"{secs:.3f}", *argv]
        start = time.monotonic()
        api = self.client.api
        out, err = HeadTail(self.limits.output_bytes), HeadTail(self.limits.output_bytes)
        try:
            exec_id = api.exec_create(
                self.container.id, cmd, stdin=stdin is not None, user="0:0",
                environment=self._env(env), workdir=WORKDIR,
            )["Id"]
            hung = _run_exec(api, exec_id, stdin, out, err, deadline=secs + KILL_GRACE + 30)
            rc = None if hung else _exit_code(api.exec_inspect(exec_id))
        except (OSError, docker.errors.DockerException, KeyError, TypeError) as e:
            self._check_alive(e)
            log.warning("docker exec in %s failed: %r", self.container.name, _first_line(e))
            hung, rc = False, None
        duration = time.monotonic() - start
        if hung or rc is None or self._leftovers():  # the wrapper could not sweep: do it from outside
            self._sweep()
        if hung:
            rc = 124
        if rc is None:
            return ExecResult(returncode=125, stdout=out.text(), stderr=err.text() + "\n[the sandbox reported no exit status]",
                              duration=duration, truncated_bytes=out.dropped + err.dropped, killed_reason="sandbox error")
        res = ExecResult(
            returncode=rc, stdout=out.text(), stderr=err.text(), duration=duration,
            truncated_bytes=out.dropped + err.dropped,
        )
        if rc == 127 and not res.stderr:
            res.stderr = f"cannot run {argv[0]!r}: not found"
        self._classify(res, secs)
        return res

    def _check_alive(self, cause: BaseException) -> None:
        """Raise :class:`SandboxError` when the container is gone or stopped; return when it runs."""
        try:
            state = self.client.api.inspect_container(self.container.id)["State"]
            running = bool(state.get("Running"))
        except docker.errors.NotFound:
            running = False
        except (OSError, docker.errors.DockerException, KeyError, TypeError, AttributeError) as e:
            raise SandboxError(f"docker daemon not reachable: {_first_line(e)}") from cause
        if not running:
            raise SandboxError(f"sandbox container is gone: {_first_line(cause)}") from cause

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

    def _probe(self, cmd: list[str], workdir: str = "/") -> str:
        """Output of a harness command run as container root (never agent code)."""
        try:
            r = self.container.exec_run(cmd, user="0:0", workdir=workdir, demux=False)
            return r.output.decode(errors="replace") if isinstance(r.output, bytes) else ""
        except Exception as e:  # best effort: a broken daemon's answer must not crash a step
            log.debug("probe %s failed: %r", cmd[:2], e)
            return ""

    def _oom_count(self) -> int | None:
        """The container's cumulative OOM kills, or None when its cgroup is not visible."""
        text = self._probe(["sh", "-c", _OOM_PROBE]).strip()
        return int(text.split()[0]) if text and text.split()[0].isdigit() else None

    def _leftovers(self) -> list[int]:
        """Host pids of the container still running as the sandbox uid (empty when this
        process cannot see the container's cgroup: another pid namespace, remote daemon)."""
        if self._procs_file is None or self.uid is None:
            return []
        return _procs_of(self._procs_file, self.uid)

    def _sweep(self) -> None:
        """Kill every process of the sandbox uid: the in-container sweep as root, then, for
        what the host still sees, freeze the container, kill them from here and thaw."""
        self._probe(["sh", "-c", f"u=$1; {_SWEEP}", "mlgym", str(self.uid)])
        left = self._leftovers()
        if not left or os.geteuid() != 0:
            return
        log.warning("%d process(es) of uid %s survived the sweep in %s; killing them frozen", len(left), self.uid, self.container.name)
        try:
            self.container.pause()
        except docker.errors.DockerException:
            pass
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        try:
            self.container.unpause()
        except docker.errors.DockerException:
            pass


def _procs_file(container_id: str, init_pid: int) -> str | None:
    """The host's ``cgroup.procs`` of the container whose init is host pid ``init_pid``
    (pids controller on cgroup v1, the unified tree on v2), or None when this process
    cannot see it (another pid namespace, a remote daemon)."""
    try:
        lines = Path(f"/proc/{init_pid}/cgroup").read_text().splitlines()
    except OSError:
        return None
    found = {}
    for line in lines:
        _, ctrls, path = line.split(":", 2) if line.count(":") >= 2 else ("", "-", "")
        if container_id not in path:  # not our container's init: the pid is someone else's
            continue
        if "pids" in ctrls.split(","):
            found["v1"] = f"/sys/fs/cgroup/pids{path}/cgroup.procs"
        elif ctrls == "":
            found["v2"] = f"/sys/fs/cgroup{path}/cgroup.procs"
    for cand in (found.get("v1"), found.get("v2")):
        if cand and os.access(cand, os.R_OK):
            return cand
    return None


def _procs_of(procs_file: str, uid: int) -> list[int]:
    """Pids listed in ``procs_file`` whose real, effective or saved uid is ``uid`` (not zombies)."""
    try:
        pids = Path(procs_file).read_text().split()
    except OSError:
        return []
    found = []
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status", "rb") as f:
                fields = dict(line.split(b":", 1) for line in f.read(4096).splitlines() if b":" in line)
        except (OSError, ValueError):
            continue
        ids = fields.get(b"Uid", b"").split()[:3]
        if fields.get(b"State", b"").split()[:1] != [b"Z"] and str(uid).encode() in ids:
            found.append(int(pid))
    return found


def _exit_code(info: object) -> int | None:
    """The exit status the daemon reports for an exec, or None when it is missing or not
    a plausible status (never trusted blindly: a broken daemon must not crash the harness)."""
    rc = info.get("ExitCode") if isinstance(info, dict) else None
    if isinstance(rc, bool) or not isinstance(rc, int) or not 0 <= rc <= 255:
        return None
    return rc


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
