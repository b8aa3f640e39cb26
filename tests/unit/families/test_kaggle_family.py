"""The Kaggle family on a fresh clone: a third competition added by one YAML file, on generated
data in Kaggle's real layout (the zip `kaggle competitions download` leaves), found in an
MLGYM_BENCHMARKS folder beside a folder task; plus name clashes, strict YAML errors and the
Kaggle download's one-line failures."""

from __future__ import annotations

import http.server
import json
import shutil
import socket
import subprocess
import sys
import threading
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mlgym
from mlgym import cli
from mlgym.runs import runner
from mlgym.tasks.data import prepare
from mlgym.core.errors import DataError, TaskError
from mlgym.tasks.spec import TaskSpec

REPO = Path(__file__).resolve().parents[3]
SLUG = "playground-toy-regression"
ENTRY = f"""kind: kaggle
name: toy-sales
competition: {SLUG}
metric: rmse
id: row_id
target: sales
split: {{fraction: 0.25, seed: 7, stratify: store}}
extra_files: [data_description.txt]
leaderboard: toy-leaderboard.csv
limits: {{max_steps: 5, exec_timeout: 120}}
"""


def _competition_zip(dest: Path) -> Path:
    """train.csv / test.csv / sample_submission.csv / data_description.txt, zipped as Kaggle serves them."""
    rng = np.random.default_rng(0)
    n = 400
    store = rng.choice(["north", "south", "east"], n)
    x = rng.normal(size=n)
    train = pd.DataFrame({"row_id": np.arange(n), "store": store, "x": x, "promo": rng.integers(0, 2, n)})
    train["sales"] = 50 + 10 * x + 5 * train["promo"] + (store == "north") * 8 + rng.normal(scale=1.0, size=n)
    test = train.drop(columns=["sales"]).head(100).assign(row_id=np.arange(n, n + 100))
    dest.mkdir(parents=True)
    z = dest / f"{SLUG}.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("train.csv", train.to_csv(index=False))
        zf.writestr("test.csv", test.to_csv(index=False))
        zf.writestr("sample_submission.csv", test[["row_id"]].assign(sales=50).to_csv(index=False))
        zf.writestr("data_description.txt", "row_id: id; store: which store; x: a signal; promo: 0/1; sales: the target\n")
    return z


@pytest.fixture
def bench(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An MLGYM_BENCHMARKS folder: the YAML entry beside a folder task, the zip in MLGYM_KAGGLE_DIR."""
    root = tmp_path / "bench"
    root.mkdir()
    (root / "toy-sales.yaml").write_text(ENTRY)
    pd.DataFrame({"TeamName": [f"t{i}" for i in range(20)], "Score": np.linspace(0.9, 9.0, 20)}).to_csv(root / "toy-leaderboard.csv", index=False)
    shutil.copytree(REPO / "benchmarks" / "digits", root / "my-digits")
    y = root / "my-digits" / "task.yaml"
    y.write_text(y.read_text().replace("name: digits", "name: my-digits"))
    _competition_zip(tmp_path / "kaggle" / SLUG)
    monkeypatch.setenv("MLGYM_BENCHMARKS", str(root))
    monkeypatch.setenv("MLGYM_KAGGLE_DIR", str(tmp_path / "kaggle"))
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "no-kaggle-config"))
    return root


@pytest.mark.slow
def test_yaml_only_competition_runs_an_episode(bench: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = TaskSpec.load("toy-sales")
    assert spec.kind == "kaggle" and spec.direction == "lower" and spec.baseline.score is None
    assert TaskSpec.load("my-digits").kind == "folder"
    data = prepare(spec)
    pub = sorted(p.name for p in data.public.iterdir())
    assert pub == ["data_description.txt", "sample_submission.csv", "test.csv", "train.csv"]
    assert "sales" not in (data.public / "test.csv").read_text().splitlines()[0]
    answers = pd.read_csv(data.private / "answers.csv")
    assert list(answers.columns) == ["row_id", "sales"] and len(answers) == 100  # 25% of 400, stratified by store
    # The family's starter, the grader, the leaderboard: a full baseline episode, then `mlgym baseline`.
    log_dir = tmp_path / "log"
    assert runner.main(["--task", "toy-sales", "--agent", "baseline", "--log-dir", str(log_dir), "--work-dir", str(tmp_path / "ws"), "-q"]) == 0
    result = json.loads((log_dir / "result.json").read_text())
    assert result["valid_submission"], result["error"]
    assert 0 < result["score"] < 5 and result["metrics"]["rmse"] == result["score"] and "mae" in result["metrics"]
    assert result["baseline"] is None and result["improvement"] is None
    first = json.loads((data.dir / "baseline.json").read_text())  # measured on first use by the baseline agent
    assert first["score"] == pytest.approx(result["score"]) and "first use" in first["measured"]
    board = result["leaderboard"]
    assert board["teams"] == 20 and 1 <= board["rank"] <= 21
    assert cli.main(["baseline", "toy-sales"]) == 0
    recorded = json.loads((data.dir / "baseline.json").read_text())
    assert recorded["score"] == pytest.approx(result["score"])
    capsys.readouterr()
    assert cli.main(["tasks", "--family", "kaggle"]) == 0
    out = capsys.readouterr().out
    assert "toy-sales" in out and "rmse" in out and "lower" in out and "my-digits" not in out and "digits " not in out
    assert cli.main(["tasks", "--family", "folder"]) == 0
    out = capsys.readouterr().out
    assert "my-digits" in out and "toy-sales" not in out
    assert "mlgym/toy-sales-v0" in mlgym.register_tasks()


@pytest.mark.slow
def test_first_use_by_another_agent_measures_the_baseline_first(bench: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = prepare(TaskSpec.load("toy-sales"))
    assert not (data.dir / "baseline.json").exists()
    log_dir = tmp_path / "log"
    agent = "mlgym.agents.baseline:BaselineAgent"  # any agent but "baseline" measures before it runs
    assert runner.main(["--task", "toy-sales", "--agent", agent, "--log-dir", str(log_dir), "--work-dir", str(tmp_path / "ws"), "-q"]) == 0
    assert "measuring the baseline of toy-sales" in capsys.readouterr().err
    recorded = json.loads((data.dir / "baseline.json").read_text())
    result = json.loads((log_dir / "result.json").read_text())
    assert result["baseline"] == pytest.approx(recorded["score"]) and result["improvement"] == pytest.approx(0.0, abs=1e-9)


def test_same_name_in_two_places_names_both(bench: Path) -> None:
    (bench / "my-digits.yaml").write_text(ENTRY.replace("name: toy-sales", "name: my-digits"))
    with pytest.raises(TaskError) as err:
        TaskSpec.load("my-digits")
    msg = str(err.value)
    assert "\n" not in msg and str(bench / "my-digits.yaml") in msg and str(bench / "my-digits" / "task.yaml") in msg


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("metric: rmse", "metric: rmse\nfolds: 5", "folds: unknown field"),
        ("metric: rmse", "metric: rmsee", "metric: unknown metric 'rmsee'"),
        ("seed: 7", "seed: seven", "split.seed: expected int"),
        ("seed: 7", "seed: 7, sed: 1", "split.sed: unknown field"),
        ("max_steps: 5", "max_steps: [5]", "limits.max_steps: expected int"),
        ("id: row_id", "id: [row_id]", "id: expected str"),
        ("kind: kaggle", "kind: nosuch", "kind: unknown family 'nosuch'"),
        ("metric: rmse", "metric: rmse\ndirection: higher", "direction: 'higher' contradicts metric rmse"),
    ],
)
def test_yaml_mistakes_are_one_line_naming_file_and_key(bench: Path, old: str, new: str, message: str) -> None:
    y = bench / "toy-sales.yaml"
    y.write_text(ENTRY.replace(old, new, 1))
    with pytest.raises(TaskError) as err:
        TaskSpec.load(str(y))
    assert "\n" not in str(err.value) and str(y) in str(err.value) and message in str(err.value)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _no_files(bench: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("MLGYM_KAGGLE_DIR", str(tmp_path / "empty"))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PWD", raising=False)
    with pytest.raises(DataError) as err:
        prepare(TaskSpec.load("toy-sales"))
    msg = str(err.value)
    assert "\n" not in msg and str(tmp_path / "data" / "toy-sales" / "raw") in msg and "train.csv" in msg
    return msg


def test_download_without_credentials_says_where_they_go(bench: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kaggle  # noqa: F401  (a regular dependency: a missing one must fail, not skip)
    for var in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    assert "no Kaggle credentials" in _no_files(bench, tmp_path, monkeypatch)


def test_download_without_network_says_so(bench: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kaggle  # noqa: F401  (a regular dependency: a missing one must fail, not skip)
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "0" * 32)
    proxy = f"http://127.0.0.1:{_closed_port()}"
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "ALL_PROXY"):
        monkeypatch.setenv(var, proxy)
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setenv("no_proxy", "")
    assert "cannot reach kaggle.com" in _no_files(bench, tmp_path, monkeypatch)


@pytest.mark.slow
def test_download_with_rules_not_accepted_says_where_to_accept(bench: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Kaggle answers 403 until the competition's rules are accepted: a local server answers so."""
    import kaggle  # noqa: F401  (a regular dependency: a missing one must fail, not skip)

    class Refuse(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = b'{"code": 403, "message": "You must accept this competition\'s rules first."}'
            self.send_response(403)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_POST = do_GET

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refuse)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        proxy = f"http://127.0.0.1:{server.server_address[1]}"
        monkeypatch.setenv("KAGGLE_API_ENVIRONMENT", "LOCALHOST")  # plain http://localhost, through our proxy
        for var in ("HTTP_PROXY", "http_proxy"):
            monkeypatch.setenv(var, proxy)
        monkeypatch.setenv("NO_PROXY", "")
        monkeypatch.setenv("no_proxy", "")
        monkeypatch.setenv("KAGGLE_USERNAME", "someone")
        monkeypatch.setenv("KAGGLE_KEY", "0" * 32)
        monkeypatch.setenv("MLGYM_KAGGLE_DIR", str(tmp_path / "empty"))
        monkeypatch.delenv("PWD", raising=False)
        # A fresh interpreter: the Kaggle client picks its endpoint once per process.
        code = "import sys; from mlgym.tasks.data import prepare; from mlgym.tasks.spec import TaskSpec\n" \
               "try:\n    prepare(TaskSpec.load('toy-sales'))\nexcept Exception as e:\n    print(e)\n"
        msg = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False).stdout.strip()
    finally:
        server.shutdown()
        server.server_close()
    assert "\n" not in msg and "HTTP 403" in msg and f"https://www.kaggle.com/c/{SLUG}/rules" in msg, msg
