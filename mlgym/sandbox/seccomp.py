"""The syscall filter of the local-bwrap sandbox (bubblewrap ``--seccomp FD``) and the docker
backend's profile, from one deny list; pure Python (no libseccomp).

bwrap reads a compiled classic-BPF program (an array of ``struct sock_filter``, 8 bytes
each: u16 code, u8 jt, u8 jf, u32 k, native endian) from FD and installs it with
PR_SET_NO_NEW_PRIVS right before it execs the sandbox's first process, so every process
of the sandbox (process server included) runs under it.  No libseccomp needed.

Policy: a *deny list* that covers every syscall Docker's default profile
(moby/profiles seccomp/default.json @ cd3bed8061c7) refuses to a container without extra
capabilities, plus a cap on syscall numbers so syscalls newer than this table get ENOSYS
(what runc does for syscalls a profile does not know):

* wrong architecture (i386/x32 compat on x86_64, arm32 on aarch64)  -> KILL_PROCESS
* x32 syscall numbers (nr >= 0x40000000) on x86_64                   -> KILL_PROCESS
* the names in ``DENY``                                               -> EPERM
* ``clone`` with any namespace flag (CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET)
                                                                       -> EPERM
* ``clone3`` (flags live in memory: BPF cannot read them)             -> ENOSYS (glibc falls back to clone)
* ``ptrace`` PTRACE_ATTACH / PTRACE_SEIZE (tracing a non-child; PTRACE_TRACEME children still work)
                                                                       -> EPERM
* ``personality`` other than 0, 8, 0x20000, 0x20008, 0xffffffff (query) -> EPERM
* ``socket`` AF_ALG (38) / AF_VSOCK (40)                              -> EPERM
* nr > MAX_KNOWN                                                      -> ENOSYS
* everything else                                                     -> ALLOW

Since Linux 5.11 the kernel caches "always allowed" syscall numbers per filter
(the filter is emulated once per nr), so the common path costs nothing per syscall.
"""

from __future__ import annotations

import ctypes
import json
import os
import platform
import struct
from functools import lru_cache

# --- BPF encoding -------------------------------------------------------------------
BPF_LD, BPF_JMP, BPF_RET, BPF_ALU = 0x00, 0x05, 0x06, 0x04
BPF_W, BPF_ABS, BPF_K = 0x00, 0x20, 0x00
BPF_JEQ, BPF_JGT, BPF_JGE, BPF_JSET, BPF_AND = 0x10, 0x20, 0x30, 0x40, 0x50

RET_KILL_PROCESS = 0x80000000
RET_ERRNO = 0x00050000
RET_ALLOW = 0x7FFF0000
EPERM, ENOSYS = 1, 38

# offsets in struct seccomp_data {int nr; u32 arch; u64 ip; u64 args[6];}
OFF_NR, OFF_ARCH = 0, 4


def _arg_lo(i: int) -> int:  # little-endian: low word first (x86_64 and aarch64 are LE)
    return 16 + 8 * i


def _arg_hi(i: int) -> int:
    return 16 + 8 * i + 4


AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}

# Denied with EPERM.  Numbers from linux-libc-dev 6.1 headers (x86_64: asm/unistd_64.h,
# aarch64: asm-generic/unistd.h); names absent on an arch do not exist there.
DENY_NAMES = (
    # keyrings (cross-episode channel, harness keys)
    "add_key", "keyctl", "request_key",
    # io_uring (bypasses seccomp for the ops it performs; many CVEs), userfaultfd, perf, bpf
    "io_uring_setup", "io_uring_enter", "io_uring_register", "userfaultfd", "perf_event_open", "bpf",
    # mounts and namespaces
    "mount", "umount2", "pivot_root", "move_mount", "open_tree", "fsopen", "fsconfig", "fsmount", "fspick",
    "mount_setattr", "unshare", "setns", "chroot",
    # other processes' memory / fds
    "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp", "process_madvise",
    # kernel, modules, machine
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module", "create_module",
    "get_kernel_syms", "query_module", "acct", "swapon", "swapoff", "reboot", "settimeofday",
    "clock_settime", "iopl", "ioperm", "lookup_dcookie", "quotactl", "quotactl_fd", "nfsservctl",
    "name_to_handle_at", "open_by_handle_at", "syslog", "uselib", "ustat", "sysfs", "_sysctl",
    "fanotify_init", "vhangup", "sethostname", "setdomainname",
    # NUMA policy (Docker: CAP_SYS_NICE only)
    "mbind", "move_pages", "set_mempolicy", "get_mempolicy", "migrate_pages", "set_mempolicy_home_node",
    # obsolete / never implemented
    "afs_syscall", "getpmsg", "putpmsg", "security", "tuxcall", "vserver",
)

NR = {
    "x86_64": {
        "_sysctl": 156, "acct": 163, "add_key": 248, "afs_syscall": 183, "bpf": 321, "chroot": 161,
        "clock_settime": 227, "create_module": 174, "delete_module": 176, "fanotify_init": 300,
        "finit_module": 313, "fsconfig": 431, "fsmount": 432, "fsopen": 430, "fspick": 433,
        "get_kernel_syms": 177, "get_mempolicy": 239, "getpmsg": 181, "init_module": 175,
        "io_uring_enter": 426, "io_uring_register": 427, "io_uring_setup": 425, "ioperm": 173, "iopl": 172,
        "kcmp": 312, "kexec_file_load": 320, "kexec_load": 246, "keyctl": 250, "lookup_dcookie": 212,
        "mbind": 237, "migrate_pages": 256, "mount": 165, "mount_setattr": 442, "move_mount": 429,
        "move_pages": 279, "nfsservctl": 180, "name_to_handle_at": 303, "open_by_handle_at": 304,
        "open_tree": 428, "perf_event_open": 298, "pidfd_getfd": 438, "pivot_root": 155,
        "process_madvise": 440, "process_vm_readv": 310, "process_vm_writev": 311, "putpmsg": 182,
        "query_module": 178, "quotactl": 179, "quotactl_fd": 443, "reboot": 169, "request_key": 249,
        "security": 185, "set_mempolicy": 238, "set_mempolicy_home_node": 450, "setdomainname": 171,
        "sethostname": 170, "setns": 308, "settimeofday": 164, "swapoff": 168, "swapon": 167,
        "sysfs": 139, "syslog": 103, "tuxcall": 184, "umount2": 166, "unshare": 272, "uselib": 134,
        "userfaultfd": 323, "ustat": 136, "vhangup": 153, "vserver": 236,
        # special-cased below
        "clone": 56, "clone3": 435, "ptrace": 101, "personality": 135, "socket": 41,
        # newer than the 6.1 headers (same numbers on both arches since 5.1's unified table)
        "open_tree_attr": 467, "lsm_get_self_attr": 459, "lsm_set_self_attr": 460, "lsm_list_modules": 461,
    },
    "aarch64": {
        "acct": 89, "add_key": 217, "bpf": 280, "chroot": 51, "clock_settime": 112, "delete_module": 106,
        "fanotify_init": 262, "finit_module": 273, "fsconfig": 431, "fsmount": 432, "fsopen": 430,
        "fspick": 433, "get_mempolicy": 236, "init_module": 105, "io_uring_enter": 426,
        "io_uring_register": 427, "io_uring_setup": 425, "kcmp": 272, "kexec_file_load": 294,
        "kexec_load": 104, "keyctl": 219, "lookup_dcookie": 18, "mbind": 235, "migrate_pages": 238,
        "mount": 40, "mount_setattr": 442, "move_mount": 429, "move_pages": 239, "nfsservctl": 42,
        "name_to_handle_at": 264, "open_by_handle_at": 265, "open_tree": 428, "perf_event_open": 241,
        "pidfd_getfd": 438, "pivot_root": 41, "process_madvise": 440, "process_vm_readv": 270,
        "process_vm_writev": 271, "quotactl": 60, "quotactl_fd": 443, "reboot": 142, "request_key": 218,
        "set_mempolicy": 237, "set_mempolicy_home_node": 450, "setdomainname": 162, "sethostname": 161,
        "setns": 268, "settimeofday": 170, "swapoff": 225, "swapon": 224, "syslog": 116, "umount2": 39,
        "unshare": 97, "userfaultfd": 282, "vhangup": 58,
        "clone": 220, "clone3": 435, "ptrace": 117, "personality": 92, "socket": 198,
        "open_tree_attr": 467, "lsm_get_self_attr": 459, "lsm_set_self_attr": 460, "lsm_list_modules": 461,
    },
}
EXTRA_DENY = ("open_tree_attr", "lsm_get_self_attr", "lsm_set_self_attr", "lsm_list_modules")
# Highest syscall number allowed through (6.17: file_setattr = 469); above -> ENOSYS.
MAX_KNOWN = 469

CLONE_NS_FLAGS = 0x7E020000  # NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET (Docker's mask)
PTRACE_ATTACH, PTRACE_SEIZE = 16, 0x4206
PERSONALITY_OK = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)
AF_ALG, AF_VSOCK = 38, 40


class _Prog:
    """Tiny assembler with symbolic labels (jumps are forward-only in classic BPF)."""

    def __init__(self) -> None:
        self.ins: list[tuple[int, object, object, int]] = []  # code, jt, jf, k (jt/jf: int or label)
        self.labels: dict[str, int] = {}

    def stmt(self, code: int, k: int) -> None:
        self.ins.append((code, 0, 0, k & 0xFFFFFFFF))

    def jump(self, op: int, k: int, jt: object = 0, jf: object = 0) -> None:
        self.ins.append((BPF_JMP | op | BPF_K, jt, jf, k & 0xFFFFFFFF))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.ins)

    def ld(self, off: int) -> None:
        self.stmt(BPF_LD | BPF_W | BPF_ABS, off)

    def ret(self, value: int) -> None:
        self.stmt(BPF_RET | BPF_K, value)

    def assemble(self) -> bytes:
        out = bytearray()
        for i, (code, jt, jf, k) in enumerate(self.ins):
            def rel(t: object) -> int:
                if isinstance(t, int):
                    return t
                d = self.labels[str(t)] - i - 1
                if not 0 <= d <= 255:
                    raise ValueError(f"jump to {t} out of range ({d})")
                return d
            out += struct.pack("=HBBI", code, rel(jt), rel(jf), k)
        if len(self.ins) > 4096:
            raise ValueError("BPF program too long")
        return bytes(out)


def build(arch: str | None = None, *, deny_errno: int = EPERM, nosys_errno: int = ENOSYS) -> bytes:
    """The filter program for ``arch`` ("x86_64" or "aarch64"; default: this machine).
    ``deny_errno``/``nosys_errno``: tests pass distinctive values to tell the filter's refusals
    from the kernel's own."""
    arch = arch or platform.machine()
    if arch not in NR:
        raise ValueError(f"no seccomp table for {arch}")
    nr = NR[arch]
    deny = sorted({nr[n] for n in (*DENY_NAMES, *EXTRA_DENY) if n in nr})
    p = _Prog()
    p.ld(OFF_ARCH)
    p.jump(BPF_JEQ, AUDIT_ARCH[arch], 0, "kill")
    p.ld(OFF_NR)
    if arch == "x86_64":
        p.jump(BPF_JGE, 0x40000000, "kill", 0)  # x32 ABI
    # special cases first, each a small block
    p.jump(BPF_JEQ, nr["clone"], "clone", 0)
    p.jump(BPF_JEQ, nr["clone3"], "enosys", 0)
    p.jump(BPF_JEQ, nr["ptrace"], "ptrace", 0)
    p.jump(BPF_JEQ, nr["personality"], "personality", 0)
    p.jump(BPF_JEQ, nr["socket"], "socket", 0)
    p.jump(BPF_JGT, MAX_KNOWN, "enosys", 0)
    # the deny list: a linear run of JEQs (jt -> eperm); labels must stay within 255
    for n in deny:
        p.jump(BPF_JEQ, n, "eperm", 0)
    p.ret(RET_ALLOW)

    p.label("clone")  # flags: args[0] on x86_64 and aarch64 (s390 differs: not supported)
    p.ld(_arg_lo(0))
    p.jump(BPF_JSET, CLONE_NS_FLAGS, "eperm", "allow")

    p.label("ptrace")
    p.ld(_arg_hi(0))
    p.jump(BPF_JEQ, 0, 0, "allow")  # requests are small ints
    p.ld(_arg_lo(0))
    p.jump(BPF_JEQ, PTRACE_ATTACH, "eperm", 0)
    p.jump(BPF_JEQ, PTRACE_SEIZE, "eperm", "allow")

    p.label("personality")
    p.ld(_arg_hi(0))
    p.jump(BPF_JEQ, 0, 0, "eperm")
    p.ld(_arg_lo(0))
    for v in PERSONALITY_OK:
        p.jump(BPF_JEQ, v, "allow", 0)
    p.ret(RET_ERRNO | deny_errno)

    p.label("socket")  # domain is an int: the low word decides
    p.ld(_arg_lo(0))
    p.jump(BPF_JEQ, AF_ALG, "eperm", 0)
    p.jump(BPF_JEQ, AF_VSOCK, "eperm", "allow")

    p.label("allow")
    p.ret(RET_ALLOW)
    p.label("eperm")
    p.ret(RET_ERRNO | deny_errno)
    p.label("enosys")
    p.ret(RET_ERRNO | nosys_errno)
    p.label("kill")
    p.ret(RET_KILL_PROCESS)
    return p.assemble()


def denied_names(arch: str | None = None) -> list[str]:
    """For docs and `mlgym sandbox check`: what the filter refuses outright."""
    arch = arch or platform.machine()
    return sorted(n for n in (*DENY_NAMES, *EXTRA_DENY) if n in NR[arch])


def memfd(arch: str | None = None) -> int:
    """An fd holding the program, positioned at 0, inheritable: pass it as ``--seccomp FD``
    (``pass_fds=(fd,)``).  A memfd: nothing on disk, one per sandbox start."""
    fd = os.memfd_create("mlgym-seccomp", 0)
    os.write(fd, build(arch))
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def enabled() -> bool:
    """False only when the user turned the filter off (``MLGYM_NO_SECCOMP=1``: debugging)."""
    return not os.environ.get("MLGYM_NO_SECCOMP")


@lru_cache(maxsize=4)
def program(arch: str | None = None) -> bytes:
    return build(arch)


def docker_profile(arch: str | None = None) -> str:
    """The docker backend's seccomp profile (JSON, for ``security_opt=["seccomp=<json>"]``):
    the same refusals as :func:`build` (deny list, namespace flags of ``clone``, ``clone3``,
    ptrace attach, personality, AF_ALG/AF_VSOCK sockets).  Docker's own default profile allows
    ``process_vm_readv/writev``, ``ptrace`` attach and (with CAP_SYS_NICE) the NUMA calls; this
    one does not, so both backends refuse the same calls."""
    arch = arch or platform.machine()
    eperm = {"action": "SCMP_ACT_ERRNO", "errnoRet": EPERM}
    rules: list[dict[str, object]] = [{"names": denied_names(arch), **eperm}]
    # "flags & mask != 0" is one rule per flag (libseccomp compares each argument once per rule)
    for bit in (b for b in range(32) if CLONE_NS_FLAGS >> b & 1):
        rules.append({"names": ["clone"], **eperm,
                      "args": [{"index": 0, "value": 1 << bit, "valueTwo": 1 << bit, "op": "SCMP_CMP_MASKED_EQ"}]})
    rules.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": ENOSYS})
    for req in (PTRACE_ATTACH, PTRACE_SEIZE):
        rules.append({"names": ["ptrace"], **eperm, "args": [{"index": 0, "value": req, "op": "SCMP_CMP_EQ"}]})
    # personality: the bits that weaken the address space (ADDR_NO_RANDOMIZE, MMAP_PAGE_ZERO,
    # ADDR_COMPAT_LAYOUT, READ_IMPLIES_EXEC, ADDR_LIMIT_*); the BPF filter allows only Docker's 5 values
    for bit in (0x0040000, 0x0100000, 0x0200000, 0x0400000, 0x0800000, 0x8000000):
        rules.append({"names": ["personality"], **eperm,
                      "args": [{"index": 0, "value": bit, "valueTwo": bit, "op": "SCMP_CMP_MASKED_EQ"}]})
    for dom in (AF_ALG, AF_VSOCK):
        rules.append({"names": ["socket"], **eperm, "args": [{"index": 0, "value": dom, "op": "SCMP_CMP_EQ"}]})
    arches = {"x86_64": ["SCMP_ARCH_X86_64"], "aarch64": ["SCMP_ARCH_AARCH64"]}.get(arch, [])
    return json.dumps({"defaultAction": "SCMP_ACT_ALLOW", "architectures": arches, "syscalls": rules})


# --- a fresh session keyring --------------------------------------------------------
_KEYCTL = {"x86_64": 250, "aarch64": 219}
KEYCTL_GET_KEYRING_ID, KEYCTL_JOIN_SESSION_KEYRING, KEY_SPEC_SESSION_KEYRING = 0, 1, -3


def _keyctl(*args: int) -> int:
    nr = _KEYCTL.get(platform.machine())
    if nr is None:
        return -1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return int(libc.syscall(ctypes.c_long(nr), *(ctypes.c_long(a) for a in args)))


def session_keyring_id() -> int:
    """The caller's session keyring id (negative: none / refused)."""
    return _keyctl(KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0)


def join_fresh_session_keyring() -> None:
    """Give the calling process (and what it starts) a new anonymous session keyring, so
    keys of the harness's session (PAM logins, systemd services) are out of reach.  Call in
    the child before exec; a kernel without keyrings makes it a no-op."""
    _keyctl(KEYCTL_JOIN_SESSION_KEYRING, 0)
