"""``mlgym report``: a static page that opens from disk, shows every run and escapes everything.

The page is opened in headless Chromium; set ``MLGYM_SKIP_BROWSER=1`` to skip that part
(a missing Chromium is a failure otherwise: ``.ci/setup_chromium.sh`` installs it).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from evalruns import make_runs

from mlgym import cli

from mlgym.analysis import report

pytestmark = pytest.mark.slow  # episodes and module fixtures that take seconds (the fast set leaves them out)

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--enable-logging=stderr", "--v=0",
]


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_runs(tmp_path_factory.mktemp("evalruns"))


@pytest.fixture(scope="module")
def page(runs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("report") / "report.html"
    assert cli.main(["report", str(runs["root"]), "--out", str(out)]) == 0
    return out


def _run_ids(runs: dict[str, Path]) -> list[str]:
    import json

    ids = []
    for name in ("base0", "base1", "improved", "killed"):
        first = (runs[name] / "trace.jsonl").read_text().splitlines()[0]
        ids.append(json.loads(first)["run_id"])
    return ids


def test_page_is_self_contained_and_escaped(page: Path, runs: dict[str, Path]) -> None:
    html = page.read_text()
    for rid in _run_ids(runs):
        assert html.count(rid) >= 2  # in the runs table and in its trace section
    # no resource from anywhere: no URL in any src/href, and a CSP that allows none
    assert not re.search(r'(src|href)\s*=\s*"(?!data:|#)', html)
    assert "default-src 'none'" in html and "script-src 'sha256-" in html
    # the agent's output held HTML: it is shown as text, never as markup
    assert "<script>window.__xss" not in html and "<img src=x" not in html
    assert "&lt;script&gt;window.__xss = 1&lt;/script&gt;" in html
    assert "An SVM &lt;b&gt;beats&lt;/b&gt; the tree." in html
    assert html.count("<script>") == 1  # ours
    # steps, diffs between snapshots, scores, the killed run's state
    assert "Step 3: Execute Script" in html and "submission scored" in html
    assert '<span class="add">+model = SVC(gamma=0.001, C=10)' in html
    assert "cut short" in html and "killed mid-write" in html
    assert html.count('data:image/png;base64,') == 5


def test_escaping_of_attributes_and_clipping() -> None:
    assert report.esc('"><script>') == "&quot;&gt;&lt;script&gt;"
    assert report._clip("x" * 50, 10).startswith("x" * 10) and "40 more characters" in report._clip("x" * 50, 10)


def _chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("headless Chromium not found: run .ci/setup_chromium.sh (or set MLGYM_SKIP_BROWSER=1)")


def _open(page: Path, profile: Path) -> tuple[str, list[str]]:
    """The DOM after the page's scripts ran, and the browser console's lines."""
    proc = subprocess.run(
        [_chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.resolve().as_uri()],
        check=False, capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, [ln for ln in proc.stderr.splitlines() if "CONSOLE" in ln]


@pytest.mark.skipif(os.environ.get("MLGYM_SKIP_BROWSER") == "1", reason="MLGYM_SKIP_BROWSER=1")
def test_console_check_sees_errors(tmp_path: Path) -> None:
    """The check below is only as good as this: a page with errors must show them."""
    bad = tmp_path / "bad.html"
    bad.write_text('<meta http-equiv="Content-Security-Policy" content="script-src \'none\'">'
                   "<p>x</p><script>undefinedFunction()</script>")
    _dom, console = _open(bad, tmp_path / "profile")
    assert any("Content Security Policy" in ln or "Uncaught" in ln for ln in console), console


@pytest.mark.skipif(os.environ.get("MLGYM_SKIP_BROWSER") == "1", reason="MLGYM_SKIP_BROWSER=1")
def test_page_opens_in_chromium_without_console_errors(page: Path, runs: dict[str, Path], tmp_path: Path) -> None:
    dom, console = _open(page, tmp_path / "profile")
    assert console == [], console  # uncaught errors, CSP violations and failed loads all land here
    assert 'data-ready="1"' in dom  # our script ran to its end
    assert "4 of 4 runs shown" in dom
    for rid in _run_ids(runs):
        assert rid in dom
    # the agent's HTML is text in the DOM, not elements
    assert '<img src="x"' not in dom and "<script>window.__xss" not in dom
    assert "&lt;img src=x onerror=" in dom
