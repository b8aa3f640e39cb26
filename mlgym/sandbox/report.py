"""Which limits a started sandbox really enforces (``mlgym sandbox check`` prints it).

Each row is ``(limit, enforced, how)``: checked from outside where the host holds the limit
(cgroup files, the container's configuration) and from inside where only the agent's view
tells (syscall filter, keyring, the cores a process may use)."""

from __future__ import annotations

import json
import math
import platform
from typing import Any

from mlgym.sandbox import cpu, seccomp

_KEYCTL = {"x86_64": 250, "aarch64": 219}.get(platform.machine(), -1)
PROBE = (
    "import ctypes, json, os\n"
    "libc = ctypes.CDLL(None, use_errno=True); libc.syscall.restype = ctypes.c_long\n"
    f"r = libc.syscall(ctypes.c_long({_KEYCTL}), ctypes.c_long(0), ctypes.c_long(-3), ctypes.c_long(0))\n"
    "err = ctypes.get_errno() if r < 0 else 0\n"
    "mode = [l.split()[1] for l in open('/proc/self/status') if l.startswith('Seccomp:')]\n"
    "print(json.dumps({'keyring': int(r), 'keyctl_errno': err, 'seccomp': mode[0] if mode else '?',\n"
    "                  'cpu_count': os.cpu_count(), 'affinity': len(os.sched_getaffinity(0))}))\n"
)


def _inside(box: Any) -> dict[str, Any]:
    r = box.exec(["python3", "-c", PROBE], timeout=30)
    try:
        out: dict[str, Any] = json.loads(r.stdout.strip().splitlines()[-1])
        return out
    except (IndexError, ValueError):
        return {}


def limits_report(box: Any) -> list[tuple[str, bool, str]]:
    """Rows for every limit of ``box`` (a started sandbox of any backend)."""
    lim = box.limits
    seen = _inside(box)
    rows: list[tuple[str, bool, str]] = []
    filtered = seen.get("seccomp") == "2" and seen.get("keyctl_errno") == 1
    rows.append(("syscall filter", filtered, "seccomp mode 2, keyctl refused" if filtered else f"seccomp mode {seen.get('seccomp')}"))
    harness = seccomp.session_keyring_id()
    own = seen.get("keyctl_errno") == 1 or seen.get("keyring", harness) != harness or harness < 0
    rows.append(("session keyring", own, "not the harness's" if own else "shares the harness's session keyring"))
    want_cores = len(cpu.choose_cores(lim.cpus, lim.cores, cpu.host_cpus(), slot=0)) if cpu.limited(lim.cpus, lim.cores) else None
    if box.name == "docker":
        host = box.container.attrs.get("HostConfig", {}) if getattr(box, "container", None) is not None else {}
        quota = (host.get("NanoCpus") or 0) / 1e9 or None
        rows.append(("memory", bool(host.get("Memory")), f"{(host.get('Memory') or 0) >> 20} MiB (container)"))
        rows.append(("processes", bool(host.get("PidsLimit")), f"{host.get('PidsLimit')} (container)"))
    else:
        group = getattr(box, "_cgroup", None)
        quota = cpu.read_quota(group.dirs, group.v2) if group is not None else None
        rows.append(("memory", group is not None, "cgroup" if group is not None else "RLIMIT_AS only (per process)"))
        rows.append(("processes", group is not None, "cgroup pids" if group is not None else "RLIMIT_NPROC (per user)"))
    if lim.cpus:
        ok = quota is not None and math.isclose(quota, lim.cpus, rel_tol=0.02)
        rows.append(("cpu quota", ok, f"{quota} CPUs" if ok else f"asked {lim.cpus}, not enforced"))
    else:
        rows.append(("cpu quota", True, "none asked"))
    if want_cores is not None:
        ok = seen.get("affinity") == want_cores
        rows.append(("cores", ok, f"{seen.get('affinity')} core(s) usable, os.cpu_count() {seen.get('cpu_count')}"))
    else:
        rows.append(("cores", True, "none asked"))
    return rows
