"""Issue 21: agent code runs under a syscall filter at least as strict as Docker's default
profile (keyrings, io_uring, userfaultfd, perf_event_open, bpf, mounts, new namespaces, ptrace
of non-children, other processes' memory, NUMA policy, AF_ALG/AF_VSOCK...), on local-bwrap
(bubblewrap --seccomp) and on docker (a profile generated from the same deny list); local-plain
has no filter but gets a fresh session keyring, so the harness's keys are out of reach."""

from __future__ import annotations

import json
import os
import platform
import uuid
from pathlib import Path
from typing import Any

import pytest

from mlgym.sandbox import seccomp
from mlgym.sandbox.backends import make_sandbox
from mlgym.sandbox.base import Limits
from mlgym.sandbox.local import bwrap_available

LIMITS = Limits(timeout=60, memory_mb=1024, max_processes=64)
X86 = platform.machine() == "x86_64"

# name -> (syscall number on x86_64, args); each must come back EPERM (ENOSYS for clone3)
PROBE = r'''
import ctypes, errno, json, os, socket
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
ME = os.getpid()
def call(nr, *args):
    ctypes.set_errno(0)
    r = libc.syscall(ctypes.c_long(nr), *(ctypes.c_long(a) for a in args))
    if os.getpid() != ME:
        os._exit(0)  # a clone the filter let through
    return 0 if r >= 0 else ctypes.get_errno()
kid = os.fork()
if kid == 0:
    import time; time.sleep(30); os._exit(0)
buf = ctypes.create_string_buffer(64)
iov = (ctypes.c_void_p * 2)(ctypes.addressof(buf), 64)
out = {
    "keyctl": call(250, 0, -3, 1),              # KEYCTL_GET_KEYRING_ID(session, create)
    "add_key": call(248, ctypes.addressof(ctypes.create_string_buffer(b"user")),
                    ctypes.addressof(ctypes.create_string_buffer(b"mlgym-probe")), 0, 0, -3),
    "request_key": call(249, 0, 0, 0, 0),
    "io_uring_setup": call(425, 1, ctypes.addressof(ctypes.create_string_buffer(120))),
    "userfaultfd": call(323, 0),
    "perf_event_open": call(298, 0, 0, -1, -1, 0),
    "bpf": call(321, 0, 0, 0),
    "unshare_user": call(272, 0x10000000),     # CLONE_NEWUSER
    "unshare_ns": call(272, 0x00020000),
    "clone_newuser": call(56, 0x10000000 | 17, 0, 0, 0, 0),  # would fork (the child leaves below)
    "clone3": call(435, 0, 0),
    "mount": call(165, 0, 0, 0, 0, 0),
    "setns": call(308, -1, 0),
    "process_vm_readv": call(310, os.getpid(), ctypes.addressof(iov), 1, ctypes.addressof(iov), 1, 0),
    "ptrace_attach": call(101, 16, kid, 0, 0),  # PTRACE_ATTACH to our own child
    "personality_norandom": call(135, 0x0040000),
    "set_mempolicy": call(238, 0, 0, 0),
    "kcmp": call(312, os.getpid(), os.getpid(), 0, 0, 0),
    "pidfd_getfd": call(438, -1, 0, 0),
    "personality_query": call(135, 0xFFFFFFFF),
}
os.kill(kid, 9)
os.waitpid(kid, 0)
pid = os.fork()
if pid == 0:
    os._exit(0)
out["fork_works"] = 0 if os.waitpid(pid, 0)[1] == 0 else 1
try:
    socket.socket(38, socket.SOCK_SEQPACKET, 0)  # AF_ALG
    out["af_alg"] = 0
except OSError as e:
    out["af_alg"] = e.errno
status = open("/proc/self/status").read()
out["seccomp_mode"] = [l.split()[1] for l in status.splitlines() if l.startswith("Seccomp:")][0]
print(json.dumps(out))
'''

DENIED = ["keyctl", "add_key", "request_key", "io_uring_setup", "userfaultfd", "perf_event_open", "bpf", "unshare_user",
          "unshare_ns", "clone_newuser", "mount", "setns", "process_vm_readv", "ptrace_attach", "personality_norandom",
          "set_mempolicy", "kcmp", "pidfd_getfd", "af_alg"]


def _probe(box: Any) -> dict[str, Any]:
    r = box.exec(["python3", "-c", PROBE])
    assert r.ok, r.stderr[-2000:]
    out: dict[str, Any] = json.loads(r.stdout.strip().splitlines()[-1])
    return out


def _check(found: dict[str, Any], docker: bool = False) -> None:
    wrong = {k: os.strerror(found[k]) if found[k] else "allowed" for k in DENIED if found[k] != 1}
    assert not wrong, f"not refused with EPERM: {wrong}"
    assert found["clone3"] == 38  # ENOSYS: glibc falls back to clone, whose flags the filter sees
    assert found["fork_works"] == 0
    # docker: libseccomp compares an argument once per rule, so the profile refuses the personality
    # bits that weaken the address space, which the query value 0xffffffff also has
    assert found["personality_query"] == (1 if docker else 0)
    assert found["seccomp_mode"] == "2"


def test_program_and_profile_cover_dockers_refusals() -> None:
    prog = seccomp.build()
    assert len(prog) % 8 == 0 and 0 < len(prog) // 8 < 4096
    names = set(seccomp.denied_names())
    # everything Docker's default profile refuses to a container without capabilities
    docker_default_refuses = {"add_key", "keyctl", "request_key", "io_uring_setup", "io_uring_enter", "io_uring_register",
                              "userfaultfd", "perf_event_open", "bpf", "mount", "umount2", "pivot_root", "unshare", "setns",
                              "kexec_load", "init_module", "finit_module", "delete_module", "acct", "swapon", "swapoff",
                              "reboot", "settimeofday", "clock_settime", "iopl", "ioperm", "quotactl", "open_by_handle_at",
                              "name_to_handle_at", "syslog", "lookup_dcookie", "fanotify_init", "vhangup", "mbind",
                              "set_mempolicy", "move_pages", "kcmp", "pidfd_getfd", "process_madvise", "chroot",
                              "fsopen", "fsmount", "move_mount", "open_tree", "sethostname", "setdomainname"}
    assert docker_default_refuses <= names, docker_default_refuses - names
    # and more than Docker's: other processes' memory
    assert {"process_vm_readv", "process_vm_writev"} <= names
    profile = json.loads(seccomp.docker_profile())
    listed = {n for rule in profile["syscalls"] for n in rule["names"]}
    assert names <= listed and {"clone", "clone3", "ptrace", "personality", "socket"} <= listed


@pytest.mark.skipif(not X86, reason="the probe uses x86_64 syscall numbers")
@pytest.mark.skipif(bwrap_available() is not None, reason="bwrap unusable here")
def test_local_bwrap_filter(tmp_path: Path) -> None:
    with make_sandbox("local", tmp_path / "ws", limits=LIMITS) as box:
        assert box.name == "local-bwrap"
        _check(_probe(box))
        # the common path still works: threads, subprocesses, numpy
        r = box.exec(["python3", "-c", "import subprocess, threading, numpy; t = threading.Thread(target=print); t.start(); "
                      "t.join(); print(subprocess.run(['true']).returncode, numpy.ones(3).sum())"])
        assert r.ok and r.stdout.split()[-2:] == ["0", "3.0"], r.stderr[-1000:]


@pytest.mark.skipif(not X86, reason="the probe uses x86_64 syscall numbers")
def test_keyring_not_shared_between_episodes(tmp_path: Path) -> None:
    """A key one episode plants is not found by the next (nor by the harness)."""
    plant = ("import ctypes; libc = ctypes.CDLL(None, use_errno=True); libc.syscall.restype = ctypes.c_long\n"
             "r = libc.syscall(ctypes.c_long(248), ctypes.c_char_p(b'user'), ctypes.c_char_p(b'mlgym-plant'), "
             "ctypes.c_char_p(b'secret'), ctypes.c_long(6), ctypes.c_long(-3))\n"
             "print(r, ctypes.get_errno())")
    find = ("import ctypes; libc = ctypes.CDLL(None, use_errno=True); libc.syscall.restype = ctypes.c_long\n"
            "r = libc.syscall(ctypes.c_long(250), ctypes.c_long(10), ctypes.c_long(-3), ctypes.c_char_p(b'user'), "
            "ctypes.c_char_p(b'mlgym-plant'), ctypes.c_long(0))\n"  # KEYCTL_SEARCH
            "print(r)")
    for iso in ("bwrap", "plain"):
        with make_sandbox(f"local-{iso}", tmp_path / f"a-{iso}", limits=LIMITS) as a:
            a.exec(["python3", "-c", plant])
            with make_sandbox(f"local-{iso}", tmp_path / f"b-{iso}", limits=LIMITS) as b:
                r = b.exec(["python3", "-c", find])
                assert r.ok and int(r.stdout.split()[0]) < 0, f"{iso}: the next episode found the planted key"


@pytest.mark.skipif(not X86, reason="the probe uses x86_64 syscall numbers")
def test_local_plain_gets_a_fresh_session_keyring(tmp_path: Path) -> None:
    mine = seccomp._keyctl(0, -3, 1)  # the harness's session keyring (made if missing)
    if mine < 0:
        pytest.skip("no kernel keyrings here")
    code = ("import ctypes; libc = ctypes.CDLL(None, use_errno=True); libc.syscall.restype = ctypes.c_long\n"
            "print(libc.syscall(ctypes.c_long(250), ctypes.c_long(0), ctypes.c_long(-3), ctypes.c_long(0)))")
    with make_sandbox("local-plain", tmp_path / "ws", limits=LIMITS) as box:
        r = box.exec(["python3", "-c", code])
    assert r.ok and int(r.stdout.split()[0]) != mine, "local-plain commands share the harness's session keyring"


@pytest.mark.skipif(not X86, reason="the probe uses x86_64 syscall numbers")
@pytest.mark.usefixtures("docker_ready")
def test_docker_profile_has_the_same_refusals(tmp_path: Path) -> None:
    box: Any = make_sandbox("docker", tmp_path / "ws", limits=LIMITS, run_id=f"sec-{uuid.uuid4().hex[:8]}", task="seccomp")
    with box:
        _check(_probe(box), docker=True)
