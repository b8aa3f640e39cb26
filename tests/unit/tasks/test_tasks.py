"""The bundled tasks beyond digits: cifar10 (on a tiny synthetic CIFAR-10 in the official
format), house-prices and spaceship-titanic (on the real Kaggle files in ../shared when present).

Each task: the spec loads; a full baseline episode runs in the local sandbox and scores;
prepare without network or files fails with one line; prepare is idempotent and resumable;
eval.py rejects malformed submissions with a clear reason.
"""

from __future__ import annotations

import csv
import http.server
import json
import pickle
import shutil
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mlgym.runs import runner
from mlgym.tasks.data import TaskData, prepare
from mlgym.core.errors import DataError
from mlgym.tasks.spec import TaskSpec

REPO = Path(__file__).resolve().parents[3]
KAGGLE = REPO.parent / "shared" / "data" / "kaggle"
COMPETITION = {"house-prices": "house-prices-advanced-regression-techniques", "spaceship-titanic": "spaceship-titanic"}
KAGGLE_TASKS = list(COMPETITION)
ALL_TASKS = ["cifar10", *KAGGLE_TASKS]

sys.path.insert(0, str(REPO / "scripts"))
import make_tiny_cifar10


def needs_kaggle(name: str) -> None:
    if not (KAGGLE / COMPETITION[name] / "train.csv").is_file():
        pytest.skip(f"no local copy of the Kaggle files in {KAGGLE / COMPETITION[name]}")


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    d = tmp_path / "data"
    monkeypatch.setenv("MLGYM_DATA_DIR", str(d))
    monkeypatch.setenv("MLGYM_ALLOW_UNOFFICIAL_DATA", "1")
    monkeypatch.setenv("MLGYM_CIFAR10_URL", f"http://127.0.0.1:{_closed_port()}/cifar-10-python.tar.gz")
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / "no-kaggle-config"))  # never the user's credentials
    monkeypatch.delenv("KAGGLE_USERNAME", raising=False)
    monkeypatch.delenv("KAGGLE_KEY", raising=False)
    monkeypatch.delenv("KAGGLE_API_TOKEN", raising=False)
    return d


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _provide(name: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make the task's raw files available the way a user would."""
    if name == "cifar10":
        make_tiny_cifar10.make_tarball(data_dir / "cifar10" / "raw", per_batch=200, n_test=200)
    else:
        needs_kaggle(name)
        monkeypatch.setenv("MLGYM_KAGGLE_DIR", str(KAGGLE))


def _isolated_copy(name: str, tmp_path: Path) -> TaskSpec:
    """A copy of the task outside the repository, so no ../shared folder is found next to it."""
    spec = TaskSpec.load(name)
    dst = tmp_path / "elsewhere" / "repo" / "benchmarks" / name
    if spec.kind == "kaggle":  # a single YAML entry
        dst = dst.with_suffix(".yaml")
        dst.parent.mkdir(parents=True)
        assert spec.source is not None
        shutil.copyfile(spec.source, dst)
    else:
        shutil.copytree(spec.root, dst)
    return TaskSpec.load(str(dst))


# --- spec ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ALL_TASKS)
def test_spec_loads(name: str) -> None:
    spec = TaskSpec.load(name)
    assert spec.name == name
    assert spec.submission == ("submission.csv",)
    if name in KAGGLE_TASKS:  # YAML entries: data, starter and grader come from the Kaggle family
        assert spec.kind == "kaggle" and spec.source is not None and spec.source.suffix == ".yaml"
    else:
        assert (spec.env_dir / "train.py").is_file() and spec.prepare_script.is_file()
    assert spec.baseline.measured and "placeholder" not in spec.baseline.measured
    assert {"cifar10": "higher", "house-prices": "lower", "spaceship-titanic": "higher"}[name] == spec.direction


# --- full baseline episodes -------------------------------------------------------------------

def _episode(name: str, tmp_path: Path) -> dict:
    log_dir = tmp_path / "log"
    rc = runner.main(["--task", name, "--agent", "baseline", "--log-dir", str(log_dir), "--work-dir", str(tmp_path / "ws"), "-q"])
    assert rc == 0
    return json.loads((log_dir / "result.json").read_text())


@pytest.mark.slow
def test_cifar10_baseline_episode(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("torch", reason="the cifar10 starter needs torch (pip install mlgym[torch])")
    _provide("cifar10", data_dir, monkeypatch)
    start = time.monotonic()
    result = _episode("cifar10", tmp_path)
    assert result["valid_submission"], result["error"]
    assert 0.0 <= result["score"] <= 1.0
    assert time.monotonic() - start < 60
    # The public copy is the official format, less the test labels and the telling file names.
    pub = data_dir / "cifar10" / "public" / "cifar-10-batches-py"
    assert sorted(p.name for p in pub.iterdir()) == ["batches.meta", *[f"data_batch_{i}" for i in range(1, 6)], "test_batch"]
    for enc, key in (("bytes", b"data"), ("latin1", "data")):
        with open(pub / "test_batch", "rb") as f:
            test = pickle.load(f, encoding=enc)
        assert test[key].shape == (200, 3072) and str(test[key].dtype) == "uint8"
        assert {(k.decode() if isinstance(k, bytes) else k) for k in test} == {"batch_label", "data", "filenames"}
    with open(pub / "data_batch_1", "rb") as f:
        assert len(pickle.load(f, encoding="bytes")[b"labels"]) == 200
    with open(data_dir / "cifar10" / "private" / "test_labels.csv") as f:
        assert sum(1 for _ in csv.DictReader(f)) == 200


@pytest.mark.slow
@pytest.mark.parametrize("name", KAGGLE_TASKS)
def test_kaggle_baseline_episode(name: str, tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _provide(name, data_dir, monkeypatch)
    result = _episode(name, tmp_path)
    assert result["valid_submission"], result["error"]
    # The recorded baseline is what the unchanged starter scores on the real files.
    assert result["score"] == pytest.approx(TaskSpec.load(name).baseline.score, abs=1e-3)
    pub = data_dir / name / "public"
    assert "SalePrice" not in (pub / "test.csv").read_text().splitlines()[0]
    assert "Transported" not in (pub / "test.csv").read_text().splitlines()[0]


# --- prepare: missing files, idempotence, resumption ---------------------------------------

@pytest.mark.slow
@pytest.mark.parametrize("name", ALL_TASKS)
def test_prepare_without_network_or_files(name: str, tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    spec = _isolated_copy(name, tmp_path)
    monkeypatch.setenv("MLGYM_KAGGLE_DIR", str(tmp_path / "empty"))
    monkeypatch.delenv("PWD", raising=False)
    with pytest.raises(DataError) as exc:
        prepare(spec)
    msg = str(exc.value)
    raw = data_dir / name / "raw"
    assert "\n" not in msg and str(raw) in msg
    assert ("cifar-10-python.tar.gz" if name == "cifar10" else "train.csv") in msg
    assert not TaskData(spec).is_ready()
    assert not (data_dir / name / "public").exists()


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL_TASKS)
def test_prepare_is_idempotent(name: str, tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _provide(name, data_dir, monkeypatch)
    spec = TaskSpec.load(name)
    data = prepare(spec)
    stamp = data.manifest.stat().st_mtime_ns
    lines: list[str] = []
    again = prepare(spec, progress=lines.append)
    assert again.manifest.stat().st_mtime_ns == stamp and lines == []  # the script did not run again
    assert again.is_ready(verify=True)


@pytest.mark.parametrize("name", KAGGLE_TASKS)
def test_kaggle_files_found_next_to_the_repository(name: str, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    needs_kaggle(name)
    monkeypatch.delenv("MLGYM_KAGGLE_DIR", raising=False)
    monkeypatch.delenv("PWD", raising=False)
    lines: list[str] = []
    data = prepare(TaskSpec.load(name), progress=lines.append)
    assert any(f"shared/data/kaggle/{COMPETITION[name]}" in line for line in lines), lines
    assert (data.raw / "train.csv").is_file() and data.is_ready()


@pytest.mark.parametrize("name", KAGGLE_TASKS)
def test_kaggle_prepare_resumes_from_raw(name: str, tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Files fetched once stay in RAW: after a prepare killed before it finished, a rerun needs no source."""
    needs_kaggle(name)
    spec = _isolated_copy(name, tmp_path)
    monkeypatch.delenv("PWD", raising=False)
    monkeypatch.setenv("MLGYM_KAGGLE_DIR", str(KAGGLE))
    first = prepare(spec)
    answers = (first.private / "answers.csv").read_bytes()
    # What a kill leaves: RAW and half-written outputs, no manifest.
    first.manifest.unlink()
    shutil.rmtree(first.public)
    (first.dir / "public.tmp").mkdir()
    monkeypatch.setenv("MLGYM_KAGGLE_DIR", str(tmp_path / "empty"))
    again = prepare(spec)
    assert again.is_ready(verify=True)
    assert (again.private / "answers.csv").read_bytes() == answers  # same seeded split


class _TarballServer:
    """Serves one file; the first request stalls after half of it; later ones honour Range."""

    def __init__(self, payload: bytes) -> None:
        self.payload, self.ranges, self.release = payload, [], threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                rng = self.headers.get("Range")
                outer.ranges.append(rng)
                start = int(rng.split("=")[1].split("-")[0]) if rng else 0
                body = outer.payload[start:]
                self.send_response(206 if rng else 200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if len(outer.ranges) == 1:  # the first download is killed half way
                    self.wfile.write(body[: len(body) // 2])
                    self.wfile.flush()
                    outer.release.wait(30)
                    return
                self.wfile.write(body)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/cifar-10-python.tar.gz"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.slow
def test_cifar10_download_resumes_after_kill(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tarball = make_tiny_cifar10.make_tarball(tmp_path / "src", per_batch=100, n_test=100)
    payload = tarball.read_bytes()
    server = _TarballServer(payload)
    try:
        monkeypatch.setenv("MLGYM_CIFAR10_URL", server.url)
        spec = TaskSpec.load("cifar10")
        raw = data_dir / "cifar10" / "raw"
        raw.mkdir(parents=True)
        part = raw / "cifar-10-python.tar.gz.part"
        for d in ("pub", "priv"):
            (tmp_path / d).mkdir()
        proc = subprocess.Popen(
            [sys.executable, str(spec.prepare_script), "--raw", str(raw), "--public", str(tmp_path / "pub"), "--private", str(tmp_path / "priv")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 30
        while not (part.exists() and part.stat().st_size >= len(payload) // 2):
            assert proc.poll() is None and time.monotonic() < deadline, "the download did not start"
            time.sleep(0.05)
        proc.kill()
        proc.wait()
        server.release.set()
        have = part.stat().st_size
        assert 0 < have < len(payload) and not (raw / "cifar-10-python.tar.gz").exists()
        lines: list[str] = []
        data = prepare(spec, progress=lines.append)
        assert server.ranges[-1] == f"bytes={have}-"
        assert any("resuming" in line for line in lines) and any("downloaded 100%" in line for line in lines)
        assert (raw / "cifar-10-python.tar.gz").read_bytes() == payload and not part.exists()
        assert data.is_ready(verify=True)
    finally:
        server.close()


FAKE_TORCHVISION = """
import os, shutil
class CIFAR10:
    def __init__(self, root, train=True, download=False):
        os.makedirs(root, exist_ok=True)
        shutil.copyfile(os.environ["FAKE_CIFAR10_TARBALL"], os.path.join(root, "cifar-10-python.tar.gz"))
"""


@pytest.mark.slow
def test_cifar10_uses_torchvision_when_installed(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = tmp_path / "fake" / "torchvision" / "datasets"
    fake.mkdir(parents=True)
    (fake.parent / "__init__.py").write_text("")
    (fake / "__init__.py").write_text(FAKE_TORCHVISION)
    tarball = make_tiny_cifar10.make_tarball(tmp_path / "src", per_batch=50, n_test=50)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "fake"))
    monkeypatch.setenv("FAKE_CIFAR10_TARBALL", str(tarball))
    monkeypatch.delenv("MLGYM_CIFAR10_URL")
    lines: list[str] = []
    data = prepare(TaskSpec.load("cifar10"), progress=lines.append)
    assert any("torchvision" in line for line in lines) and data.is_ready()
    assert (data.raw / "cifar-10-python.tar.gz").read_bytes() == tarball.read_bytes()
    assert not (data.raw / "torchvision").exists()


@pytest.mark.slow
def test_cifar10_rejects_unofficial_tarball(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLGYM_ALLOW_UNOFFICIAL_DATA")
    _provide("cifar10", data_dir, monkeypatch)
    with pytest.raises(DataError, match="not the official"):
        prepare(TaskSpec.load("cifar10"))


# --- eval.py on malformed submissions -------------------------------------------------------

def _run_eval(spec: TaskSpec, answers: Path, submission: str, tmp_path: Path) -> subprocess.CompletedProcess:
    ws = tmp_path / f"eval{len(list(tmp_path.glob('eval*')))}"
    ws.mkdir()
    if spec.kind == "kaggle":  # the family's grader, exactly as the eval sandbox gets it
        from mlgym.families.kaggle.family import grader_argv, grader_files

        for fname, src in grader_files(spec).items():
            (ws / fname).write_bytes(src if isinstance(src, bytes) else src.read_bytes())
        argv = grader_argv(sys.executable)
    else:
        shutil.copyfile(spec.eval_script, ws / "eval.py")
        argv = [sys.executable, "eval.py", "--answers", "answers"]
    shutil.copytree(answers, ws / "answers")
    (ws / "submission.csv").write_text(submission)
    return subprocess.run(argv, cwd=ws, capture_output=True, text=True, timeout=60, check=False)


def _good_and_bad(name: str, private: Path) -> tuple[str, dict[str, str]]:
    if name == "cifar10":
        with open(private / "test_labels.csv") as f:
            ids = [r["id"] for r in csv.DictReader(f)]
        head = "id," + ",".join(str(c) for c in range(10))
        good = head + "\n" + "\n".join(f"{i}," + ",".join(["0.1"] * 10) for i in ids) + "\n"
        rows = good.splitlines()
        return good, {
            "needs columns": "id,label\n" + "\n".join(f"{i},3" for i in ids) + "\n",
            "lacks": "\n".join(rows[:-5]) + "\n",
            "NaN": "\n".join(rows[:-1] + [f"{ids[-1]},nan" + ",0.1" * 9]) + "\n",
            "not test ids": good + "99999" + ",0.1" * 10 + "\n",
        }
    idc, target = ("Id", "SalePrice") if name == "house-prices" else ("PassengerId", "Transported")
    with open(private / "answers.csv") as f:
        ids = [r[idc] for r in csv.DictReader(f)]
    value = "180000" if name == "house-prices" else "True"
    good = f"{idc},{target}\n" + "\n".join(f"{i},{value}" for i in ids) + "\n"
    rows = good.splitlines()
    bad = {
        "needs columns": f"{idc},prediction\n" + "\n".join(f"{i},{value}" for i in ids) + "\n",
        "lacks": "\n".join(rows[:-3]) + "\n",
        "more than once": good + f"{ids[0]},{value}\n",
    }
    if name == "house-prices":
        bad["NaN"] = "\n".join(rows[:-1] + [f"{ids[-1]},"]) + "\n"
        bad["not positive"] = "\n".join(rows[:-1] + [f"{ids[-1]},-5"]) + "\n"
    else:
        bad["use True or False"] = "\n".join(rows[:-1] + [f"{ids[-1]},maybe"]) + "\n"
    return good, bad


@pytest.mark.slow
@pytest.mark.parametrize("name", ALL_TASKS)
def test_eval_rejects_malformed_submissions(name: str, tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _provide(name, data_dir, monkeypatch)
    spec = TaskSpec.load(name)
    data = prepare(spec)
    good, bad = _good_and_bad(name, data.private)
    ok = _run_eval(spec, data.private, good, tmp_path)
    assert ok.returncode == 0, ok.stderr
    assert isinstance(json.loads(ok.stdout.strip().splitlines()[-1])["score"], float)
    for reason, text in bad.items():
        res = _run_eval(spec, data.private, text, tmp_path)
        assert res.returncode != 0, reason
        last = res.stderr.strip().splitlines()[-1]
        assert reason in last and "Traceback" not in res.stderr, res.stderr
    garbage = _run_eval(spec, data.private, "\x00\x01 not a csv", tmp_path)
    assert garbage.returncode != 0 and "Traceback" not in garbage.stderr


@pytest.mark.slow
def test_invalid_submission_reaches_the_result(tmp_path: Path, data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlgym.grading.scoring import evaluate

    _provide("house-prices", data_dir, monkeypatch)
    spec = TaskSpec.load("house-prices")
    data = prepare(spec)
    sub = tmp_path / "sub"
    sub.mkdir()
    (sub / "submission.csv").write_text("Id,SalePrice\n1,100\n")
    result = evaluate(spec, data, sub, python=sys.executable)
    assert not result["valid_submission"] and result["score"] is None
    assert result["error"].startswith("invalid submission: submission.csv lacks")
