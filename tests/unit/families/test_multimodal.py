"""The multimodal family: AutoGluon-Bench dataset configs, its registry, custom loaders and metrics."""

from __future__ import annotations

import csv
import http.server
import json
import math
import os
import socket
import sys
import threading
from pathlib import Path
from typing import Iterator

import pandas as pd
import pytest

from mlgym import cli

from mlgym.runs import runner
from mlgym.tasks.data import prepare
from mlgym.core.errors import DataError, MLGymError, TaskError
from mlgym.families.multimodal.data import REGISTRY, UNSUPPORTED
from mlgym.grading.scoring import evaluate
from mlgym.tasks.spec import TaskSpec

pytestmark = pytest.mark.slow  # episodes and module fixtures that take seconds (the fast set leaves them out)

REPO = Path(__file__).resolve().parents[3]
EXAMPLES = REPO / "examples" / "multimodal"
HOUSE_PRICES = REPO.parent / "shared" / "data" / "kaggle" / "house-prices-advanced-regression-techniques"


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # the example loader writes its scans there
    monkeypatch.setenv("MLGYM_BENCHMARKS", str(EXAMPLES))
    return tmp_path / "data"


def _episode(task: str, tmp_path: Path, *agent: str) -> dict:
    log_dir = tmp_path / f"log-{task}"
    argv = ["--task", task, *(agent or ("--agent", "baseline")), "--log-dir", str(log_dir), "--work-dir", str(tmp_path / "ws"),
            "-q", "--python", sys.executable]
    assert runner.main(argv) == 0
    return json.loads((log_dir / "result.json").read_text())


def test_tasks_lists_shipped_registered_and_user_tasks(cache: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["tasks", "--family", "multimodal"]) == 0
    out = capsys.readouterr().out
    for name in ["digits-docs", "digits-odd", *(n.replace("_", "-") for n in REGISTRY)]:
        assert f"multimodal-{name}" in out
    assert "house-prices-mm" in out and "invalid" not in out
    assert "digits " not in out  # the folder family's task is not listed
    spec = TaskSpec.load("multimodal-snli")
    assert (spec.metric, spec.direction, spec.kind) == ("auc", "higher", "multimodal")
    assert "pillow==12.3.0" in spec.environment.requirements


def test_shipped_config_task_runs_a_baseline_episode(cache: Path, tmp_path: Path) -> None:
    spec = TaskSpec.load("multimodal-digits-docs")
    data = prepare(spec)
    assert sorted(p.name for p in data.public.iterdir()) == ["dataset.json", "images", "sample_submission.csv", "task.json", "test.csv",
                                                             "train.csv", "val.csv"]
    assert not any((data.public / "images").iterdir())  # a mount point: the images live outside public/
    info = json.loads((data.public / "dataset.json").read_text())
    assert (info["image_columns"], info["text_columns"], info["rows"]) == (["image"], ["note"], {"train": 1167, "val": 270, "test": 360})
    test = pd.read_csv(data.public / "test.csv")
    assert "digit" not in test.columns and "odd" not in test.columns and test["image"].str.startswith("data/images/").all()
    assert (data.dir / "images" / test["image"][0].removeprefix("data/images/")).is_file()
    assert list(pd.read_csv(data.private / "answers.csv").columns) == ["row_id", "digit"]
    result = _episode("multimodal-digits-docs", tmp_path)
    assert result["valid_submission"], result["error"]
    assert 0.9 < result["score"] <= 1 and "balanced_accuracy" in result["metrics"]


def test_binary_task_scores_probabilities_of_the_positive_class(cache: Path) -> None:
    spec = TaskSpec.load("multimodal-digits-odd")
    data = prepare(spec)
    answers = pd.read_csv(data.private / "answers.csv")
    sub = tmp = data.dir.parent / "sub"
    tmp.mkdir()
    answers.assign(odd=answers["odd"] * 0.8 + 0.1).to_csv(sub / "submission.csv", index=False)
    res = evaluate(spec, data, sub)
    assert res["score"] == pytest.approx(-math.log(0.9)) and res["metrics"]["auc"] == 1.0
    answers.assign(odd=1 - answers["odd"]).to_csv(sub / "submission.csv", index=False)
    assert evaluate(spec, data, sub)["metrics"]["auc"] == 0.0
    answers.assign(odd="yes").to_csv(sub / "submission.csv", index=False)
    res = evaluate(spec, data, sub)
    assert not res["valid_submission"] and "not a number" in res["error"]


def _script_output(log_dir: Path) -> str:
    steps = [json.loads(line) for line in (log_dir / "trace.jsonl").read_text().splitlines()]
    return "\n".join(str(r.get("observation")) for r in steps if "executed" in str(r.get("observation")))


def test_task_json_names_what_a_program_needs(cache: Path) -> None:
    spec = TaskSpec.load("multimodal-digits-odd")
    info = json.loads((prepare(spec).public / "task.json").read_text())
    assert (info["layout"], info["target"], info["id"], info["type"], info["classes"], info["positive_class"]) == (
        "multimodal", "odd", "row_id", "binary", ["0", "1"], "1")
    assert (info["metrics"], info["prediction"], info["image_columns"], info["text_columns"]) == (["log_loss"], "proba", ["image"], ["note"])
    assert len(info["numeric_columns"]) == 4 and info["categorical"] == []
    assert info["submission"]["file"] == "submission.csv" and info["submission"]["columns"] == ["row_id", "odd"]
    assert info["constraint"] == {"name": "limits", "max_runtime_seconds": 600, "cores": None, "max_mem_size_mb": 4096}


def test_automl_sklearn_episode_submits_probabilities(cache: Path, tmp_path: Path) -> None:
    """The automl agent's scikit-learn search on engineered image, text and number columns, in 60% of a 30 s run
    (a model whose cross-validation outlasts that is stopped: a busy machine still gets a submission)."""
    result = _episode("multimodal-digits-odd", tmp_path, "--agent", "automl", "--framework", "sklearn", "--exec-timeout", "30")
    out = _script_output(tmp_path / "log-multimodal-digits-odd")
    assert result["valid_submission"], (result["error"], out[-2000:])
    assert "1 image, 1 text, 4 numeric -> 295 features" in out and ", 18 s," in out
    assert result["score"] < 0.4 and result["metrics"]["auc"] > 0.9  # log loss (0.5 everywhere: 0.69); the starter's is 0.158


def test_automl_flaml_episode_submits_labels(cache: Path, tmp_path: Path) -> None:
    pytest.importorskip("flaml")
    result = _episode("multimodal-digits-docs", tmp_path, "--agent", "automl", "--framework", "flaml", "--exec-timeout", "20")
    out = _script_output(tmp_path / "log-multimodal-digits-docs")
    assert result["valid_submission"], (result["error"], out[-2000:])
    assert "FLAML best:" in out and result["score"] > 0.6  # accuracy over 10 digits (chance 0.1; 0.87 in a 12 s budget on a busy machine)


def test_automl_autogluon_multimodal_path_says_what_is_missing(cache: Path, tmp_path: Path) -> None:
    if __import__("importlib").util.find_spec("autogluon") is not None:
        pytest.skip("autogluon is installed here")
    result = _episode("multimodal-digits-odd", tmp_path, "--agent", "automl", "--framework", "autogluon", "--exec-timeout", "20")
    assert not result["valid_submission"] and "submission.csv not found" in result["error"]
    assert "autogluon.multimodal is not installed in the task environment: pip install 'autogluon.multimodal'" in _script_output(
        tmp_path / "log-multimodal-digits-odd")


@pytest.mark.skipif(not HOUSE_PRICES.is_dir(), reason="needs ../shared/data/kaggle/house-prices-... beside the checkout")
def test_custom_loader_from_an_outside_folder_with_a_custom_metric(cache: Path, tmp_path: Path) -> None:
    spec = TaskSpec.load("house-prices-mm")
    assert spec.metric == "custom:metrics.within_10_percent" and spec.direction == "higher"
    data = prepare(spec)
    info = json.loads((data.public / "dataset.json").read_text())
    assert info["image_columns"] == ["inspection_scan"] and info["text_columns"] == ["listing"] and len(info["numeric_columns"]) == 6
    assert info["rows"]["val"] > 0  # the loader has no validation split: carved from train
    answers = pd.read_csv(data.private / "answers.csv")
    sub = tmp_path / "sub"
    sub.mkdir()
    answers.assign(SalePrice=answers["SalePrice"] * 1.05).to_csv(sub / "submission.csv", index=False)
    assert evaluate(spec, data, sub)["score"] == 1.0  # every price within 10%: the user's function ran in the eval sandbox
    answers.assign(SalePrice=answers["SalePrice"] * 1.2).to_csv(sub / "submission.csv", index=False)
    assert evaluate(spec, data, sub)["score"] == 0.0
    result = _episode("house-prices-mm", tmp_path)
    assert result["valid_submission"], result["error"]
    assert 0.3 < result["score"] < 1 and "r2" in result["metrics"]


LOADER = '''
import pandas as pd

class Tiny:
    def __init__(self, dataset_name, split, dataset_config_file=None, colour="grey"):
        rows = {"train": range(0, 40), "test": range(40, 50)}.get(split)
        self.data = None if rows is None else pd.DataFrame({
            "pic": [f"pics/{i % N}.png" for i in rows],                      # relative to this file
            "words": [f"a {colour} picture number {i} of many" for i in rows],
            "size": [float(i) for i in rows],
            "y": [i % 2 for i in rows]})
    problem_type = "binary"
    metric = "acc"
    feature_columns = ["pic", "words", "size"]
    label_columns = ["y"]
'''


def _tiny(root: Path, images: int, extra: str = "") -> Path:
    """A user's folder: a loader whose image column holds paths relative to it (no .image_columns: inferred)."""
    from PIL import Image

    (root / "tiny" / "pics").mkdir(parents=True)

    Image.new("L", (4, 4), 128).save(root / "tiny" / "pics" / "0.png")
    for i in range(1, images):
        os.link(root / "tiny" / "pics" / "0.png", root / "tiny" / "pics" / f"{i}.png")
    (root / "tiny" / "loader.py").write_text(LOADER.replace("% N}", f"% {images}}}"))
    (root / "tiny" / "datasets.yaml").write_text("tiny:\n  problem_type: binary\n  metric: acc\n  url: unused\n  label_columns: [y]\n")
    (root / "tiny.yaml").write_text(
        "kind: multimodal\nname: tiny\ndataset_name: tiny\ncustom_dataloader:\n  dataloader_file: tiny/loader.py\n"
        "  class_name: Tiny\n  dataset_config_file: tiny/datasets.yaml\n  colour: blue\n" + extra)
    return root


def test_loader_relative_images_are_gathered_once_and_bound_not_linked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env_factory) -> None:
    root = _tiny(tmp_path / "bench", 300)
    (root / "tiny" / "pics" / "0.png").chmod(0o600)  # all 300 are links to it: the user's own, unreadable to others
    monkeypatch.setenv("MLGYM_BENCHMARKS", str(root))
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path / "data"))
    spec = TaskSpec.load("tiny")
    data = prepare(spec)
    train = pd.read_csv(data.public / "train.csv")
    assert train["pic"][1] == "data/images/1.png" and train["words"][0].endswith("blue picture number 0 of many")
    info = json.loads((data.public / "dataset.json").read_text())
    assert info["image_columns"] == ["pic"] and info["text_columns"] == ["words"] and info["numeric_columns"] == ["size"]
    assert len(list((data.dir / "images").iterdir())) == 50  # the 50 the rows name, not every file in the folder
    env = env_factory("tiny", python=sys.executable)
    env.reset(seed=0)
    if env.sandbox.name == "local-plain":
        pytest.skip("local-plain has no mounts: the images are copied")
    assert list((env.workspace / "data" / "images").iterdir()) == []  # no per-file links on the host
    (env.workspace / "probe.py").write_text(
        "import os\nfrom PIL import Image\nprint('count', len(os.listdir('data/images')), Image.open('data/images/7.png').size)\n"
        "try:\n    open('data/images/x.png', 'w')\nexcept OSError as e:\n    print('refused', e.errno)\n")
    obs, *_ = env.step({"name": "Execute Script", "arguments": {"script_name": "probe.py"}})
    assert "count 50 (4, 4)" in obs and "refused 30" in obs  # read by the sandbox uid (copied, not linked); EROFS: read-only


@pytest.mark.parametrize("extra, message", [
    ("metric: rmse\n", r"metric: rmse \(number\) does not score a binary task"),
    ("split: {val_fraction: 0.9}\n", "fractions must lie between 0 and 0.5"),
    ("dataset_config_file: tiny/datasets.yaml\n", "give a dataset config or a custom_dataloader, not both"),
])
def test_yaml_mistakes_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extra: str, message: str) -> None:
    root = _tiny(tmp_path / "bench", 2, extra)
    monkeypatch.setenv("MLGYM_BENCHMARKS", str(root))
    with pytest.raises(TaskError, match=message) as e:
        TaskSpec.load("tiny")
    assert "\n" not in str(e.value)


def test_loader_mistakes_are_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = _tiny(tmp_path / "bench", 2)
    monkeypatch.setenv("MLGYM_BENCHMARKS", str(root))
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path / "data"))
    loader = root / "tiny" / "loader.py"
    loader.write_text(loader.read_text().replace('"pics/{i % 2}.png"', '"pics/{i}.png"'))
    with pytest.raises(DataError, match=r"^48 of the 50 image files the rows name do not exist, e.g. /"):
        prepare(TaskSpec.load("tiny"))
    loader.write_text(loader.read_text().replace("self.data = None if", "1 / 0\n        self.data = None if"))
    with pytest.raises(DataError, match=r"Tiny failed at .*loader.py:7: ZeroDivisionError: division by zero$"):
        prepare(TaskSpec.load("tiny"))


def test_dataset_config_keys_are_checked(tmp_path: Path) -> None:
    from mlgym.families.multimodal.data import read_config

    cfg = tmp_path / "d.yaml"
    cfg.write_text("a:\n  url: x.zip\n  label_columns: [y]\n  metric: acc\n  problem_type: multiclass\n  langs: [en]\n  shots: 5\n")
    got = read_config(cfg, "a")
    assert got.metric == "accuracy" and ("langs", "['en']") in got.extra
    cfg.write_text("a:\n  url: x.zip\n  label_columns: [y]\n  metric: acc\n  problem_type: multiclass\n  colums: [x]\n")
    with pytest.raises(TaskError, match=r"a\.colums: unknown dataset-config key"):
        read_config(cfg, "a")
    with pytest.raises(TaskError, match="no dataset 'b' in this dataset config; it has: a"):
        read_config(cfg, "b")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_registered_dataset_without_network_fails_with_one_line(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    proxy = f"http://127.0.0.1:{_closed_port()}"
    for var in ("HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(var, proxy)
    monkeypatch.setenv("NO_PROXY", "")
    monkeypatch.setenv("no_proxy", "")
    with pytest.raises(DataError) as e:
        prepare(TaskSpec.load("multimodal-news-channel"))
    msg = str(e.value)
    assert msg.startswith("cannot download https://automl-mm-bench.s3.amazonaws.com/news_channel/train.csv") and "\n" not in msg
    assert "put the file at" in msg


@pytest.fixture
def mirror(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A local HTTP mirror of AutoGluon-Bench's bucket (AUTO_MM_BENCH_REPO)."""
    root = tmp_path / "bucket"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **kw):  # type: ignore[no-untyped-def]
            super().__init__(*a, directory=str(root), **kw)

        def log_message(self, *a):  # type: ignore[no-untyped-def]
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", root
    server.shutdown()


def test_registered_download_checks_the_sha1(cache: Path, mirror: tuple[str, Path], monkeypatch: pytest.MonkeyPatch) -> None:
    url, root = mirror
    monkeypatch.setenv("AUTO_MM_BENCH_REPO", url)
    (root / "news_channel").mkdir()
    for split in ("train", "test"):
        (root / "news_channel" / f"{split}.csv").write_text("channel,title\nbbc,a story\n")
    with pytest.raises(DataError, match="the download's SHA-1 is not the registered ab226210"):
        prepare(TaskSpec.load("multimodal-news-channel"))


def test_unsupported_registry_names_say_why(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in UNSUPPORTED:
        (tmp_path / f"{name}.yaml").write_text(f"kind: multimodal\nname: {name}\ndataset_name: {name}\n")
    monkeypatch.setenv("MLGYM_BENCHMARKS", str(tmp_path))
    # known (a grid may name them), refused in one line when prepared, before any download
    with pytest.raises(DataError, match="named-entity recognition"):
        prepare(TaskSpec.load("mit_movies"))
    with pytest.raises(DataError, match="image-text retrieval"):
        prepare(TaskSpec.load("flickr30k"))
    with pytest.raises(DataError, match="^AutoGluon-Bench's clipart is object detection"):
        prepare(TaskSpec.load("clipart"))


def test_bench_reads_an_autogluon_bench_multimodal_config_as_it_is(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlgym.runs import bench

    root = _tiny(tmp_path / "user", 4)
    (root / "tiny" / "metrics.py").write_text("def acc(y_true, y_pred):\n    return float((y_true == y_pred).mean())\n")
    (root / "resources").mkdir()
    (root / "resources" / "multimodal_constraints.yaml").write_text("quick:\n  TIME_LIMIT: 900\n  INSTANCE: g4dn.2xlarge\n")
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("MLGYM_BENCHMARKS", "")
    config = root / "multimodal_local_configs.yaml"
    config.write_text(
        "module: multimodal\nmode: local\nbenchmark_name: ag_bench\nroot_dir: ag_bench_runs\n"
        "constraint: quick\nframework: baseline\n"
        "dataset_name: tiny\ncustom_dataloader:\n  dataloader_file: tiny/loader.py\n  class_name: Tiny\n"
        "  dataset_config_file: tiny/datasets.yaml\ncustom_metrics:\n  metrics_path: tiny/metrics.py\n  function_name: acc\n"
        "  optimum: 1\n  greater_is_better: true\ncustom_resource_dir: resources/\ntime_limit: 10\n")
    grid = bench.load_grid(config, tmp_path / "out")
    assert [r.task for r in grid.runs] == ["agbench-tiny"] and grid.args == ("--max-time", "900.0")
    assert bench.main([str(config), "--out", str(tmp_path / "out")]) == 0
    rows = list(csv.DictReader(open(tmp_path / "out" / "results.csv")))
    assert list(rows[0])[:12] == ["id", "task", "framework", "constraint", "version", "fold", "type", "metric", "result", "utc",
                                  "training_duration", "predict_duration"]
    row = rows[0]
    assert (row["id"], row["task"], row["framework"], row["constraint"], row["type"]) == ("agbench-tiny", "tiny", "baseline", "quick", "binary")
    assert row["metric"] == "custom:metrics.acc" and 0 <= float(row["result"]) <= 1 and row["custom:metrics.acc"] == row["result"]
    config.write_text(config.read_text().replace("framework: baseline", "framework: AutoGluon_stable"))
    run = bench.load_grid(config).runs[0]  # AutoGluon-Bench's own AutoGluon_stable: MultiModalPredictor with its params
    assert run.agent == "automl" and json.loads(run.agent_args[run.agent_args.index("--framework-params") + 1]) == {
        "predictor_args": {"presets": "best_quality"}, "fit_args": {"hyperparameters": {"optimization.max_epochs": 10}, "time_limit": 10}}
    config.write_text(config.read_text() + "presets: medium_quality\n")  # not an AutoGluon-Bench multimodal key: refused, not ignored
    with pytest.raises(MLGymError, match="presets: unknown AutoGluon-Bench multimodal field"):
        bench.load_grid(config)
    config.write_text(config.read_text().replace("mode: local", "mode: aws"))
    with pytest.raises(MLGymError, match="cloud mode"):
        bench.load_grid(config)


def test_dense_rewards_keep_the_image_mount(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env_factory) -> None:
    root = _tiny(tmp_path / "bench", 5)
    monkeypatch.setenv("MLGYM_BENCHMARKS", str(root))
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path / "data"))
    env = env_factory("tiny", python=sys.executable, reward_mode="dense")
    env.reset(seed=0)
    if env.sandbox.name == "local-plain":
        pytest.skip("local-plain has no mounts")
    (env.workspace / "probe.py").write_text(
        "import pandas as pd\nfrom PIL import Image\nv = pd.read_csv('data/valid.csv')\n"
        "print('valid', len(v), Image.open(v.pic[0]).size)\npd.DataFrame({'row_id': v.row_id, 'y': 1}).to_csv('valid_submission.csv', index=False)\n")
    obs, *_ = env.step({"name": "Execute Script", "arguments": {"script_name": "probe.py"}})
    assert "valid 6 (4, 4)" in obs  # data/ is the carved split, data/images still bound in it


def test_dataset_config_archive_is_downloaded_unpacked_and_its_images_bound(tmp_path: Path, mirror: tuple[str, Path],
                                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A vision dataset in AutoGluon-Bench's layout: <name>.zip holding <name>/{split}.csv and the images."""
    import hashlib
    import io
    import zipfile

    from PIL import Image

    url, served = mirror
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(12):
            png = io.BytesIO()
            Image.new("L", (6, 6), 20 * i).save(png, format="PNG")
            zf.writestr(f"toys/pictures/{i}.png", png.getvalue())
        for split, rows in (("train", range(8)), ("test", range(8, 12))):
            lines = ["ImageID,caption,LabelName"] + [f"{i}.png,a toy numbered {i},{'cat' if i % 3 else 'dog'}" for i in rows]
            zf.writestr(f"toys/{split}.csv", "\n".join(lines) + "\n")
    (served / "vision").mkdir()
    (served / "vision" / "toys.zip").write_bytes(buf.getvalue())
    sha = hashlib.sha1(buf.getvalue()).hexdigest()
    (tmp_path / "vision_datasets.yaml").write_text(
        f"base: &base\n  url: {url}vision/{{name}}.zip\n  splits: [train, test]\n  annotation: \"{{split}}.csv\"\n"
        f"  image_path: \"pictures/{{value}}\"\n  metric: acc\n  problem_type: multiclass\n\n"
        f"toys:\n  <<: *base\n  feature_columns: [ImageID, caption]\n  label_columns: [LabelName]\n  sha1sum: {{toys.zip: {sha}}}\n")
    (tmp_path / "toys.yaml").write_text("kind: multimodal\nname: toys\ndataset_name: toys\ndataset_config_file: vision_datasets.yaml\n")
    monkeypatch.setenv("MLGYM_BENCHMARKS", str(tmp_path))
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path / "data"))
    data = prepare(TaskSpec.load("toys"))
    info = json.loads((data.public / "dataset.json").read_text())
    assert info["image_columns"] == ["ImageID"] and info["rows"] == {"train": 7, "val": 1, "test": 4}
    test = pd.read_csv(data.public / "test.csv")
    assert test["ImageID"].tolist() == [f"data/images/{i}.png" for i in range(8, 12)] and "LabelName" not in test
    assert sorted(p.name for p in (data.dir / "images").iterdir()) == sorted(f"{i}.png" for i in range(12))
    assert pd.read_csv(data.private / "answers.csv")["LabelName"].tolist() == ["cat", "dog", "cat", "cat"]
    assert not any(p.suffix == ".csv" for p in (data.dir / "images").rglob("*"))  # the annotation files stay hidden
