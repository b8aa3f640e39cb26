"""``mlgym view``: the runs index and a run's page over plain HTTP, statuses (running, interrupted, success,
error), labels, and a real headless Chromium (Playwright driving the system Chromium) that watches a run
being written: a new LLM reply and step appear and the header turns ``success`` without a reload.

The browser test needs ``playwright`` (dev extra) and Chromium (``.ci/setup_chromium.sh``); set
``MLGYM_SKIP_BROWSER=1`` to skip it (a missing Chromium is a failure otherwise, as in test_report).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Iterator

import pytest

from mlgym.analysis import view
from mlgym.runlog.status import default_label, run_label, run_status
from mlgym.runlog.trace import TraceWriter

OLD = "import numpy\nprint('accuracy', 0.9)\n"
NEW = "import numpy\nfrom sklearn.svm import SVC\nprint('accuracy', 0.97)\n"


def _sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _store(d: Path, text: str) -> str:
    h = _sha(text)
    (d / "objects" / h[:2]).mkdir(parents=True, exist_ok=True)
    (d / "objects" / h[:2] / h).write_text(text)
    return h


def _run_records(d: Path, *, agent: str = "research", label: str | None = None) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """A research-agent run: the records up to its second step, and the rest (one LLM call, a step, the result)."""
    old, new = _store(d, OLD), _store(d, NEW)
    reset = {"type": "reset", "task": "digits", "run_id": d.name, "seed": 0, "files": {"train.py": old}, "agent": agent,
             "model": "openai/x", "observation": "You are given the digits task. Tools: List Files, Edit Script (AI)..."}
    if label:
        reset["label"] = label

    def llm(text: str) -> dict[str, Any]:
        return {"type": "llm", "model": "openai/x", "purpose": "research agent", "completion": text,
                "prompt": [{"role": "user", "content": "PROMPT-TEXT what next?"}], "prompt_tokens": 100,
                "completion_tokens": 50, "cost": 0.001, "latency": 0.4}

    first = [
        reset,
        llm("Reflection: start.\nResearch Plan and Status: 1. list files\nAction: List Files"),
        {"type": "step", "step": 1, "action": {"name": "List Files", "arguments": {"dir_path": "."}},
         "observation": "data/\ntrain.py", "reward": 0.0, "duration": 0.1},
        llm("Reflection: edit it.\nAction: Edit Script (AI)"),
        {"type": "step", "step": 2, "action": {"name": "Edit Script (AI)", "arguments": {"script_name": "train.py"}},
         "observation": "edited train.py", "reward": 0.0, "duration": 1.0, "files": {"train.py": new}},
    ]
    result = {"task": "digits", "metric": "accuracy", "direction": "higher", "score": 0.97, "baseline": 0.9,
              "improvement": 0.078, "success": True, "reason": "final_answer", "steps": 3, "status": "success",
              "episode_finished": True, "agent": agent, "model": "openai/x", "run_id": d.name, "label": label}
    rest = [
        llm("Thought: NEW-REPLY-7731\nAction: Execute Script"),
        {"type": "step", "step": 3, "action": {"name": "Execute Script", "arguments": {"script_name": "train.py"}},
         "observation": "NEW-OBSERVATION-4242", "reward": 0.078, "duration": 2.0},
        {"type": "result", **result},
    ]
    return first, rest


def _append(d: Path, *recs: dict[str, Any]) -> None:
    with open(d / "trace.jsonl", "a") as f:
        for r in recs:
            f.write(json.dumps(r) + "\n")


def _finish(d: Path, res: dict[str, Any]) -> None:
    (d / "result.json").write_text(json.dumps({k: v for k, v in res.items() if k not in ("type", "time")}))


@pytest.fixture
def live_run(tmp_path: Path) -> Iterator[tuple[Path, list[dict[str, Any]], TraceWriter]]:
    """A run half written, its trace held open by a writer (as a live runner holds it): status running."""
    d = tmp_path / "runs" / "digits" / "research" / "seed0"
    d.mkdir(parents=True)
    first, rest = _run_records(d)
    writer = TraceWriter(d, fsync=False)
    for r in first:
        writer.append(r)
    yield d, rest, writer
    writer.close()


@pytest.fixture
def server(live_run: tuple[Path, Any, Any]) -> Iterator[view.ViewServer]:
    idx = view.RunIndex([live_run[0].parents[2]], interval=0.2)
    idx.refresh()
    idx.start()
    srv = view.ViewServer(idx, "127.0.0.1", 0)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()
    idx.stop()


def _get(url: str) -> str:
    return urllib.request.urlopen(url, timeout=10).read().decode()


def _rows(srv: view.ViewServer) -> list[dict[str, Any]]:
    return json.loads(_get(srv.url + "api/runs"))["rows"]  # type: ignore[no-any-return]


def _wait_status(srv: view.ViewServer, status: str) -> list[dict[str, Any]]:
    deadline = time.time() + 10
    while time.time() < deadline:
        rows = _rows(srv)
        if rows and rows[0]["status"] == status:
            return rows
        time.sleep(0.1)
    raise AssertionError(f"status never became {status}: {rows}")


def test_plain_http_index_links_and_run_text(server: view.ViewServer) -> None:
    index = _get(server.url)
    assert 'href="/run/0/digits/research/seed0"' in index and "running" in index
    page = _get(server.url + "run/0/digits/research/seed0")
    assert "Research Plan and Status" in page  # the model's reply text
    assert "data/\ntrain.py" in page  # an observation
    assert "Edit Script (AI)" in page and "+++ b/train.py" in page and "SVC" in page  # the diff against the previous snapshot


def test_status_moves_from_running_to_success(server: view.ViewServer, live_run: tuple[Path, list[dict[str, Any]], TraceWriter]) -> None:
    d, rest, writer = live_run
    for r in rest:
        writer.append(r)
    writer.close()
    _finish(d, rest[-1])
    rows = _wait_status(server, "success")
    assert rows[0]["steps"] == 3 and rows[0]["label"] == "research (openai/x)"


def test_a_closed_trace_without_result_is_interrupted(live_run: tuple[Path, Any, TraceWriter]) -> None:
    d, _, writer = live_run
    idx = view.RunIndex([d.parents[2]])
    idx.refresh()
    assert [r["status"] for r in idx.rows.values()] == ["running"]  # the writer holds the trace
    writer.close()  # the runner died (the kernel drops the lock the same way)
    idx.refresh(force=True)
    assert [r["status"] for r in idx.rows.values()] == ["interrupted"]


def test_error_runs_and_labels_in_index_and_compare(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    for name, label, status, reason in (("a", "cfgA", "success", "final_answer"), ("b", "cfgB", "error", "llm_unreachable"),
                                        ("c", None, "cancelled", "interrupted")):
        d = root / "digits" / name / "seed0"
        d.mkdir(parents=True)
        first, rest = _run_records(d, label=label)
        _append(d, *first, *rest[:-1])
        res = {**rest[-1], "status": status, "reason": reason, "label": label}
        if status == "error":
            res.update(error="openai/x: Connection refused (after 6 retries)", score=None, improvement=None, success=False)
        _append(d, res)
        _finish(d, res)
    idx = view.RunIndex([root])
    idx.refresh()
    by = {r["run_id"]: r for r in idx.rows.values()}
    assert by["seed0"]["status"] in ("success", "error", "cancelled")
    statuses = sorted(r["status"] for r in idx.rows.values())
    assert statuses == ["cancelled", "error", "success"]
    labels = sorted(r["label"] for r in idx.rows.values())
    assert labels == ["cfgA", "cfgB", "research (openai/x)"]
    srv = view.ViewServer(idx, "127.0.0.1", 0)
    threading.Thread(target=srv.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    try:
        assert "status:error" in _get(srv.url) or "error" in _get(srv.url)
        errors = json.loads(_get(srv.url + "api/runs?q=status:error"))["rows"]
        assert [r["label"] for r in errors] == ["cfgB"] and errors[0]["reason"] == "llm_unreachable"
        page = _get(srv.url + "run/0/digits/b/seed0")
        assert "Connection refused" in page and "llm_unreachable" in page  # why it failed
        compare = _get(srv.url + "compare")
        assert "cfgA" in compare and "cfgB" in compare
        assert _get(srv.url.replace("127.0.0.1", "127.0.0.1") + "run/0/../../etc/passwd").startswith("no such run") is False
    except urllib.error.HTTPError as e:
        assert e.code == 404
    finally:
        srv.shutdown()
        srv.server_close()


def test_status_and_label_helpers() -> None:
    assert run_status({"status": "error"}) == "error"
    assert run_status({"reason": "llm_unreachable", "episode_finished": True}) == "error"  # written before statuses
    assert run_status({"reason": "final_answer", "episode_finished": True}) == "success"
    assert run_status({"episode_finished": False, "score": 0.5}, live=False) == "interrupted"  # mlgym score --write
    assert run_status({"status": "cancelled", "episode_finished": False}) == "cancelled"
    assert run_status(None, live=True) == "running"
    assert run_status(None, mtime=time.time() - 5000, stale_after=900) == "interrupted"
    assert default_label("research", "openai/x", {"profile": "mlgym"}) == "research (openai/x) / profile=mlgym"
    assert run_label({"agent": "research", "model": "m", "agent_config": {"temperature": 0.5}}) == "research (m) / temperature=0.5"
    assert run_label({"label": "mine", "agent": "research"}) == "mine"


@pytest.mark.slow
def test_cli_serves_and_stops(tmp_path: Path) -> None:
    """`mlgym view RUNS --port P` serves until interrupted; a missing folder or a busy port is one line, exit 2."""
    d = tmp_path / "runs" / "digits" / "x" / "seed0"
    d.mkdir(parents=True)
    first, rest = _run_records(d)
    _append(d, *first, *rest)
    _finish(d, rest[-1])
    bad = subprocess.run([sys.executable, "-m", "mlgym.cli", "view", str(tmp_path / "nope"), "--port", "0"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "no such folder" in bad.stderr
    proc = subprocess.Popen([sys.executable, "-m", "mlgym.cli", "view", str(tmp_path / "runs"), "--port", "0"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("serving http://127.0.0.1:"), line
        url = line.split()[1]
        deadline = time.time() + 20
        while "/run/0/digits/x/seed0" not in (page := _get(url)) and time.time() < deadline:
            time.sleep(0.2)
        assert "success" in page
        busy = subprocess.run([sys.executable, "-m", "mlgym.cli", "view", str(tmp_path / "runs"), "--port", url.rsplit(":", 1)[1].strip("/")],
                              capture_output=True, text=True, timeout=60)
        assert busy.returncode == 2 and "cannot listen" in busy.stderr and "Traceback" not in busy.stderr
    finally:
        proc.send_signal(2)
        _out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and "Traceback" not in err and "stopped" in err


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    pytest.fail("headless Chromium not found: run .ci/setup_chromium.sh (or set MLGYM_SKIP_BROWSER=1)")


@pytest.mark.slow
@pytest.mark.skipif(os.environ.get("MLGYM_SKIP_BROWSER") == "1", reason="MLGYM_SKIP_BROWSER=1")
def test_browser_sees_a_new_step_appear(server: view.ViewServer, live_run: tuple[Path, list[dict[str, Any]], TraceWriter]) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    d, rest, writer = live_run
    errors: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=_chromium(), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server.url)
            link = page.locator("a[href='/run/0/digits/research/seed0']")
            sync_api.expect(link).to_be_visible()
            sync_api.expect(page.locator("tr[data-status=running]")).to_have_count(1)
            link.click()
            sync_api.expect(page.locator("pre.reply").first).to_contain_text("Research Plan and Status")
            steps_before = page.locator(".card.step").count()
            writer.append(rest[0])  # the run goes on while the page is open: an LLM reply, then a step
            writer.append(rest[1])
            sync_api.expect(page.locator("#step-3")).to_contain_text("NEW-OBSERVATION-4242", timeout=10_000)
            sync_api.expect(page.locator("pre.reply").last).to_contain_text("NEW-REPLY-7731")
            assert page.locator(".card.step").count() == steps_before + 1
            writer.append(rest[2])  # the run ends: the header says so without a reload
            writer.close()
            _finish(d, rest[2])
            sync_api.expect(page.locator("#head .badge")).to_have_text("success", timeout=10_000)
        finally:
            browser.close()
    assert errors == []
