"""Agent code as an adversary against the local sandbox (issue 8) and its leftovers (issue 9).

Every case runs as whoever runs pytest: as root (CI) the agent's uid is an allocated one,
as a normal user it is that user inside a user namespace.  ``test_as_normal_user`` re-runs
the cases marked ``user`` as an unprivileged uid when pytest itself runs as root.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import uuid
from pathlib import Path
from typing import Iterator

import pytest

from mlgym.sandbox import Limits, Mount, make_sandbox
from mlgym.sandbox import _proc
from mlgym.sandbox.local import LocalSandbox, bwrap_available, python_roots

ROOT = os.geteuid() == 0
REPO = Path(__file__).resolve().parents[2]
LIMITS = Limits(timeout=30, memory_mb=512, max_processes=64)
user = pytest.mark.user  # also run as an unprivileged user by test_as_normal_user


def py(code: str, *args: str) -> list[str]:
    return ["python3", "-c", textwrap.dedent(code), *args]


def host_procs_with(marker: str) -> list[int]:
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and int(p.name) != os.getpid():
            try:
                if marker.encode() in (p / "cmdline").read_bytes():
                    found.append(int(p.name))
            except OSError:
                pass
    return found


def wait_gone(marker: str, seconds: float = 10.0) -> list[int]:
    """Host pids still carrying ``marker`` after up to ``seconds`` (a bound, not a speed claim)."""
    until = time.monotonic() + seconds
    while (left := host_procs_with(marker)) and time.monotonic() < until:
        time.sleep(0.05)
    return left


@pytest.fixture
def box(tmp_path: Path) -> Iterator[LocalSandbox]:
    if bwrap_available():
        pytest.fail(f"local-bwrap unusable: {bwrap_available()}", pytrace=False)
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text("x\n1\n")
    (tmp_path / "ws" / "data").mkdir(parents=True)
    sb = make_sandbox("local-bwrap", tmp_path / "ws", limits=LIMITS, mounts=[Mount(data, "data")])
    assert isinstance(sb, LocalSandbox)
    sb.start()
    yield sb
    sb.stop()


# privilege ---------------------------------------------------------------------------------
@user
def test_kernel_knobs_are_read_only(box: LocalSandbox) -> None:
    code = """
        import sys
        for path, value in (("/proc/sys/kernel/core_pattern", None), ("/proc/sys/vm/drop_caches", "1"),
                            ("/proc/sys/kernel/hostname", None)):
            try:
                value = value or open(path).read()  # writing the current value back: harmless if it worked
                with open(path, "w") as f:
                    f.write(value)
                print("WROTE", path)
            except OSError as e:
                print("refused", path, e.errno)
        print(open("/proc/self/mountinfo").read())
    """
    r = box.exec(py(code))
    assert "WROTE" not in r.stdout, r.stdout
    sys_line = [ln for ln in r.stdout.splitlines() if " /proc/sys " in ln]
    assert sys_line and " ro," in sys_line[0], r.stdout


@user
def test_planted_setuid_binary_is_harmless(box: LocalSandbox) -> None:
    r = box.exec(["sh", "-c", "cp /bin/sh ./x && chmod u+s ./x; ls -ln ./x; ./x -c 'id -u'; cat /proc/self/mountinfo"])
    host = box.workspace / "x"
    st = host.lstat()
    assert not (st.st_mode & stat.S_ISUID and st.st_uid == 0), "a setuid-root file appeared on the host"
    ws_line = [ln for ln in r.stdout.splitlines() if f" {box.workspace} " in ln]
    assert ws_line and "nosuid" in ws_line[0] and "nodev" in ws_line[0], r.stdout
    ws = box.workspace.stat()
    assert ws.st_mode & 0o077 == 0, oct(ws.st_mode)
    if ROOT:
        assert box.uid is not None and box.uid != 0
        assert (ws.st_uid, st.st_uid) == (box.uid, box.uid)
        assert r.stdout.split("\n")[1].strip() == str(box.uid), r.stdout  # ./x ran as the sandbox uid


@user
def test_agent_uid_as_seen_from_the_host(box: LocalSandbox) -> None:
    marker = f"{40 + uuid.uuid4().int % 50}.{uuid.uuid4().int % 10**6:06d}"
    seen: list[list[str]] = []

    def watch() -> None:
        until = time.monotonic() + 20
        while not seen and time.monotonic() < until:
            for pid in host_procs_with(f"sleep\x00{marker}"):
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    continue
                seen.append(next(ln for ln in status.splitlines() if ln.startswith("Uid:")).split()[1:])
            time.sleep(0.02)

    t = threading.Thread(target=watch)
    t.start()
    r = box.exec(["sh", "-c", f"sleep {marker} & sleep {marker}"], timeout=3)
    t.join()
    assert r.timed_out and seen, r
    want = str(box.uid) if ROOT else str(os.getuid())
    assert seen[0] == [want] * 4 and want != "0" or not ROOT
    assert wait_gone(f"sleep\x00{marker}") == []


# the process server ------------------------------------------------------------------------
ATTACK = """
    import json, os, signal, socket, sys, time
    me = os.getpid()
    server = None
    for p in os.listdir("/proc"):
        try:
            if p.isdigit() and int(p) != me and b"recv_fds" in open(f"/proc/{p}/cmdline", "rb").read():
                server = int(p)
        except OSError:
            pass
    print("server", server, flush=True)
    try:
        fds = os.listdir(f"/proc/{server}/fd")
        print("FDS", fds, flush=True)
    except OSError as e:
        print("fd listing refused", e.errno, flush=True)
        fds = [str(i) for i in range(3, 12)]
    for fd in fds:
        try:
            s = socket.socket(fileno=os.open(f"/proc/{server}/fd/{fd}", os.O_RDWR))
            s.send(json.dumps({"exit": 0}).encode())
            print("FORGED via", fd, flush=True)
        except OSError:
            pass
    try:
        pidfd = os.pidfd_open(server)
        import ctypes
        got = ctypes.CDLL(None, use_errno=True).syscall(438, pidfd, 3, 0)  # pidfd_getfd
        print("GETFD" if got >= 0 else "getfd refused", flush=True)
    except OSError as e:
        print("pidfd refused", e.errno)
    if os.fork() == 0:  # a daemon that must not survive the step
        os.setsid()
        if os.fork() == 0:
            time.sleep(float(sys.argv[2]))
            open("late.txt", "w").write("alive")
        os._exit(0)
    try:
        os.kill(server, getattr(signal, sys.argv[1]))
        print("SIGNALLED", flush=True)
    except OSError as e:
        print("signal refused", e.errno, flush=True)
    time.sleep(60)
"""


@user
@pytest.mark.parametrize("sig", ["SIGSTOP", "SIGKILL"])
def test_server_cannot_be_robbed_forged_or_stopped(box: LocalSandbox, sig: str) -> None:
    marker = f"{5 + uuid.uuid4().int % 10**6 / 10**7:.7f}"  # the daemon's delay: beyond the step
    t0 = time.monotonic()
    r = box.exec(py(ATTACK, sig, marker), timeout=2)
    assert "FDS" not in r.stdout and "FORGED" not in r.stdout and "GETFD" not in r.stdout, r.stdout
    if ROOT:
        assert "SIGNALLED" not in r.stdout, r.stdout
    # Whatever happened to the server, the step ended with nothing of the agent left.
    assert wait_gone(marker) == []
    time.sleep(max(0.0, t0 + float(marker) + 0.5 - time.monotonic()))
    assert not (box.workspace / "late.txt").exists(), "a daemon outlived its step"
    assert box.exec(["echo", "next"]).stdout == "next\n"


@user
def test_forged_or_malformed_status_takes_the_sandbox_down(box: LocalSandbox) -> None:
    """A compromised server speaking garbage: the step gets an error result, never an
    exception, and the next command gets a fresh sandbox."""
    for bad in (b"\xff\xfe", b"[1, 2]", b'{"exit": "0"}', b'{"exit": 1e400}', b'{"exit": 0, "x": 1}',
                b'{"pid": true}', b"{" * 100_000):
        server = box._server
        assert server is not None and server.alive
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        real, server.sock = server.sock, ours  # the host now listens to us instead of the server
        theirs.send(bad[:4000])
        r = box.exec(["sleep", "5"], timeout=10)
        real.close()
        theirs.close()
        assert r.killed_reason == "sandbox died" and not r.ok, (bad[:20], r)
        assert box.exec(["echo", "again"]).stdout == "again\n"


@user
def test_fork_loop_that_outlives_its_parent_is_swept(box: LocalSandbox) -> None:
    marker = f"forkloop-{uuid.uuid4().hex[:8]}"
    code = """
        import os, sys, time
        if os.fork() == 0:
            os.setsid()
            while True:
                try:
                    if os.fork() == 0:
                        time.sleep(0.05)
                except OSError:
                    time.sleep(0.01)
        time.sleep(0.3)
    """
    r = box.exec(py(code, marker), timeout=20)
    assert not r.timed_out
    assert wait_gone(marker) == [], "fork-loop processes survived the step"
    assert box.exec(["echo", "fine"]).stdout == "fine\n"


def test_host_sweeps_what_the_server_spares(box: LocalSandbox) -> None:
    """As root the host itself kills every cgroup process but bwrap and the server."""
    if not ROOT or box._cgroup is None:
        pytest.skip("needs root and a cgroup")
    server = box._server
    assert server is not None
    assert len(server.keep) == 3 and set(server.keep) <= set(box._cgroup.pids())
    marker = f"{50 + uuid.uuid4().int % 40}.{uuid.uuid4().int % 10**6:06d}"
    box.exec(["sh", "-c", f"sleep {marker} & echo started"])
    assert host_procs_with(f"sleep\x00{marker}") == []
    assert set(box._cgroup.pids()) == set(server.keep)


# files hidden by the task ------------------------------------------------------------------
@user
def test_hidden_package_data(tmp_path: Path) -> None:
    pytest.importorskip("sklearn")
    item = "sklearn/datasets/data/digits.csv.gz"
    from mlgym.sandbox.local import resolve_hidden

    (path,) = resolve_hidden([item, "no_such_pkg_xyz/a.txt", "sklearn/../etc/passwd"])
    assert path.is_file() and path.stat().st_size > 0
    if not any(root in path.parents for root in python_roots()):
        pytest.skip("scikit-learn is not inside this interpreter's tree (a PYTHONPATH): not visible in the sandbox")
    with make_sandbox("local-bwrap", tmp_path / "ws", limits=LIMITS, hide=[item]) as sb:
        r = sb.exec(py("from sklearn.datasets import load_digits; print(load_digits().data.shape)"), timeout=120)
        assert r.returncode != 0 and "(1797" not in r.stdout, r.stdout
        r = sb.exec(["cat", str(path)])
        assert r.stdout == ""
    with make_sandbox("local-bwrap", tmp_path / "ws2", limits=LIMITS) as sb:  # the control
        r = sb.exec(["wc", "-c", str(path)])
        assert r.stdout.split()[0] == str(path.stat().st_size)


# leftovers and fds (issue 9) ---------------------------------------------------------------
@user
@pytest.mark.parametrize("kind", ["local-plain", "local-bwrap"])
def test_no_foreign_fd_is_closed_under_concurrency(tmp_path: Path, kind: str) -> None:
    """Many threads run commands with empty stdin while another opens files: a pump that
    closes an fd twice closes the watcher's file (EBADF or a different inode)."""
    probe = tmp_path / "probe.txt"
    probe.write_text("x")
    ino = probe.stat().st_ino
    errors: list[str] = []
    stop = threading.Event()

    def watcher() -> None:
        while not stop.is_set():
            fds = [os.open(probe, os.O_RDONLY) for _ in range(8)]
            for fd in fds:
                try:
                    if os.fstat(fd).st_ino != ino:
                        errors.append("an fd of ours now points elsewhere")
                except OSError as e:
                    errors.append(f"fstat: {e}")
            for fd in fds:
                try:
                    os.close(fd)
                except OSError as e:
                    errors.append(f"close: {e}")

    boxes = [make_sandbox(kind, tmp_path / f"ws{i}", limits=LIMITS) for i in range(4)]

    def worker(sb: object) -> None:
        for i in range(40):
            try:
                r = sb.exec(["true"], stdin="" if i % 2 else None)  # type: ignore[attr-defined]
                if r.returncode != 0:
                    errors.append(f"exec failed: {r}")
            except Exception as e:  # noqa: BLE001 - any escape is the failure we look for
                errors.append(f"exec raised {e!r}")

    for sb in boxes:
        sb.start()
    w = threading.Thread(target=watcher)
    w.start()
    try:
        threads = [threading.Thread(target=worker, args=(sb,)) for sb in boxes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        stop.set()
        w.join()
        for sb in boxes:
            sb.stop()
    assert errors == [], errors[:5]


def test_pump_closes_each_fd_once() -> None:
    """Directly: with nothing to feed, the stdin fd is closed at once and never again."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    in_r, in_w = os.pipe()
    pump = _proc.Pump(out_r, err_r, in_w, b"", 1024)
    other = os.open(os.devnull, os.O_RDONLY)  # the kernel hands out the freed number again
    try:
        assert other == in_w
        pump.close()
        os.fstat(other)  # still ours
    finally:
        os.close(other)
        for fd in (out_w, err_w, in_r):
            os.close(fd)


@user
def test_plain_command_dies_with_its_runner(tmp_path: Path) -> None:
    marker = f"{60 + uuid.uuid4().int % 30}.{uuid.uuid4().int % 10**6:06d}"
    runner = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from mlgym.sandbox import Limits, make_sandbox
        sb = make_sandbox("local-plain", Path({str(tmp_path / 'ws')!r}), limits=Limits(timeout=120))
        sb.start()
        print("started", flush=True)
        sb.exec(["sleep", sys.argv[1]])
    """)
    proc = subprocess.Popen([sys.executable, "-c", runner, marker], stdout=subprocess.PIPE, cwd=REPO)
    command = f"sleep\x00{marker}"  # not in the runner's own command line
    try:
        assert proc.stdout is not None and proc.stdout.readline() == b"started\n"
        until = time.monotonic() + 30
        while not host_procs_with(command) and time.monotonic() < until:
            time.sleep(0.05)
        assert host_procs_with(command), "the command never started"
    finally:
        proc.kill()
        proc.wait()
    assert wait_gone(command) == [], "the agent's command outlived its runner"


def test_stale_cgroup_of_a_killed_runner_is_collected(tmp_path: Path) -> None:
    if not ROOT:
        pytest.skip("cgroups are created as root only")
    from mlgym.sandbox import _cgroup

    marker = f"{70 + uuid.uuid4().int % 20}.{uuid.uuid4().int % 10**6:06d}"
    owner = textwrap.dedent(f"""
        import json, subprocess, time
        from mlgym.sandbox._cgroup import Cgroup
        cg = Cgroup.create(128, 16)
        if cg is None:
            print("null", flush=True)
        else:
            subprocess.Popen(["sleep", "{marker}"], preexec_fn=cg.preexec_join, start_new_session=True)
            cg._freeze(True)  # the worst case: the runner died mid-sweep with the group frozen
            print(json.dumps([str(d) for d in cg.dirs.values()]), flush=True)
        time.sleep(600)
    """)
    proc = subprocess.Popen([sys.executable, "-c", owner], stdout=subprocess.PIPE, cwd=REPO)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if line.strip() == b"null":
        proc.kill()
        pytest.skip("no usable cgroup here")
    dirs = [Path(d) for d in json.loads(line)]
    assert all(d.is_dir() for d in dirs) and host_procs_with(f"sleep\x00{marker}")
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert _cgroup.remove_stale() >= len(set(dirs))
    assert not any(d.exists() for d in dirs)
    assert wait_gone(f"sleep\x00{marker}") == []


def test_cgroup_is_removed_at_stop(box: LocalSandbox) -> None:
    if box._cgroup is None:
        pytest.skip("no cgroup (not root)")
    dirs = list(box._cgroup.dirs.values())
    box.exec(["sh", "-c", "for i in 1 2 3 4 5 6 7 8; do sleep 30 & done; echo ok"])
    box.stop()
    assert not any(d.exists() for d in dirs)


# as a normal user ------------------------------------------------------------------------
def test_as_normal_user(request: pytest.FixtureRequest) -> None:
    """Re-run the ``user`` cases as an unprivileged uid (root only; as a normal user they
    already ran as one).  The venv's interpreter sits under a 0700 /root here, so the
    inner run uses the system python3 of the same minor version with the venv's packages."""
    if not ROOT or os.environ.get("MLGYM_INNER_USER_RUN"):
        pytest.skip("already unprivileged")
    from mlgym.sandbox import uids

    py3 = Path(f"/usr/bin/python{sys.version_info.major}.{sys.version_info.minor}")
    site = Path(sys.prefix, "lib", f"python{sys.version_info.major}.{sys.version_info.minor}", "site-packages")
    if not py3.exists() or not os.access(site, os.R_OK):
        pytest.skip(f"no system {py3} to run as another user")
    uid = uids.allocate()
    home = Path(tempfile.mkdtemp(prefix="mlgym-user-"))  # pytest's root tmp dir is 0700
    os.chown(home, uid, uid)
    request.addfinalizer(lambda: shutil.rmtree(home, ignore_errors=True))
    env = {
        "PATH": "/usr/bin:/bin", "HOME": str(home), "TMPDIR": str(home), "LANG": "C.UTF-8",
        "PYTHONPATH": f"{REPO}:{site}", "MLGYM_INNER_USER_RUN": "1", "PYTHONDONTWRITEBYTECODE": "1",
        "MLGYM_DATA_DIR": str(home / "data"),
    }
    cmd = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", str(py3), "-m", "pytest", "-q",
           "-p", "no:cacheprovider", "-m", "user", "--rootdir", str(home), "-c", os.devnull,
           str(Path(__file__).resolve())]
    r = subprocess.run(cmd, env=env, cwd=home, capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert " passed" in r.stdout and "failed" not in r.stdout, r.stdout[-2000:]


@user
def test_a_link_where_a_mount_goes_is_not_followed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """bwrap creates missing mount points as root, following links: a link left in place of
    the data folder (by whatever means) must not make it create anything outside."""
    monkeypatch.setenv("MLGYM_BWRAP_PER_EXEC", "1")
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text("x\n1\n")
    victim = tmp_path / "victim"
    victim.mkdir()
    with make_sandbox("local-bwrap", tmp_path / "ws", limits=LIMITS, mounts=[Mount(data, "data")]) as sb:
        assert sb.exec(["cat", "data/train.csv"]).stdout == "x\n1\n"
        (sb.workspace / "data").rmdir()
        (sb.workspace / "data").symlink_to(victim / "made-by-bwrap")
        assert sb.exec(["cat", "data/train.csv"]).stdout == "x\n1\n"
    assert list(victim.iterdir()) == []
