"""``mlgym sandbox build | gc | check``: the Docker image, leftover containers, a self-check."""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

from mlgym.core.parsing import Parser
from mlgym.core.errors import MLGymError, SandboxError

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_BASE = "mlgym-base:bookworm"
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args))
    except (MLGymError, FileNotFoundError) as e:
        print(f"mlgym sandbox: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("mlgym sandbox: interrupted", file=sys.stderr)
        return 130


def _parser() -> argparse.ArgumentParser:
    p = Parser(prog="mlgym sandbox", description="Manage sandbox backends.")
    sub = p.add_subparsers(metavar="COMMAND")
    b = sub.add_parser("build", help="build the Docker task image from the top-level Dockerfile")
    b.add_argument("--tag", default=os.environ.get("MLGYM_DOCKER_IMAGE", "mlgym-task:latest"))
    b.add_argument("--base-image", default=DEFAULT_BASE, help=f"FROM image (default {DEFAULT_BASE})")
    b.add_argument("--ca-bundle", default=None,
                   help="CA bundle pip must trust in the build (default: the host's; 'none' to skip)")
    b.add_argument("--with-torch", action="store_true", help="also install torch (CPU wheel when one is local)")
    b.add_argument("--wheels-dir", default=None,
                   help="local wheels for --with-torch (default: $PIP_FIND_LINKS when it is a directory)")
    b.add_argument("--build-arg", action="append", default=[], metavar="K=V", help="extra Dockerfile ARG")
    b.add_argument("--no-cache", action="store_true", help="rebuild every layer")
    b.add_argument("--dockerfile", default=str(REPO_ROOT / "Dockerfile"))
    b.set_defaults(func=cmd_build)
    g = sub.add_parser("gc", help="remove containers, workspace quota mounts and cgroups left behind by killed runs")
    g.add_argument("--all", action="store_true", help="also containers of runs whose process is still alive")
    g.set_defaults(func=cmd_gc)
    c = sub.add_parser("check", help="run a quick self-check of a sandbox backend")
    c.add_argument("--backend", default="local", choices=["local", "local-bwrap", "local-plain", "docker"])
    c.add_argument("--image", default=None, help="docker image (default $MLGYM_DOCKER_IMAGE or mlgym-task:latest)")
    c.set_defaults(func=cmd_check)
    return p


# build -----------------------------------------------------------------------------
def _ca_bundle(arg: str | None) -> Path | None:
    if arg == "none":
        return None
    if arg is not None:
        path = Path(arg)
        if not path.is_file():
            raise FileNotFoundError(f"CA bundle {arg} does not exist")
        return path
    for cand in (os.environ.get("PIP_CERT"), os.environ.get("REQUESTS_CA_BUNDLE"), os.environ.get("SSL_CERT_FILE"), HOST_CA):
        if cand and Path(cand).is_file():
            return Path(cand)
    return None


def _wheels_dir(arg: str | None) -> Path | None:
    cand = arg or os.environ.get("PIP_FIND_LINKS", "").split(" ")[0]
    if arg and not Path(arg).is_dir():
        raise FileNotFoundError(f"wheels directory {arg} does not exist")
    return Path(cand) if cand and Path(cand).is_dir() else None


def build_context(dockerfile: Path, ca: Path | None, wheels: Path | None) -> Path:
    """A temporary build context: the Dockerfile plus docker/ca.crt and docker/wheels/."""
    if not dockerfile.is_file():
        raise FileNotFoundError(f"Dockerfile {dockerfile} not found (run from an mlgym checkout or pass --dockerfile)")
    ctx = Path(tempfile.mkdtemp(prefix="mlgym-build-"))
    (ctx / "docker").mkdir()
    shutil.copy(dockerfile, ctx / "Dockerfile")
    if ca is not None:
        shutil.copy(ca, ctx / "docker" / "ca.crt")
    if wheels is not None:
        (ctx / "docker" / "wheels").mkdir()
        for whl in wheels.glob("torch-*.whl"):
            try:
                os.link(whl, ctx / "docker" / "wheels" / whl.name)
            except OSError:
                shutil.copy(whl, ctx / "docker" / "wheels" / whl.name)
    return ctx


def cmd_build(args: argparse.Namespace) -> int:
    from mlgym.sandbox.docker import connect, stream_build

    client = connect()
    try:
        client.images.get(args.base_image)
    except Exception:  # docker.errors.ImageNotFound; no registry to pull from
        if args.base_image == DEFAULT_BASE:
            raise SandboxError(f"base image {args.base_image} not found; run scripts/build_base_image.sh first") from None
        raise SandboxError(f"base image {args.base_image} not found locally; build or pull it first") from None
    buildargs = {"BASE_IMAGE": args.base_image}
    ca = _ca_bundle(args.ca_bundle)
    if ca is not None:
        buildargs["CA_BUNDLE"] = "docker/ca.crt"
    wheels = _wheels_dir(args.wheels_dir) if args.with_torch else None
    if args.with_torch:
        buildargs["WITH_TORCH"] = "1"
    for kv in args.build_arg:
        if "=" not in kv:
            raise SandboxError(f"--build-arg {kv!r} is not K=V")
        k, v = kv.split("=", 1)
        buildargs[k] = v
    ctx = build_context(Path(args.dockerfile), ca, wheels)
    start = time.monotonic()
    print(f"building {args.tag} from {args.base_image} (torch: {'yes' if args.with_torch else 'no'})", flush=True)
    try:
        for line in stream_build(client, ctx, args.tag, buildargs, args.no_cache):
            print(line, flush=True)
    finally:
        shutil.rmtree(ctx, ignore_errors=True)
    print(f"built {args.tag} in {time.monotonic() - start:.1f}s", flush=True)
    return 0


# gc ------------------------------------------------------------------------------------
def cmd_gc(args: argparse.Namespace) -> int:
    from mlgym.sandbox import _cgroup, quota
    from mlgym.sandbox.docker import gc

    local = quota.remove_stale() + _cgroup.remove_stale()
    print(f"removed {local} leftover workspace quota mount(s) and cgroup(s) of dead runs")
    n = gc(everything=args.all)
    print(f"removed {n} mlgym container{'s' if n != 1 else ''}")
    return 0


# check ---------------------------------------------------------------------------------
def cmd_check(args: argparse.Namespace) -> int:
    from mlgym.sandbox.backends import make_sandbox
    from mlgym.sandbox.base import Limits, Mount, capabilities

    options = {"image": args.image} if args.image and capabilities(args.backend).images else {}
    failures = 0
    with tempfile.TemporaryDirectory(prefix="mlgym-check-") as tmp:
        root = Path(tmp)
        (root / "data").mkdir()
        (root / "data" / "d.txt").write_text("data\n")
        (root / "secret.txt").write_text("s3cret\n")
        os.chmod(root, 0o755)
        limits = Limits(timeout=20, memory_mb=512, max_processes=128, output_bytes=4096, cpus=1.0)
        sb = make_sandbox(args.backend, root / "ws", limits=limits, mounts=[Mount(root / "data", "data")], **options)
        isolated = capabilities(sb.name).isolated
        print(f"backend {sb.name}")
        with sb:
            for name, case, needs_isolation in _cases(root):
                if needs_isolation and not isolated:
                    print(f"  skip  {name} (local-plain does not isolate)")
                    continue
                t = time.monotonic()
                try:
                    problem = case(sb)
                except Exception as e:  # a self-check reports, it does not crash
                    problem = f"{type(e).__name__}: {e}"
                status = "ok  " if problem is None else "FAIL"
                failures += problem is not None
                print(f"  {status}  {name} ({time.monotonic() - t:.2f}s){'' if problem is None else ': ' + problem}")
            from mlgym.sandbox.report import limits_report

            print("limits:")
            for limit, enforced, how in limits_report(sb):  # reported; only a missing filter on bwrap/docker fails
                print(f"  {'enforced    ' if enforced else 'NOT enforced'}  {limit}: {how}")
    print("all checks passed" if not failures else f"{failures} check(s) failed")
    return 0 if not failures else 1


Case = Callable[[object], "str | None"]


def _cases(root: Path) -> list[tuple[str, Case, bool]]:
    def expect(cond: bool, what: str) -> str | None:
        return None if cond else what

    def echo(sb):  # type: ignore[no-untyped-def]
        r = sb.exec(["echo", "hello"])
        return expect(r.ok and r.stdout == "hello\n", f"got rc={r.returncode} out={r.stdout!r}")

    def no_shell(sb):  # type: ignore[no-untyped-def]
        r = sb.exec(["python3", "-c", "import sys; print(sys.argv[1])", "a; echo hi"])
        return expect(r.stdout == "a; echo hi\n", f"argv was interpreted: {r.stdout!r}")

    def exit_code(sb):  # type: ignore[no-untyped-def]
        r = sb.exec(["python3", "-c", "raise SystemExit(7)"])
        return expect(r.returncode == 7 and not r.timed_out, f"rc={r.returncode}")

    def timeout(sb):  # type: ignore[no-untyped-def]
        r = sb.exec(["sleep", "30"], timeout=1)
        return expect(r.timed_out and r.killed_reason == "timeout" and r.duration < 10, f"{r}")

    def output(sb):  # type: ignore[no-untyped-def]
        r = sb.exec(["python3", "-c", "print('x' * 1_000_000)"])
        return expect(r.truncated_bytes > 0 and len(r.stdout) < 6000, f"truncated={r.truncated_bytes}")

    def files(sb):  # type: ignore[no-untyped-def]
        sb.write_file("in.txt", b"abc")
        r = sb.exec(["python3", "-c", "open('out.txt','w').write(open('in.txt').read().upper())"])
        return expect(r.ok and sb.read_file("out.txt") == b"ABC", f"rc={r.returncode} {r.stderr[-200:]}")

    def data_ro(sb):  # type: ignore[no-untyped-def]
        r = sb.exec(["python3", "-c", "print(open('data/d.txt').read(), end=''); open('data/d.txt','w')"])
        return expect(r.stdout == "data\n" and r.returncode != 0, f"rc={r.returncode} out={r.stdout!r}")

    def hidden(sb):  # type: ignore[no-untyped-def]
        r = sb.exec(["cat", str(root / "secret.txt")])
        return expect("s3cret" not in r.stdout and r.returncode != 0, "a file outside the workspace was readable")

    def network(sb):  # type: ignore[no-untyped-def]
        srv = socket.socket()
        srv.bind(("127.0.0.1", 0))
        srv.listen(1)
        port = srv.getsockname()[1]
        threading.Thread(target=lambda: _accept_once(srv), daemon=True).start()
        code = f"import socket; socket.create_connection(('127.0.0.1', {port}), timeout=3); print('connected')"
        r = sb.exec(["python3", "-c", code], timeout=10)
        srv.close()
        return expect("connected" not in r.stdout, "reached a host TCP server")

    def leftovers(sb):  # type: ignore[no-untyped-def]
        marker = f"{400 + os.getpid() % 500}.{time.time_ns() % 1000:03d}"
        r = sb.exec(["sh", "-c", f"sleep {marker} & echo started"], timeout=10)
        time.sleep(0.3)
        left = _pids_with(f"sleep\x00{marker}".encode())
        return expect(r.ok and not left, f"rc={r.returncode}, {len(left)} background process(es) outlived the command")

    def unprivileged(sb):  # type: ignore[no-untyped-def]
        uid = sb.exec(["id", "-u"]).stdout.strip()
        mode = os.stat(sb.workspace).st_mode & 0o777
        if os.geteuid() == 0 and uid in ("0", ""):
            return f"commands run as uid {uid or '?'} (host root)"
        return expect(mode & 0o077 == 0, f"the workspace is mode {mode:o}: other host users can reach it")

    return [
        ("exec echo", echo, False),
        ("argv is not a shell line", no_shell, False),
        ("exit code", exit_code, False),
        ("timeout", timeout, False),
        ("no process outlives its command", leftovers, False),
        ("unprivileged uid, private workspace", unprivileged, True),
        ("output clipped", output, False),
        ("read_file / write_file", files, False),
        ("data mount read-only", data_ro, True),
        ("hidden host files", hidden, True),
        ("no network", network, True),
    ]


def _pids_with(marker: bytes) -> list[int]:
    """Pids this host shows whose command line contains ``marker``."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            if entry.isdigit() and marker in Path(f"/proc/{entry}/cmdline").read_bytes():
                found.append(int(entry))
        except OSError:
            pass
    return found


def _accept_once(srv: socket.socket) -> None:
    try:
        conn, _ = srv.accept()
        conn.close()
    except OSError:
        pass


if __name__ == "__main__":  # python -m mlgym.cli.sandbox
    sys.exit(main(sys.argv[1:]))
