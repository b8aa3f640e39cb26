"""Local sandbox: bubblewrap isolation when ``bwrap`` works, a plain subprocess otherwise.

local-bwrap: a new mount namespace holding only the system (read-only), the Python
installation (read-only), the workspace (read-write, nosuid, nodev) and the task data
(read-only); no network, own PID namespace, no capabilities, ``/proc/sys`` and the
other kernel knobs read-only.  The task's scripts, answers, the user's home, the mlgym
source tree and the package files a task hides (``hide=``) are simply not there.

Who the agent's code runs as:

* as root: a dedicated host uid from :func:`mlgym.sandbox.uids.allocate` that owns
  nothing but the workspace (handed over, mode 0700).  bwrap runs privileged *without*
  a user namespace (one would map the sandbox's uid to host root) and keeps only
  CAP_SETUID/SETGID/KILL for the process server, whose children drop to that uid
  before exec;
* as a normal user: that user, inside an unprivileged user namespace.

One bwrap is started per sandbox (``start()``) with a small process server in it
(:mod:`mlgym.sandbox._spawner`); each ``exec`` is then a fork+exec inside the existing
namespaces and cgroup, which makes an empty command cost ~1.2x a bare subprocess
instead of ~2x for a fresh bwrap per command.  After each command everything it
started is killed: by the server (``kill(-1)``) and, as root, by the host itself,
which kills every process of the sandbox's cgroup but bwrap and the server.  A
message from the server that is not exactly what the protocol allows takes the
sandbox down (the command gets an error result; the next command starts a new one).

local-plain: the command runs in the workspace directory with rlimits only, as the
dedicated uid when root (if the Python can be reached by other users) and with a
parent-death signal, so it dies with the runner.  Nothing is hidden from it; a warning
says so once.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import resource
import shutil
import signal
import socket
import stat
import subprocess
import sys
import time
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Mapping, Sequence

from mlgym.core import fs
from mlgym.core.errors import SandboxError
from mlgym.core.paths import resolve_in
import mlgym.sandbox.cpu as cpu
import mlgym.sandbox.seccomp as seccomp
import mlgym.sandbox.uids as uids
from mlgym.sandbox._cgroup import Cgroup
from mlgym.sandbox._proc import Pump, run_bounded, signal_reason
from mlgym.sandbox.base import ExecResult, Limits, Mount, check_writable, hidden_roots

log = logging.getLogger(__name__)
_TAG = "MLGYM_SANDBOX_TAG"
_ETC = [
    "/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d",
    "/etc/ssl", "/etc/ca-certificates", "/etc/localtime", "/etc/nsswitch.conf",
    "/etc/hosts", "/etc/mime.types", "/etc/matplotlibrc",
]
# Kernel knobs bwrap's --proc leaves writable (it covers some only when they are writable
# for the caller at mount time); bound read-only explicitly, where present.
_PROC_RO = ["/proc/sys", "/proc/sysrq-trigger", "/proc/irq", "/proc/bus"]
_SERVER_CAPS = ["CAP_SETUID", "CAP_SETGID", "CAP_KILL"]
_GRACE = 3.0  # seconds the server gets to report a command killed at its timeout
_warned: set[str] = set()


def _warn_once(key: str, msg: str, *args: object) -> None:
    if key not in _warned:
        _warned.add(key)
        log.warning(msg, *args)


@lru_cache(maxsize=None)
def _which(name: str) -> str | None:
    return shutil.which(name)


@lru_cache(maxsize=1)
def bwrap_available() -> str | None:
    """The reason bwrap cannot be used, or None when it works here."""
    exe = shutil.which("bwrap")
    if exe is None:
        return "bwrap is not installed (Debian: apt-get install bubblewrap)"
    ns = ["--unshare-pid", "--unshare-ipc"] if os.geteuid() == 0 else ["--unshare-all", "--unshare-user"]
    probe = subprocess.run([exe, *ns, "--ro-bind", "/", "/", "--proc", "/proc", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        return f"bwrap does not work here: {probe.stderr.strip() or probe.returncode}"
    return None


def base_python() -> str:
    """The interpreter the harness's venv is built on: the process server runs it with
    ``-I -S`` (no site-packages), so the harness's own environment need not be visible."""
    return str(Path(getattr(sys, "_base_executable", None) or sys.executable).absolute())


def _is_ours(python: str | None) -> bool:
    if python is None:
        return True
    exe = shutil.which(python) or python
    return Path(exe).absolute().parent == Path(sys.executable).absolute().parent


def python_roots(python: str | None = None) -> list[Path]:
    """Directories a sandboxed Python needs: the base interpreter (for the process server)
    and ``python``'s venv with the interpreter it is built on.

    The harness's own venv (litellm, mlgym's import hook, ...) is bound only when
    ``python`` is None or is ours; a task environment (:mod:`mlgym.tasks.taskenv`) or the
    runner's ``--python`` leaves it out of the sandbox.
    """
    base = Path(base_python())
    roots = {Path(sys.base_prefix).resolve(), base.resolve().parent.parent}
    if _is_ours(python):
        roots |= {Path(sys.prefix).resolve(), Path(sys.executable).resolve().parent.parent}
    else:
        assert python is not None
        exe = Path(shutil.which(python) or python)
        if exe.is_absolute() and not str(exe).startswith(("/usr/", "/bin/")):
            roots.add(exe.parent.parent.absolute())  # a venv: <venv>/bin/python
            roots.add(exe.resolve().parent.parent)  # the interpreter the venv links to
    return sorted(r for r in roots if r.is_dir() and r != Path("/"))


def hidden_paths() -> list[Path]:
    """Paths that must not be visible even when they sit inside a bound Python tree."""
    return [Path(__file__).resolve().parents[1], *hidden_roots()]  # mlgym, and the task folders (tasks.spec)


_FIND_SPEC = (
    "import importlib.util, json, sys\n"
    "try:\n    s = importlib.util.find_spec(sys.argv[1])\nexcept Exception:\n    s = None\n"
    "print(json.dumps(list(s.submodule_search_locations or []) if s else []))\n"
)


@lru_cache(maxsize=None)
def package_dirs(pkg: str, python: str | None = None) -> tuple[str, ...]:
    """Where top-level package ``pkg`` lives for ``python`` (None: ours), without importing it.

    Another interpreter is asked once through a subprocess (cached)."""
    if not pkg.isidentifier():
        return ()
    if _is_ours(python):
        try:
            spec = importlib.util.find_spec(pkg)
        except (ImportError, ValueError):
            return ()
        return tuple(spec.submodule_search_locations or ()) if spec else ()
    assert python is not None  # None is ours
    try:
        out = subprocess.run([shutil.which(python) or python, "-I", "-c", _FIND_SPEC, pkg], capture_output=True, timeout=60, check=True)
        found = json.loads(out.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        return ()
    return tuple(str(p) for p in found if isinstance(p, str)) if isinstance(found, list) else ()


def resolve_hidden(items: Sequence[str], python: str | None = None) -> list[Path]:
    """Host paths for "<top-level package>/<relative path>" entries; unknown ones are skipped."""
    found: list[Path] = []
    for item in items:
        pkg, _, rel = item.partition("/")
        parts = [p for p in rel.split("/") if p not in ("", ".")]
        if not parts or ".." in parts:
            log.debug("hide: ignoring %r (not <package>/<path>)", item)
            continue
        dirs = package_dirs(pkg, python)
        if not dirs:
            log.debug("hide: package %r not found for %s", pkg, python or sys.executable)
        for base in dirs:
            p = Path(base, *parts)
            if os.path.lexists(p):
                found.append(Path(os.path.realpath(p)))
    return found


def _reachable_by_others(path: Path) -> bool:
    """True when a user other than the owner can traverse to ``path`` and read it."""
    try:
        real = Path(os.path.realpath(path))
        if not os.stat(real).st_mode & stat.S_IROTH:
            return False
        return all(os.stat(p).st_mode & stat.S_IXOTH for p in real.parents)
    except OSError:
        return False


class _Tree:
    """bwrap arguments for a new root, with every directory bwrap would create on the
    way to a mount point made 0755 explicitly: bwrap creates them 0700 (owned by root), which
    the sandbox uid could not traverse (e.g. ``/root`` on the way to a pyenv Python)."""

    def __init__(self) -> None:
        self.args: list[str] = []
        self.mounted: list[str] = []  # destinations whose contents come from somewhere else
        self.made: set[str] = {"/"}

    def _covered(self, path: str) -> bool:
        return path in self.made or any(path == m or path.startswith(m.rstrip("/") + "/") for m in self.mounted)

    def _parents(self, dest: str) -> None:
        for parent in reversed(Path(dest).parents):
            p = str(parent)
            if not self._covered(p):
                self.args += ["--perms", "0755", "--dir", p]
                self.made.add(p)

    def add(self, op: str, src: str | None, dest: str, perms: str | None = None) -> None:
        self._parents(dest)
        if perms:
            self.args += ["--perms", perms]
        self.args += [op, *([src] if src is not None else []), dest]
        if op == "--tmpfs":  # empty: what is mounted under it still needs its parents made
            self.made.add(dest)
        else:
            self.mounted.append(dest)


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
        hide: Sequence[str] = (),
    ) -> None:
        self.workspace = Path(workspace).resolve()
        self.python = python  # an interpreter other than ours, made visible inside bwrap
        self.device = device  # GPU index(es), e.g. "0" or "0,1": CUDA_VISIBLE_DEVICES + /dev/nvidia*
        self.limits = limits
        self.mounts = list(mounts)
        self.extra_env = dict(env or {})
        self.hide = tuple(hide)
        if isolation not in ("auto", "bwrap", "plain"):
            raise SandboxError(f"unknown local isolation {isolation!r}; use auto, bwrap or plain")
        reason = bwrap_available() if isolation != "plain" else "plain requested"
        if isolation == "bwrap" and reason:
            raise SandboxError(reason)
        self.use_bwrap = reason is None
        self.name = "local-bwrap" if self.use_bwrap else "local-plain"
        self.workdir = str(self.workspace)
        self.root = os.geteuid() == 0
        # The owner of the workspace files and the uid commands run as (None: the current user).
        self.uid: int | None = None
        self.gid: int | None = None
        self._cgroup: Cgroup | None = None
        self._server: _Server | None = None
        self._tag = uuid.uuid4().hex
        self._user_procs: int | None = None
        self._fds: list[int] = []  # read by bwrap (seccomp program, cpu list): passed, then closed
        # One long-lived bwrap per sandbox with a process server in it (see _spawner);
        # MLGYM_BWRAP_PER_EXEC=1 starts a new bwrap for every command instead.
        self.persistent = self.use_bwrap and not os.environ.get("MLGYM_BWRAP_PER_EXEC")
        self._started = False
        if not self.use_bwrap and isolation == "auto":
            _warn_once("plain", "isolation reduced: %s; commands run as a plain subprocess", reason)

    # lifecycle -------------------------------------------------------------
    def start(self) -> None:
        self.workspace.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workspace, 0o700)  # not world-accessible (as root: hand_over below too)
        if self.root:
            self._cgroup = Cgroup.create(self.limits.memory_mb, self.limits.max_processes, self.limits.cpus, self.limits.cores)
            if self.use_bwrap or self._plain_can_drop():
                if self.uid is None:
                    self.uid = self.gid = uids.allocate()
                assert self.gid is not None
                uids.hand_over(self.workspace, self.uid, self.gid, skip=self._mount_dirs())
        self._started = True
        if self.persistent:
            self._server = _Server.start(self)

    def _plain_can_drop(self) -> bool:
        """local-plain as root runs commands as the sandbox uid when that uid can run the
        Python at all (a pyenv under a 0700 /root cannot be); otherwise it stays root."""
        exe = shutil.which(self.python) if self.python else sys.executable
        if exe and _reachable_by_others(Path(exe)) and _which("setpriv"):
            return True
        _warn_once("plain-root", "local-plain as root: %s is not reachable by other users, commands run as root", exe)
        return False

    def _mount_dirs(self) -> list[Path]:
        """Host folders in the workspace that read-only mounts cover (hard-linked data: never chowned)."""
        found = []
        for m in self.mounts:
            rel = os.path.relpath(m.target, self.workdir) if os.path.isabs(m.target) else m.target
            if not rel.startswith(".."):
                found.append(self.workspace / rel)
        return found

    def _safe_mount_points(self) -> None:
        """bwrap (root) creates a missing mount point following symlinks: agent code may have
        left a link where a mount goes (nothing is mounted there between per-exec commands,
        and every agent process is dead when bwrap starts).  Make each one a real folder."""
        files = {self.workspace / m.target for m in self.mounts if not os.path.isabs(m.target) and os.path.isfile(m.source)}
        for target in self._mount_dirs():
            d = self.workspace
            for part in target.relative_to(self.workspace).parts:
                d = d / part
                as_file = d == target and target in files  # a file mount binds over a regular file
                try:
                    mode = os.lstat(d).st_mode
                    if stat.S_ISREG(mode) if as_file else stat.S_ISDIR(mode):
                        continue
                    shutil.rmtree(d) if stat.S_ISDIR(mode) else os.unlink(d)
                except FileNotFoundError:
                    pass
                if as_file:
                    os.close(os.open(d, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, 0o644))
                else:
                    os.mkdir(d, 0o755)

    def stop(self) -> None:
        if self._server is not None:
            self._server.stop()
            self._server = None
        if self._cgroup is not None:
            self._cgroup.remove()
            self._cgroup = None
        elif not self.use_bwrap:
            self._kill_tagged()
        if self._started and self.uid is not None and self.workspace.is_dir():
            # Back to root: a later sandbox that draws the same uid must not own these files.
            uids.hand_over(self.workspace, 0, 0, skip=self._mount_dirs())
        self._started = False

    def _nproc(self) -> int:
        """RLIMIT_NPROC counts every process of the user, not just the sandbox's: allow
        what the user already runs (counted at start) plus the sandbox's own budget."""
        if self._user_procs is None:
            uid, n = self.uid if self.uid is not None else os.getuid(), 0
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
        return fs.read_bytes(self.workspace, path)  # by dir fd, no link followed: agent code may race it

    def write_file(self, path: str, data: bytes) -> None:
        target = resolve_in(self.workspace, path)
        check_writable(self.workspace, self.workdir, self.mounts, target, path)
        fs.write_bytes(self.workspace, path, data, owner=fs.owner_of(self))  # temp file + rename, never through a link

    def _target(self, m: Mount) -> Path:
        return Path(m.target) if os.path.isabs(m.target) else self.workspace / m.target

    # exec --------------------------------------------------------------------
    def _env(self, env: Mapping[str, str] | None) -> dict[str, str]:
        base = {
            "PATH": f"{Path(shutil.which(self.python) or self.python if self.python else sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
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
        """The slow path (no util-linux): what :meth:`_launcher` does, in the child."""
        seccomp.join_fresh_session_keyring()
        if self._cgroup is not None:
            self._cgroup.preexec_join()
        self._rlimits()
        if not self.use_bwrap:
            import ctypes

            ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)  # PR_SET_PDEATHSIG: die with the runner
            if self.uid is not None and self.gid is not None:
                os.setgroups([])
                os.setresgid(self.gid, self.gid, self.gid)
                os.setresuid(self.uid, self.uid, self.uid)

    def _launcher(self) -> list[str] | None:
        """A command prefix that joins the cgroup, sets rlimits and (plain) drops to the
        sandbox uid with a parent-death signal, then execs the command.

        Any ``preexec_fn`` stops subprocess from using vfork and costs ~15 ms per exec;
        ``sh`` + util-linux ``prlimit``/``setpriv`` do the same work in ~2 ms.  None: not available.
        """
        prlimit, setpriv = _which("prlimit"), _which("setpriv")
        if prlimit is None or (setpriv is None and not self.use_bwrap):
            return None
        lim = self.limits
        limits = [prlimit, "--core=0", f"--fsize={lim.file_size_mb * 1024 * 1024}"]
        if self._cgroup is None:
            limits += [f"--as={lim.memory_mb * 1024 * 1024}", f"--nproc={self._nproc()}"]
        if lim.cpu_seconds:
            limits.append(f"--cpu={lim.cpu_seconds}:{lim.cpu_seconds + 5}")
        limits.append("--")
        if not self.use_bwrap and setpriv is not None:  # bwrap has --die-with-parent
            limits.append(setpriv)
            if self.uid is not None:
                limits += [f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups"]
            # The runner may die before the signal is armed: then the parent is already
            # someone else, and the command must not start at all.
            limits += ["--pdeathsig", "KILL", "--", "/bin/sh", "-c", '[ "$PPID" = "$0" ] && exec "$@"', str(os.getpid())]
        if self._cgroup is None:
            return limits
        procs = [str(d / "cgroup.procs") for d in dict.fromkeys(self._cgroup.dirs.values())]
        join = 'n=$1; shift; while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n-1)); done; exec "$@"'
        return ["/bin/sh", "-c", join, "sh", str(len(procs)), *procs, *limits]

    def _bwrap_argv(self, argv: Sequence[str], *, server: bool = False) -> list[str]:
        self._safe_mount_points()
        args = ["bwrap", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
        drop = self.root and self.uid is not None
        if self.root:
            # No user namespace: as root one maps the sandbox's uid to host uid 0.  The
            # server (or setpriv) drops to self.uid with the only capabilities kept here.
            args += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try"]
            if not self.limits.network:
                args.append("--unshare-net")
            if drop:
                for cap in _SERVER_CAPS if server else _SERVER_CAPS[:2]:
                    args += ["--cap-add", cap]
        else:
            args.append("--unshare-all")
            if self.limits.network:
                args.append("--share-net")
        tree = _Tree()
        for d in ("/usr", "/opt"):
            if Path(d).is_dir():
                tree.add("--ro-bind", d, d)
        for d in ("/bin", "/sbin", "/lib", "/lib64", "/lib32", "/libx32"):
            p = Path(d)
            if p.is_symlink():
                tree.args += ["--symlink", os.readlink(p), d]
                tree.made.add(d)
            elif p.is_dir():
                tree.add("--ro-bind", d, d)
        for e in _ETC:
            if Path(e).exists():
                tree.add("--ro-bind", e, e)
        tree.add("--proc", None, "/proc")
        for knob in _PROC_RO:
            if os.path.exists(knob):
                tree.args += ["--ro-bind", knob, knob]
        tree.add("--dev", None, "/dev")
        tree.add("--tmpfs", None, "/tmp", perms="1777")
        tree.add("--tmpfs", None, "/dev/shm", perms="1777")
        cpu_args, cpu_fds = cpu.bwrap_args(self._cgroup.cores if self._cgroup is not None else None)
        tree.args += cpu_args  # lscpu/loky see the cores; os.cpu_count() the cpuset
        self._fds += cpu_fds
        if self.device is not None:  # GPU device nodes (the driver's libraries are under /usr)
            for node in sorted(Path("/dev").glob("nvidia*")) + [Path("/dev/dri")]:
                if node.exists():
                    tree.args += ["--dev-bind", str(node), str(node)]
        roots = python_roots(self.python)
        for root in roots:
            tree.add("--ro-bind", str(root), str(root))
            if drop and root.stat().st_mode & 0o005 != 0o005:  # its parents are made 0755 inside
                _warn_once(f"root-{root}", "%s is not readable by other users: the sandbox uid may not run it", root)
        for hidden in hidden_paths():
            if any(hidden == r or r in hidden.parents for r in roots) and hidden.is_dir():
                tree.args += ["--tmpfs", str(hidden)]
        visible = [Path(p) for p in ("/usr", "/opt", *map(str, roots))]
        for path in resolve_hidden(self.hide, self.python):
            if not any(path == v or v in path.parents for v in visible):
                continue  # not visible inside anyway
            if path.is_dir():
                tree.args += ["--tmpfs", str(path)]
            else:
                tree.args += ["--ro-bind", "/dev/null", str(path)]
        tree.add("--bind", str(self.workspace), str(self.workspace))
        for m in self.mounts:
            tree.add("--ro-bind" if m.read_only else "--bind", str(m.source), str(self._target(m)))
        args += tree.args
        if seccomp.enabled():  # installed by bwrap right before exec: the server and all it starts
            fd = seccomp.memfd()
            self._fds.append(fd)
            args += ["--seccomp", str(fd)]
        if drop:  # root without CAP_DAC_OVERRIDE cannot enter the 0700 workspace: children chdir
            args += ["--chdir", "/", "--"]
            if not server:
                assert self.uid is not None
                args += [_which("setpriv") or "setpriv", f"--reuid={self.uid}", f"--regid={self.gid}", "--clear-groups",
                         "--", "/bin/sh", "-c", 'cd -- "$0" && exec "$@"', str(self.workspace)]
        else:
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
        limit = timeout if timeout is not None else self.limits.timeout
        if self.persistent:
            if self._server is None or not self._server.alive:
                # Killed (out of memory, by the agent, a broken message): a fresh one.
                if self._server is not None:
                    self._server.take_down()
                self._server = _Server.start(self)
            if self._cgroup is not None:
                self._cgroup.reset_oom()
            res = self._server.run(argv, self._env(env), limit, stdin)
            self._classify(res)
            return res
        full = self._bwrap_argv(argv) if self.use_bwrap else list(argv)
        launcher = self._launcher()
        if launcher is not None:
            full = launcher + full
        if self._cgroup is not None:
            self._cgroup.reset_oom()
        fds = self._take_fds()
        try:
            res = run_bounded(
                full,
                cwd=self.workspace,
                env=self._env(env),
                timeout=limit,
                output_bytes=self.limits.output_bytes,
                stdin=stdin,
                # local-plain has no syscall filter: a fresh session keyring keeps the harness's keys out of reach
                preexec_fn=self._preexec if launcher is None else None if self.use_bwrap else seccomp.join_fresh_session_keyring,
                kill_tree=self._cgroup.kill_all if self._cgroup is not None else self._kill_tagged,
                pass_fds=fds,
            )
        finally:
            self._close_fds(fds)
        self._classify(res)
        return res

    def _take_fds(self) -> tuple[int, ...]:
        fds, self._fds = tuple(self._fds), []
        return fds

    def _close_fds(self, fds: Sequence[int]) -> None:
        for fd in fds:
            os.close(fd)

    def _classify(self, res: ExecResult) -> None:
        if self._cgroup is not None and not res.timed_out and res.returncode != 0 and self._cgroup.oom_killed():
            res.killed_reason = "memory"
        elif "MemoryError" in res.stderr[-2000:] and res.returncode != 0:
            res.killed_reason = "memory"


class _Server:
    """The host side of :mod:`mlgym.sandbox._spawner`: one bwrap, many commands.

    It trusts nothing that comes back: a message that is not exactly ``{"pid": int}`` or
    ``{"exit": int}`` marks the sandbox broken (taken down, restarted for the next
    command), and with a cgroup the host itself kills every process but bwrap and the
    server after each command."""

    def __init__(self, proc: subprocess.Popen[bytes], sock: socket.socket, box: "LocalSandbox") -> None:
        self.proc, self.sock = proc, sock
        self.output_bytes, self.workdir = box.limits.output_bytes, str(box.workspace)
        self.cgroup = box._cgroup
        self.keep: frozenset[int] = frozenset()  # bwrap + server pids, recorded at start
        self.alive = True
        self.stderr_text = ""  # what bwrap and the server wrote to stderr, read when taken down

    @classmethod
    def start(cls, box: "LocalSandbox") -> "_Server":
        from mlgym.sandbox._spawner import SERVER

        host, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        ids = [str(box.uid), str(box.gid)] if box.root and box.uid is not None else ["-1", "-1"]
        argv = box._bwrap_argv([base_python(), "-I", "-S", "-c", SERVER, str(child.fileno()), *ids], server=True)
        launcher = box._launcher()
        fds = box._take_fds()
        try:
            proc = subprocess.Popen(
                (launcher or []) + argv, cwd="/", env=box._env(None),
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                pass_fds=(child.fileno(), *fds), start_new_session=True,
                # once per sandbox: a fresh session keyring (keyctl is refused by the filter anyway)
                preexec_fn=seccomp.join_fresh_session_keyring if launcher is not None else box._preexec,
            )
        finally:
            child.close()
            box._close_fds(fds)
        server = cls(proc, host, box)
        probe = server.run(["true"], {"PATH": "/usr/bin:/bin"}, 30.0, None, sweep=False)
        if probe.returncode != 0:
            server.take_down()  # keeps what bwrap/the server wrote to stderr (server.stderr_text)
            err = (server.stderr_text if server.stderr_text else probe.stderr).strip()
            raise SandboxError(_start_failure(err, probe.killed_reason, box.limits.memory_mb))
        if server.cgroup is not None:
            server.keep = frozenset(server.cgroup.pids())  # the probe is reaped: bwrap (2) and the server
        return server

    def run(self, argv: Sequence[str], env: Mapping[str, str], timeout: float, stdin: str | None,
            *, sweep: bool = True) -> ExecResult:
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
            self.take_down()
            return ExecResult(125, "", "the sandbox is gone", time.monotonic() - start, killed_reason="sandbox died")
        for fd in (in_r, out_w, err_w):
            os.close(fd)
        data = stdin.encode(errors="surrogateescape") if stdin else b""
        if not data:  # nothing to feed: the command sees EOF at once
            os.close(in_w)
        pump = Pump(out_r, err_r, in_w if data else None, data, self.output_bytes)
        pump.watch(self.sock.fileno(), _CTL)
        deadline = start + timeout
        status: int | None = None
        timed_out = False
        try:
            while status is None and self.alive:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    if timed_out:  # the server did not report back: take the whole sandbox down
                        self.alive = False
                        break
                    timed_out = True
                    self._kill_command()
                    deadline = time.monotonic() + _GRACE
                    continue
                if _CTL in pump.poll(remaining):
                    msg = self._recv()
                    if msg is not None and msg[0] == "exit":
                        status = msg[1]
            if not self.alive:
                self.take_down()
            elif sweep and self.cgroup is not None:
                self.cgroup.sweep(self.keep)  # whatever the server did or said
            pump.drain(1.0)
        finally:
            pump.close()
        if status is None:
            return pump.result(137, start, timed_out, "sandbox died")
        return pump.result(status, start, timed_out, signal_reason(status))

    def _kill_command(self) -> None:
        """Timeout: the host kills the command's processes itself (cgroup); the server is
        asked too (the only way without a cgroup: a stopped server then gets taken down)."""
        if self.cgroup is not None and self.keep:
            self.cgroup.sweep(self.keep)
        try:
            self.sock.send(b'{"kill": true}')
        except OSError:
            self.alive = False

    def _recv(self) -> tuple[str, int] | None:
        """One message: ("pid", n) or ("exit", code); anything else breaks the sandbox."""
        try:
            msg = self.sock.recv(4096)
        except OSError:
            msg = b""
        try:
            reply = json.loads(msg) if msg else None
        except ValueError:
            reply = None
        if isinstance(reply, dict) and len(reply) == 1:
            key, value = next(iter(reply.items()))
            if key in ("pid", "exit") and type(value) is int and -(1 << 16) < value < (1 << 31):
                return key, value
        if msg:
            log.warning("the sandbox's process server sent a message it may not send: taking the sandbox down")
        self.alive = False
        return None

    def take_down(self) -> None:
        """Kill the whole sandbox now (nothing inside needs to cooperate): bwrap's outer
        process, whose death ends its pid namespace, and everything in the cgroup."""
        self._hang_up()
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self.proc.kill()
        if self.cgroup is not None:
            self.cgroup.sweep(())
        self.proc.wait()
        stderr = self.proc.stderr
        if stderr is not None and not stderr.closed:
            try:  # everything that wrote it is dead: what is buffered, without blocking
                os.set_blocking(stderr.fileno(), False)
                self.stderr_text += (stderr.read(65536) or b"").decode(errors="replace")
            except (OSError, ValueError):
                pass
            stderr.close()

    def stop(self) -> None:
        """EOF ends the server (it kills what is left first); bounded wait, then take_down."""
        self._hang_up()
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            pass
        self.take_down()

    def _hang_up(self) -> None:
        self.alive = False
        try:
            self.sock.close()
        except OSError:
            pass


_CTL = object()


def _start_failure(err: str, killed: str | None, memory_mb: int | None) -> str:
    """One line for a sandbox that did not start: bwrap's last words, and the likely cause."""
    last = " ".join(err.split())[-500:] or killed or "no message"
    if memory_mb is not None and (killed == "memory" or "MemoryError" in err or memory_mb < 64):
        return (f"the bwrap sandbox did not start with a {memory_mb} MB memory limit ({last}); "
                "Python needs at least ~64 MB: raise --memory-mb")
    return f"the bwrap sandbox did not start: {last}"
