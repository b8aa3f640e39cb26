"""A tiny process server that lives inside a long-lived bubblewrap sandbox.

Starting bwrap (namespaces, mounts) and moving a process into a cgroup cost ~15-20 ms
per command.  Instead the local-bwrap backend starts one sandbox per episode with this
server in it (source passed to ``python -I -S -c``: the mlgym package itself is not
visible inside), and every command is a plain fork+exec of the server.

Protocol on a SOCK_SEQPACKET socket (fd 3): the host sends a JSON request (fd number in argv[1])
``{"argv", "env", "cwd"}`` with three file descriptors (stdin, stdout, stderr) attached;
the server answers ``{"pid": n}`` then ``{"exit": code}`` (negative: killed by that
signal).  ``{"kill": true}`` while a command runs kills it.  After every command the
server kills every other process in the sandbox (``kill(-1)``), so nothing a command
started outlives it.  EOF on the socket ends the server and so the sandbox.

argv[2:4] are the uid and gid commands run as (-1: the server's own).  As root the
server is uid 0 with only CAP_SETUID, CAP_SETGID and CAP_KILL (bwrap ``--cap-add``, no
user namespace); each forked child drops to that uid (setgroups, setresgid,
setresuid: the capabilities vanish) before exec, so agent code can neither signal,
trace nor read the fds of the server.  The server is non-dumpable in every mode
(``/proc/<pid>/fd`` and ptrace are closed to same-uid processes without capabilities),
and children close every inherited fd above 2.  The host does not rely on any of it:
it kills what is left in the cgroup itself and takes the sandbox down on any message
it does not expect.
"""

SERVER = r'''
import ctypes, json, os, select, signal, socket, sys, time
sock = socket.socket(fileno=int(sys.argv[1]))
UID, GID = int(sys.argv[2]), int(sys.argv[3])
me = os.getpid()
libc = ctypes.CDLL(None, use_errno=True)
if libc.prctl(4, 0, 0, 0, 0) != 0:  # PR_SET_DUMPABLE 0
    sys.exit("cannot make the process server non-dumpable")

def close_above_stderr():
    try:
        if libc.syscall(436, 3, 0xFFFFFFFF, 0) == 0:  # close_range(3, ~0U, 0)
            return
    except Exception:
        pass
    os.closerange(3, max(os.sysconf("SC_OPEN_MAX"), 65536))

def reap():
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return

def kill_others():
    # kill(-1) spares us and the namespace's init; repeat while a fork loop still spawns.
    for _ in range(50):
        try:
            os.kill(-1, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        reap()
        left = [p for p in os.listdir("/proc") if p.isdigit() and int(p) not in (1, me)]
        if not left:
            return
        time.sleep(0.002)

def send(obj):
    sock.send(json.dumps(obj).encode())

while True:
    try:
        msg, fds, _, _ = socket.recv_fds(sock, 1 << 20, 3)
    except OSError:
        break
    if not msg:
        break
    req = json.loads(msg)
    if "argv" not in req or len(fds) != 3:
        for fd in fds:
            os.close(fd)
        continue
    try:
        pid = os.fork()
    except OSError as e:
        os.write(fds[2], ("cannot start the command: %s\n" % e.strerror).encode())
        for fd in fds:
            os.close(fd)
        send({"pid": -1})
        send({"exit": 126})
        continue
    if pid == 0:
        try:
            os.setsid()
            for i, fd in enumerate(fds):
                os.dup2(fd, i)
            close_above_stderr()
            if UID >= 0:
                os.setgroups([])
                os.setresgid(GID, GID, GID)
                os.setresuid(UID, UID, UID)
                if os.getresuid() != (UID, UID, UID):
                    os._exit(126)
            os.chdir(req["cwd"])
            os.execvpe(req["argv"][0], req["argv"], req["env"])
        except OSError as e:
            os.write(2, ("cannot run %r: %s\n" % (req["argv"][0], e.strerror)).encode())
        os._exit(127)
    for fd in fds:
        os.close(fd)
    send({"pid": pid})
    pidfd = os.pidfd_open(pid)
    status = None
    while status is None:
        ready, _, _ = select.select([sock, pidfd], [], [])
        if sock in ready:
            try:
                ctl = sock.recv(1 << 16)
            except OSError:
                ctl = b""
            if not ctl:
                kill_others()
                sys.exit(0)
            if json.loads(ctl).get("kill"):
                kill_others()
        if pidfd in ready:
            _, st = os.waitpid(pid, 0)
            status = -os.WTERMSIG(st) if os.WIFSIGNALED(st) else os.WEXITSTATUS(st)
    os.close(pidfd)
    kill_others()
    reap()
    send({"exit": status})
'''
