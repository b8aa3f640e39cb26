"""The sandbox contract, run unchanged against every backend (see mlgym/sandbox/base.py).

local-plain is documented as reduced isolation: the cases it cannot hold (hidden host
files, network, writes outside the workspace, read-only mounts from inside) are xfailed
for it alone.  Docker cases fail when the daemon or the image is missing, unless
``MLGYM_SKIP_DOCKER=1`` (then they are skipped, with the reason).
"""

from __future__ import annotations

import os
import socket
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from mlgym.tasks.data import link_tree
from mlgym.core.errors import MLGymError
from mlgym.sandbox import Limits, Mount, make_sandbox

BACKENDS = ["local-plain", "local-bwrap", "docker"]
LIMITS = Limits(timeout=30, memory_mb=256, max_processes=64, output_bytes=64 * 1024)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(params=BACKENDS)
def kind(request: pytest.FixtureRequest) -> str:
    if request.param == "docker":
        request.getfixturevalue("docker_ready")
    elif request.param == "local-bwrap":
        from mlgym.sandbox.local import bwrap_available

        if bwrap_available():
            pytest.fail(f"local-bwrap unusable: {bwrap_available()}", pytrace=False)
    return str(request.param)


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    d = tmp_path / "data"
    d.mkdir()
    (d / "train.csv").write_text("x,y\n1,2\n")
    return d


@pytest.fixture
def make(kind: str, tmp_path: Path, data_dir: Path):  # type: ignore[no-untyped-def]
    made = []

    def factory(limits: Limits = LIMITS, **options: object):  # type: ignore[no-untyped-def]
        if kind == "docker":
            options.setdefault("run_id", f"test-{uuid.uuid4().hex[:8]}")
            options.setdefault("task", "conformance")
        if not (tmp_path / "ws").exists():  # the env's layout: data/ hard-linked into the workspace too
            link_tree(data_dir, tmp_path / "ws" / "data")
        sb = make_sandbox(kind, tmp_path / "ws", limits=limits, mounts=[Mount(data_dir, "data")], **options)
        sb.start()
        made.append(sb)
        return sb

    yield factory
    for sb in made:
        sb.stop()


@pytest.fixture
def sb(make):  # type: ignore[no-untyped-def]
    return make()


def plain_cannot(kind: str, what: str) -> None:
    if kind == "local-plain":
        pytest.xfail(f"local-plain is reduced isolation: {what}")


def py(code: str, *args: str) -> list[str]:
    return ["python3", "-c", textwrap.dedent(code), *args]


def host_procs_with(marker: str) -> list[int]:
    """Host pids whose command line contains ``marker`` (containers' processes included)."""
    found = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit() and p.name != str(os.getpid()):
            try:
                if marker.encode() in (p / "cmdline").read_bytes():
                    found.append(int(p.name))
            except OSError:
                pass
    return found


# basics ------------------------------------------------------------------------------
def test_echo(sb) -> None:  # type: ignore[no-untyped-def]
    r = sb.exec(["echo", "hello"])
    assert (r.returncode, r.stdout, r.timed_out, r.killed_reason) == (0, "hello\n", False, None)
    assert r.ok


def test_exit_code_and_stderr(sb) -> None:  # type: ignore[no-untyped-def]
    r = sb.exec(py("import sys; print('oops', file=sys.stderr); sys.exit(3)"))
    assert r.returncode == 3 and not r.timed_out and r.killed_reason is None
    assert r.stderr == "oops\n" and not r.ok


def test_argv_is_not_a_shell_line(sb) -> None:  # type: ignore[no-untyped-def]
    args = ["x; echo hi", "$HOME", "`id`", "a b", "*"]
    r = sb.exec(py("import sys; print(repr(sys.argv[1:]))", *args))
    assert r.stdout.strip() == repr(args)


def test_env_and_stdin(sb) -> None:  # type: ignore[no-untyped-def]
    r = sb.exec(py("import os, sys; print(os.environ['FOO'], sys.stdin.read())"), env={"FOO": "bar"}, stdin="in put")
    assert r.stdout == "bar in put\n"


def test_large_stdin_and_output_do_not_deadlock(sb) -> None:  # type: ignore[no-untyped-def]
    data = "0123456789abcde\n" * 200_000  # 3.2 MB through cat: both pipes fill up
    r = sb.exec(["cat"], stdin=data, timeout=20)
    assert r.ok and not r.timed_out
    assert r.truncated_bytes > 3_000_000
    assert r.stdout.startswith("0123456789abcde\n") and r.stdout.endswith("0123456789abcde\n")


def test_background_child_does_not_hold_exec(sb) -> None:  # type: ignore[no-untyped-def]
    t = time.monotonic()
    r = sb.exec(["sh", "-c", "sleep 60 & echo started"], timeout=20)
    assert r.ok and not r.timed_out and r.stdout == "started\n"
    assert time.monotonic() - t < 5, "exec waited for a background child"


def test_missing_program(sb) -> None:  # type: ignore[no-untyped-def]
    r = sb.exec(["no-such-program-xyz"])
    assert r.returncode != 0 and not r.timed_out


# limits ------------------------------------------------------------------------------
def test_timeout_kills_whole_tree(sb) -> None:  # type: ignore[no-untyped-def]
    # The grandchild escapes the process group (new session) and would write later.
    code = """
        import subprocess, sys, time
        subprocess.Popen([sys.executable, '-c',
            "import time; time.sleep(2); open('late.txt', 'w').write('alive')"], start_new_session=True)
        print('started', flush=True)
        time.sleep(60)
    """
    t = time.monotonic()
    r = sb.exec(py(code), timeout=1)
    assert time.monotonic() - t < 8
    assert r.timed_out and r.killed_reason == "timeout" and not r.ok
    assert "started" in r.stdout
    time.sleep(2.5)
    assert not (sb.workspace / "late.txt").exists(), "a grandchild outlived the timeout"


def test_output_is_clipped(sb) -> None:  # type: ignore[no-untyped-def]
    r = sb.exec(py("import sys\nfor _ in range(5000): sys.stdout.write('y' * 1023 + '\\n')"))
    assert r.returncode == 0
    assert r.truncated_bytes > 4_000_000
    assert len(r.stdout) < LIMITS.output_bytes + 200
    assert r.stdout.startswith("yyy") and r.stdout.endswith("y\n") and "cut" in r.stdout


def test_memory_limit(kind, sb) -> None:  # type: ignore[no-untyped-def]
    code = """
        chunks = []
        for _ in range(64):
            chunks.append(bytearray(32 * 2**20))  # zero-filled: pages are touched
        print('survived', len(chunks))
    """
    r = sb.exec(py(code), timeout=60)
    assert r.returncode != 0 and "survived" not in r.stdout and not r.timed_out
    if kind == "local-plain":
        assert r.killed_reason == "memory" or "MemoryError" in r.stderr
    else:
        assert r.killed_reason == "memory"
    assert sb.exec(["echo", "still here"]).ok


def test_fork_bomb_is_contained(sb) -> None:  # type: ignore[no-untyped-def]
    marker = f"forkbomb-{uuid.uuid4().hex[:8]}"
    code = """
        import os, time
        try:
            while True:
                os.fork()
        except OSError:
            pass
        time.sleep(60)
    """
    t = time.monotonic()
    r = sb.exec(py(code, marker), timeout=5)
    assert time.monotonic() - t < 20
    assert not r.ok
    time.sleep(0.5)
    assert host_procs_with(marker) == [], "fork bomb processes survived"
    assert sb.exec(["echo", "fine"]).stdout == "fine\n"


# isolation -----------------------------------------------------------------------------
def test_no_network(kind, sb) -> None:  # type: ignore[no-untyped-def]
    plain_cannot(kind, "the host network is shared")
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", 0))
    srv.listen(4)
    port = srv.getsockname()[1]
    hits: list[str] = []

    def serve() -> None:
        while True:
            try:
                conn, addr = srv.accept()
            except OSError:
                return
            hits.append(addr[0])
            conn.close()

    threading.Thread(target=serve, daemon=True).start()
    hosts = ["127.0.0.1"]
    try:
        ip = socket.gethostbyname(socket.gethostname())
        if not ip.startswith("127."):
            hosts.append(ip)
    except OSError:
        pass
    code = """
        import socket, sys
        for host in sys.argv[2:]:
            try:
                socket.create_connection((host, int(sys.argv[1])), timeout=3).close()
                print('connected', host)
            except OSError as e:
                print('refused', host, e)
    """
    try:
        r = sb.exec(py(code, str(port), *hosts), timeout=20)
    finally:
        srv.close()
    assert "connected" not in r.stdout and hits == [], r.stdout


def test_cannot_read_hidden_files(kind, sb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    plain_cannot(kind, "the whole host file system is visible")
    secret = tmp_path / "private" / "answers.txt"
    secret.parent.mkdir()
    secret.write_text("TOPSECRET-42\n")
    for path in (secret, REPO / "mlgym" / "sandbox" / "base.py"):
        r = sb.exec(["cat", str(path)])
        assert r.returncode != 0 and "TOPSECRET" not in r.stdout and "Sandbox" not in r.stdout, path


def test_cannot_write_outside_workspace(kind, sb) -> None:  # type: ignore[no-untyped-def]
    plain_cannot(kind, "commands run as the calling user on the host file system")
    name = f"mlgym-escape-{uuid.uuid4().hex[:8]}"
    r = sb.exec(py("import sys; open(sys.argv[1], 'w').write('x')", f"/tmp/{name}"))
    assert not Path("/tmp", name).exists(), "a command wrote to the host's /tmp"
    r = sb.exec(["touch", f"/usr/{name}"])
    assert r.returncode != 0 and not Path("/usr", name).exists()


def test_data_mount_is_read_only(kind, sb, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PermissionError):
        sb.write_file("data/train.csv", b"tampered")
    r = sb.exec(["cat", "data/train.csv"])
    assert r.stdout == "x,y\n1,2\n"
    plain_cannot(kind, "there are no read-only mounts")
    r = sb.exec(py("open('data/train.csv', 'w').write('tampered')"))
    r2 = sb.exec(["touch", "data/new.txt"])
    assert r.returncode != 0 and r2.returncode != 0
    assert (data_dir / "train.csv").read_text() == "x,y\n1,2\n" and not (data_dir / "new.txt").exists()


# files and lifecycle ---------------------------------------------------------------------
def test_files_round_trip(sb) -> None:  # type: ignore[no-untyped-def]
    r = sb.exec(py("import os; os.makedirs('out', exist_ok=True); open('out/pred.csv', 'w').write('id,y\\n1,0\\n')"))
    assert r.ok, r.stderr
    assert sb.read_file("out/pred.csv") == b"id,y\n1,0\n"
    sb.write_file("src/model.py", b"print('from host')\n")
    r = sb.exec(["python3", "src/model.py"])
    assert r.stdout == "from host\n"
    r = sb.exec(py("open('src/model.py', 'a').write('# edited\\n')"))  # the agent may edit it
    assert r.ok, r.stderr
    assert sb.read_file("src/model.py").endswith(b"# edited\n")


def test_file_paths_cannot_escape(sb, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "outside.txt").write_text("no")
    for bad in ("../outside.txt", "/etc/passwd", "src/../../outside.txt"):
        with pytest.raises(PermissionError):
            sb.read_file(bad)
        with pytest.raises(PermissionError):
            sb.write_file(bad, b"x")
    with pytest.raises(FileNotFoundError):
        sb.read_file("missing.txt")


def test_stop_leaves_nothing_behind(kind, make) -> None:  # type: ignore[no-untyped-def]
    sb = make()
    marker = f"{300 + uuid.uuid4().int % 600}.{uuid.uuid4().int % 1000:03d}"
    r = sb.exec(py("import subprocess; subprocess.Popen(['sleep', __import__('sys').argv[1]], start_new_session=True)", marker))
    assert r.ok and not r.timed_out
    sb.stop()
    sb.stop()  # idempotent
    time.sleep(0.3)
    assert host_procs_with(f"sleep\x00{marker}") == []
    if kind == "docker":
        from mlgym.sandbox.docker import connect

        left = connect().containers.list(all=True, filters={"label": f"mlgym.run={sb.run_id}"})
        assert left == []
    with pytest.raises(MLGymError):
        sb.exec(["echo", "after stop"])


# issue 8: the agent against its supervisor ---------------------------------------------
def test_killing_the_supervisor_leaves_nothing_running(kind, sb) -> None:  # type: ignore[no-untyped-def]
    plain_cannot(kind, "`kill -9 -1` there is the harness user's (as root: the whole host's)")
    marker = f"{300 + uuid.uuid4().int % 600}.{uuid.uuid4().int % 1000:03d}"
    r = sb.exec(["sh", "-c", f"sleep {marker} & setsid sleep {marker} & kill -9 $PPID; kill -9 -1; echo done"])
    assert not r.timed_out
    time.sleep(0.3)
    assert host_procs_with(f"sleep\x00{marker}") == []
    assert sb.exec(["echo", "next"]).stdout == "next\n"


def test_workspace_belongs_to_an_unprivileged_sandbox_uid(kind, sb) -> None:  # type: ignore[no-untyped-def]
    plain_cannot(kind, "commands run as the harness user")
    st = os.stat(sb.workspace)
    assert st.st_mode & 0o077 == 0  # not reachable by other host users
    r = sb.exec(["id", "-u"])
    if os.geteuid() == 0:
        assert sb.uid not in (None, 0, 1000) and st.st_uid == sb.uid and r.stdout.strip() == str(sb.uid)


def test_kernel_knobs_are_read_only(kind, sb) -> None:  # type: ignore[no-untyped-def]
    plain_cannot(kind, "the host's /proc is the sandbox's")
    code = """
        for path in ("/proc/sys/kernel/core_pattern", "/proc/sys/vm/drop_caches"):
            try:
                value = "1" if "drop" in path else open(path).read()  # harmless if it worked
                with open(path, "w") as f:
                    f.write(value)
                print("WROTE", path)
            except OSError as e:
                print("refused", e.errno)
    """
    r = sb.exec(py(code))
    assert "WROTE" not in r.stdout and r.stdout.count("refused") == 2, r


def test_a_planted_setuid_binary_gains_nothing(kind, sb) -> None:  # type: ignore[no-untyped-def]
    plain_cannot(kind, "commands run as the harness user on the host file system")
    r = sb.exec(["sh", "-c", "cp /bin/sh ./suid && chmod u+s ./suid; id -u; ./suid -c 'id -u'"])
    first, second = r.stdout.split()[:2]
    assert first == second, r  # no privilege gained inside
    st = os.lstat(sb.workspace / "suid")
    assert not (st.st_mode & 0o4000 and st.st_uid == 0), oct(st.st_mode)
