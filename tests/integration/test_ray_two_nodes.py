"""`mlgym bench --ray` on a real two-node Ray cluster started here (`ray start --head`, then a second
`ray start --address` with its own resources, one CPU each): AMLB runs ask Ray for their constraint's
cores and memory, land on both nodes, and when the second node is killed mid-grid no finished run is
lost and its run in flight is resumed on the head node."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from amlb_openml_cache import SHARED, write_cache
from mlgym.runs.bench import load_grid

ray = pytest.importorskip("ray")
pytestmark = [pytest.mark.skipif(not (SHARED / "kc2_train.arff").is_file(), reason=f"AMLB test resources missing in {SHARED}"),
              pytest.mark.timeout(480)]
RAY = str(Path(sys.executable).with_name("ray"))
NODE = ["--node-ip-address=127.0.0.1", "--num-cpus=1", "--memory=3000000000", "--object-store-memory=80000000", "--disable-usage-stats", "--block"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _nodes(address: str) -> list[dict]:
    code = ("import json, ray; ray.init(address=%r, log_to_driver=False); "
            "print(json.dumps([{'id': n['NodeID'], 'res': n['Resources']} for n in ray.nodes() if n['Alive']]))" % address)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    return json.loads(out.stdout.strip().splitlines()[-1]) if out.returncode == 0 and out.stdout.strip() else []


def test_grid_on_two_ray_nodes_loses_no_run_when_one_dies(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")  # `ray start` turns token auth on; the driver would need its token
    monkeypatch.setenv("OPENML_CACHE_DIR", str(write_cache(tmp_path / "openml")))
    user = tmp_path / "amlb-user"
    user.mkdir()
    (user / "constraints.yaml").write_text("ci:\n  folds: 2\n  max_runtime_seconds: 10\n  cores: 1\n  max_mem_size_mb: 1024\n")
    (user / "benchmarks").mkdir(parents=True, exist_ok=True)
    # AMLB's test tasks without test.yaml's __defaults__ (60 s / 2 cores outrank a constraint, as in AMLB)
    (user / "benchmarks" / "citest.yaml").write_text("- name: kc2\n  openml_task_id: 3913\n- name: iris\n  openml_task_id: 59\n"
                                                      "- name: cholesterol\n  openml_task_id: 2295\n")
    monkeypatch.setenv("MLGYM_AMLB_USER_DIR", str(user))
    grid, out = tmp_path / "ray.yaml", tmp_path / "runs"
    grid.write_text("amlb: {benchmark: citest, constraint: ci, folds: [0, 1]}\n"  # the grid: test x 2 folds x 3 agents
                    "agents: [baseline, {name: automl, args: [--framework, sklearn]}, {name: automl, args: [--framework, flaml]}]\n"
                    f"args: [--python, {sys.executable}]\n")
    runs = load_grid(grid, out).runs
    assert len(runs) == 3 * 2 * 3
    port = _free_port()
    address = f"127.0.0.1:{port}"
    env = {**os.environ, "RAY_health_check_period_ms": "500", "RAY_health_check_failure_threshold": "3",
           "RAY_health_check_initial_delay_ms": "0"}
    temp = Path("/tmp") / f"mlgym-ray-{port}"  # Ray's socket paths must stay short
    head = subprocess.Popen([RAY, "start", "--head", f"--port={port}", f"--temp-dir={temp}", "--include-dashboard=false",
                             '--resources={"node_a": 1}', *NODE], env=env, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    worker = None
    try:
        deadline = time.monotonic() + 60
        worker = subprocess.Popen([RAY, "start", f"--address={address}", '--resources={"node_b": 1}', *NODE], env=env,  # waits for the head
                                  start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        while len(nodes := _nodes(address)) < 2 and time.monotonic() < deadline:
            time.sleep(1)
        assert len(nodes) == 2, nodes
        node_b = next(n["id"] for n in nodes if "node_b" in n["res"])
        assert all(n["res"]["CPU"] == 1 for n in nodes)

        bench = subprocess.Popen([sys.executable, "-m", "mlgym.cli", "bench", str(grid), "--out", str(out), "--ray", address],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        in_flight = None

        def on(run, node: str) -> bool:
            p = run.log_dir / "ray_nodes.txt"
            return p.is_file() and p.read_text().split()[-1:] == [node]

        while time.monotonic() < deadline + 180 and bench.poll() is None:
            finished_b = [r for r in runs if on(r, node_b) and (r.log_dir / "result.json").is_file()]
            running_b = [r for r in runs if on(r, node_b) and (r.log_dir / "trace.jsonl").is_file() and not (r.log_dir / "result.json").is_file()]
            if finished_b and running_b:
                in_flight = running_b[0]
                os.killpg(worker.pid, signal.SIGKILL)  # node B and everything it started, mid-run
                break
            time.sleep(0.2)
        assert in_flight is not None, "node B never ran a second run"
        done_before = {r.log_dir: json.loads((r.log_dir / "result.json").read_text())["run_id"]
                       for r in runs if (r.log_dir / "result.json").is_file()}
        text = bench.communicate(timeout=360)[0].decode()
        assert bench.returncode == 0, text[-3000:]
    finally:
        for p in (worker, head):  # each node's processes are in the session its `ray start --block` began
            if p is not None:
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                p.wait(timeout=20)
        shutil.rmtree(temp, ignore_errors=True)
    placed = {r.log_dir: (r.log_dir / "ray_nodes.txt").read_text().split() for r in runs}
    assert {n for nodes_of_run in placed.values() for n in nodes_of_run} == {n["id"] for n in nodes}  # both nodes ran runs
    for log_dir, run_id in done_before.items():  # nothing finished was lost or run again
        assert json.loads((log_dir / "result.json").read_text())["run_id"] == run_id
    assert placed[in_flight.log_dir][0] == node_b and len(placed[in_flight.log_dir]) >= 2  # retried elsewhere
    records = [json.loads(line)["type"] for line in (in_flight.log_dir / "trace.jsonl").read_text().splitlines()]
    assert records[0] == "reset" and "resume" in records and records[-1] == "result", records  # continued, not restarted
    resumed = json.loads((in_flight.log_dir / "result.json").read_text())
    assert resumed["valid_submission"], resumed
    assert all(json.loads((r.log_dir / "result.json").read_text())["valid_submission"] for r in runs)
    assert len((out / "results.csv").read_text().splitlines()) == 1 + len(runs)
