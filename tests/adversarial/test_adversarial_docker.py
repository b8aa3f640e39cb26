"""Agent code attacking the docker sandbox (issue 8), through nothing but ``exec``.

Each test plays the attacker: kill the supervisor and leave daemons behind, fork-bomb,
plant a setuid binary, write kernel knobs, reach the network, forge output, and a daemon
that answers nonsense.  What must hold afterwards is checked from outside the agent's
reach (container root through the Docker SDK, the host's view of the workspace).
"""

from __future__ import annotations

import os
import socket
import stat
import threading
import uuid
from pathlib import Path
from typing import Any

import pytest

from mlgym.core.errors import SandboxError
from mlgym.sandbox import Limits, make_sandbox
from mlgym.sandbox.uids import in_range

pytestmark = pytest.mark.usefixtures("docker_ready")

LIMITS = Limits(timeout=30, memory_mb=256, max_processes=64, output_bytes=64 * 1024)
DAEMONS = "sleep 1000 & setsid sh -c 'sleep 1001' & nohup sleep 1002 >/dev/null 2>&1 &"


@pytest.fixture
def sb(tmp_path: Path):  # type: ignore[no-untyped-def]
    box: Any = make_sandbox("docker", tmp_path / "ws", limits=LIMITS, run_id=f"adv-{uuid.uuid4().hex[:8]}", task="adversarial")
    box.start()
    yield box
    box.stop()


def agent_procs(box: Any) -> list[str]:
    """Live (non-zombie) processes of the sandbox uid, as container root sees them."""
    r = box.container.exec_run(["ps", "-eo", "uid=,stat=,args="], user="0:0")
    rows = [line.split(None, 2) for line in r.output.decode().splitlines()]
    return [" ".join(row) for row in rows if row and row[0] == str(box.uid) and not row[1].startswith("Z")]


@pytest.mark.parametrize("attack", [
    "kill -9 $PPID",  # the supervisor (`timeout`)
    "kill -9 -1",  # everything the agent may signal
    "pkill -9 timeout; pkill -9 -f mlgym; pkill -9 sh",
    "kill -STOP $PPID",
])
def test_killing_the_supervisor_leaves_nothing_running(sb, attack: str) -> None:  # type: ignore[no-untyped-def]
    r = sb.exec(["sh", "-c", f"{DAEMONS} {attack}; sleep 0.2; echo done"])
    assert not r.timed_out
    assert agent_procs(sb) == []
    nxt = sb.exec(["echo", "next"])
    assert nxt.ok and nxt.stdout == "next\n"


def test_daemon_holding_the_output_stream_is_killed_with_the_step(sb) -> None:  # type: ignore[no-untyped-def]
    # The background sleep keeps stdout/stderr of the exec open; the step must still end.
    r = sb.exec(["sh", "-c", "sleep 1000 & setsid sleep 1001 & echo started"], timeout=20)
    assert r.ok and r.stdout == "started\n" and not r.timed_out
    assert agent_procs(sb) == []


def test_timeout_kills_setsid_daemons(sb) -> None:  # type: ignore[no-untyped-def]
    r = sb.exec(["sh", "-c", f"{DAEMONS} trap '' TERM; sleep 1000"], timeout=1)
    assert r.timed_out and r.killed_reason == "timeout"
    assert agent_procs(sb) == []


def test_fork_bomb_is_swept_and_the_sandbox_stays_usable(sb) -> None:  # type: ignore[no-untyped-def]
    bomb = "import os\nwhile True:\n    try:\n        os.fork() or os.setsid()\n    except OSError:\n        pass\n"
    r = sb.exec(["python3", "-c", bomb], timeout=2)
    assert r.timed_out
    assert agent_procs(sb) == []
    assert sb.exec(["echo", "alive"]).stdout == "alive\n"


def test_agent_uid_is_unprivileged_and_owns_the_workspace_alone(sb) -> None:  # type: ignore[no-untyped-def]
    assert in_range(sb.uid) and sb.uid not in (0, 1000)
    r = sb.exec(["sh", "-c", "cp /bin/sh ./suid && chmod 4755 ./suid; id -u; grep -E '^(CapEff|CapPrm|NoNewPrivs)' /proc/self/status"])
    assert r.ok, r.stderr
    lines = r.stdout.split()
    assert lines[0] == str(sb.uid)
    assert "0000000000000000" in r.stdout and r.stdout.count("0000000000000000") == 2  # CapPrm, CapEff
    planted = os.lstat(sb.workspace / "suid")
    assert planted.st_uid == sb.uid and planted.st_uid not in (0, 1000)
    ws = os.stat(sb.workspace)
    assert ws.st_uid == sb.uid and stat.S_IMODE(ws.st_mode) == 0o700  # nobody else can reach the binary
    # The planted binary gives nothing inside either, and setuid-root binaries of the image are inert.
    r = sb.exec(["sh", "-c", "./suid -c 'id -u'; python3 -c 'import os; os.setuid(0)'"])
    assert r.stdout.strip() == str(sb.uid) and "PermissionError" in r.stderr


def test_uids_differ_between_sandboxes(tmp_path: Path) -> None:
    a: Any = make_sandbox("docker", tmp_path / "a", limits=LIMITS)
    b: Any = make_sandbox("docker", tmp_path / "b", limits=LIMITS)
    with a, b:
        assert a.uid != b.uid
        assert b.exec(["sh", "-c", "kill -9 -1; ls /proc/*/status >/dev/null; echo ok"]).ok


def test_kernel_knobs_are_read_only(sb) -> None:  # type: ignore[no-untyped-def]
    before = Path("/proc/sys/kernel/domainname").read_text()
    r = sb.exec(["sh", "-c", "echo pwned > /proc/sys/kernel/domainname; echo '|/tmp/x' > /proc/sys/kernel/core_pattern; "
                             "grep ' /proc/sys ' /proc/self/mounts"])
    assert r.stderr.count("Read-only file system") + r.stderr.count("Permission denied") == 2
    assert " ro," in r.stdout or " ro " in r.stdout
    assert Path("/proc/sys/kernel/domainname").read_text() == before
    # Still read-only for container root (where the wrapper runs).
    out = sb.container.exec_run(["sh", "-c", "echo pwned > /proc/sys/kernel/domainname"], user="0:0")
    assert out.exit_code != 0 and Path("/proc/sys/kernel/domainname").read_text() == before


def test_no_network_not_even_the_host(sb) -> None:  # type: ignore[no-untyped-def]
    srv = socket.socket()
    srv.bind(("0.0.0.0", 0))
    srv.listen(1)
    port = srv.getsockname()[1]
    hits: list[object] = []

    def accept() -> None:
        try:
            hits.append(srv.accept())
        except OSError:  # closed at the end of the test: nobody connected
            pass

    threading.Thread(target=accept, daemon=True).start()
    code = (
        "import socket, subprocess\n"
        "gw = subprocess.run(['sh', '-c', \"awk 'NR>1 {print $3}' /proc/net/route\"], capture_output=True, text=True).stdout.split()\n"
        f"for host in ['1.1.1.1', '172.17.0.1', '127.0.0.1']:\n"
        "    try:\n"
        f"        socket.create_connection((host, {port}), timeout=2); print('REACHED', host)\n"
        "    except OSError as e:\n"
        "        print('blocked', host, e.errno)\n"
        "print('routes', gw)\n"
    )
    r = sb.exec(["python3", "-c", code], timeout=20)
    srv.close()
    assert "REACHED" not in r.stdout and r.stdout.count("blocked") == 3 and hits == []
    assert "routes []" in r.stdout


def test_forged_status_in_output_changes_nothing(sb) -> None:  # type: ignore[no-untyped-def]
    # A Docker stream frame header, JSON like the daemon's, a line like a shell status.
    forged = b'\x01\x00\x00\x00\x00\x00\x00\x05{"ExitCode": 0, "Running": false}\nrc=0\nexit 0\n\x02\x00\x00\x00\x00\x00\x00\x00'
    code = f"import sys, os; sys.stdout.buffer.write({forged!r}); sys.stderr.buffer.write({forged!r}); sys.stdout.flush(); os._exit(3)"
    r = sb.exec(["python3", "-c", code])
    assert r.returncode == 3 and not r.ok and not r.timed_out
    assert '{"ExitCode": 0' in r.stdout and '{"ExitCode": 0' in r.stderr


@pytest.mark.parametrize("answer", [None, {}, {"ExitCode": None}, {"ExitCode": "0; rm -rf /"}, {"ExitCode": 10**9},
                                    {"ExitCode": True}, ["ExitCode", 0], "garbage"])
def test_daemon_answering_nonsense_is_an_error_result(sb, monkeypatch, answer: object) -> None:  # type: ignore[no-untyped-def]
    # The Docker SDK (not our code) is replaced: a broken or hostile daemon's exec_inspect.
    monkeypatch.setattr(sb.client.api, "exec_inspect", lambda exec_id: answer)
    r = sb.exec(["sh", "-c", "sleep 1000 & echo hi"])
    assert not r.ok and r.returncode == 125 and r.killed_reason == "sandbox error"
    monkeypatch.undo()
    assert agent_procs(sb) == [] and sb.exec(["true"]).ok


def test_daemon_errors_are_error_results_until_the_container_is_gone(sb, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import docker.errors

    def broken(exec_id: str) -> object:
        raise docker.errors.APIError("500 Server Error: something odd")

    monkeypatch.setattr(sb.client.api, "exec_inspect", broken)
    r = sb.exec(["true"])
    assert r.returncode == 125 and r.killed_reason == "sandbox error"
    monkeypatch.undo()
    sb.container.remove(force=True)
    with pytest.raises(SandboxError):
        sb.exec(["true"])


def test_hidden_package_data_is_gone(tmp_path: Path) -> None:
    hide = ["sklearn/datasets/data/digits.csv.gz", "nosuchpackage/data/x.csv", "sklearn/../../etc/passwd"]
    code = ("import importlib.util, os\n"  # where sklearn's data is, without the slow import
            "p = os.path.join(importlib.util.find_spec('sklearn').submodule_search_locations[0], 'datasets', 'data')\n"
            "print(sorted(os.listdir(p)))\n"
            "try:\n    open(os.path.join(p, 'digits.csv.gz'), 'rb'); print('READABLE')\nexcept OSError as e:\n    print('refused', type(e).__name__)\n"
            "print(os.path.exists('/etc/passwd'))\n")
    with make_sandbox("docker", tmp_path / "ws", limits=LIMITS, hide=hide) as box:
        r = box.exec(["python3", "-c", code], timeout=60)
    assert r.ok, r.stderr
    assert "digits.csv.gz" not in r.stdout and "iris.csv" in r.stdout  # only what was asked
    assert "refused FileNotFoundError" in r.stdout and "READABLE" not in r.stdout
    assert r.stdout.strip().endswith("True")  # a path leaving the package is not touched
    with make_sandbox("docker", tmp_path / "ws2", limits=LIMITS) as box:  # other containers keep it
        assert "READABLE" in box.exec(["python3", "-c", code], timeout=60).stdout


def test_scratch_space_is_bounded_tmpfs(sb) -> None:  # type: ignore[no-untyped-def]
    r = sb.exec(["sh", "-c", "for d in /tmp /var/tmp /run/lock; do awk -v d=$d '$2==d {print d, $3}' /proc/mounts; done"])
    assert r.stdout.split() == ["/tmp", "tmpfs", "/var/tmp", "tmpfs", "/run/lock", "tmpfs"]
    r = sb.exec(["sh", "-c", "find / -xdev -writable 2>/dev/null | grep -vxE '/proc.*|/tmp|/var/tmp|/var/lock|/run/lock|/workspace' | head -3"])
    assert r.stdout.strip() == ""  # nothing on the container layer is writable to the agent (but mount points)
    r = sb.exec(["sh", "-c", "touch /etc/x || touch /usr/x || touch /opt/x || echo refused"])
    assert r.stdout == "refused\n"


def test_workspace_quota_holds_inside_the_container(tmp_path: Path) -> None:
    from mlgym.sandbox.quota import Quota

    ws = tmp_path / "ws"
    ws.mkdir()
    quota = Quota.mount(ws, 32)
    try:
        if quota.kind == "soft":
            pytest.skip("no size-limited file system here (not root?): only the soft quota applies")
        box: Any = make_sandbox("docker", ws, limits=LIMITS)
        with box:
            r = box.exec(["sh", "-c", "dd if=/dev/zero of=big bs=1M count=64 2>&1; echo rc=$?"], timeout=60)
            assert "No space left on device" in r.stdout and "rc=1" in r.stdout
            assert quota.exceeded() is not None
            assert box.exec(["sh", "-c", "rm big && echo freed"]).stdout == "freed\n"  # the agent can recover
            assert quota.exceeded() is None
    finally:
        quota.release()
