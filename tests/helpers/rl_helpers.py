"""Shared by the RL-stack tests and scripts/bench_rl.py: `mlgym serve` in a subprocess, a two-node local Ray cluster."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

RAY = str(Path(sys.executable).with_name("ray"))
NODE = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--memory=3000000000", "--object-store-memory=80000000",
        "--disable-usage-stats", "--block"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def mlgym_serve(*args: str, timeout: float = 120) -> Iterator[str]:
    """``mlgym serve ARGS --port <free>`` until the block ends; yields its base URL once /health answers."""
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-m", "mlgym.cli", "serve", *args, "--port", str(port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url + "/health", timeout=2) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode() if proc.stdout and proc.poll() is not None else ""
                raise RuntimeError(f"mlgym serve did not come up (rc {proc.poll()}): {out[-2000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _nodes(address: str) -> list[dict]:
    code = ("import json, ray; ray.init(address=%r, log_to_driver=False); "
            "print(json.dumps([{'id': n['NodeID'], 'res': n['Resources']} for n in ray.nodes() if n['Alive']]))" % address)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 and out.stdout.strip() else []


@contextlib.contextmanager
def ray_cluster(nodes: int = 2) -> Iterator[tuple[str, list[dict]]]:
    """A local Ray cluster of ``nodes`` nodes of one CPU each (`ray start --head`, then `ray start --address`,
    each in its own session), as tests/integration/test_ray_two_nodes.py starts it; yields (address, alive nodes).
    Needs RAY_AUTH_MODE=disabled in the environment (set here for the nodes and this process)."""
    os.environ["RAY_AUTH_MODE"] = "disabled"
    port = free_port()
    address = f"127.0.0.1:{port}"
    temp = Path("/tmp") / f"mlgym-ray-{port}"  # Ray's socket paths must stay short
    procs = [subprocess.Popen([RAY, "start", "--head", f"--port={port}", f"--temp-dir={temp}", "--include-dashboard=false",
                               '--resources={"node_0": 1}', *NODE], start_new_session=True,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]
    try:
        for k in range(1, nodes):
            procs.append(subprocess.Popen([RAY, "start", f"--address={address}", f'--resources={{"node_{k}": 1}}', *NODE],
                                          start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        deadline = time.monotonic() + 90
        while len(alive := _nodes(address)) < nodes and time.monotonic() < deadline:
            time.sleep(1)
        assert len(alive) == nodes, alive
        yield address, alive
    finally:
        for p in reversed(procs):  # each node's processes are in the session its `ray start --block` began
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait(timeout=20)
        shutil.rmtree(temp, ignore_errors=True)
