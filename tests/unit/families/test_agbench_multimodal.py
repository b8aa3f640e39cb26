"""AutoGluon-Bench's multimodal files as shipped (autogluon/autogluon-bench@33fdb8e, sample_configs/): read from its
checkout root's layout (rebuilt here, the files' text unchanged), framework params passed to MultiModalPredictor,
its 14 registered datasets known, its mirror variable, and custom loaders read the way AutoGluon-Bench reads them."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from mlgym.core.errors import DataError, MLGymError

MM_LOCAL = """\
# Benchmark configurations
module: multimodal  # required
mode: local  # required
benchmark_name: ag_bench  # required
root_dir: ag_bench_runs  # optional, default = "ag_bench_runs"
# METRICS_BUCKET: autogluon-benchmark-metrics  # optional, required only if you want to upload metrics to S3
constraint: 10m4x

# Multimodal specific
framework: AutoGluon_branch  # required
dataset_name: clipart

#### Customizations ####
custom_resource_dir: sample_configs/resources/  # path to custom multimodal_frameworks.yaml and multimodal_constraints.yaml
"""
MM_CUSTOM = MM_LOCAL.replace("dataset_name: clipart", "dataset_name: dataset_1") + """\
custom_dataloader:
    dataloader_file: sample_configs/dataloaders/vision_dataloader.py   # relative path to WORKDIR
    class_name: VisionDataLoader
    dataset_config_file: sample_configs/dataloaders/vision_datasets.yaml{trailing}
""".format(trailing=" ")  # AutoGluon-Bench's line ends in a space
FRAMEWORKS = """\
AutoGluon_branch:
  repo: https://github.com/autogluon/autogluon.git
  version: master
  params:  # MultimodalPredictor(**predictor_args).fit(**fit_args)
    predictor_args:
      presets: medium_quality
    fit_args:
      time_limit:  500
      hyperparameters:
        optimization.max_epochs: 50
        optimization.learning_rate: 0.005
"""
CONSTRAINTS = """\
10m4x:
  TIME_LIMIT: 600  # 10 minutes
  INSTANCE: g4dn.4xlarge
"""
VISION_DATASETS = """\
base: &base
  url: s3://<dataset_bucket>/vision_datasets/{name}.zip
  splits:
    - train
    - test
  feature_columns:
    - ImageID
  label_columns:
    - LabelName
  annotation: "{name}_{split}_annotations.csv"
  image_path: "{name}/{value}"
  metric: acc
  problem_type: multiclass

dataset_1:
  <<: *base
  image_path: "{split}/{value}"
  problem_type: binary
"""
# AutoGluon-Bench's sample loader's first lines (it imports AutoGluon-Bench itself)
VISION_LOADER = """\
import logging
import os

import pandas as pd
import yaml

from autogluon.bench.utils.dataset_utils import get_data_home_dir
from autogluon.common.loaders import load_zip
"""


@pytest.fixture
def agb_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "autogluon-bench"
    (root / "sample_configs" / "resources").mkdir(parents=True)
    (root / "sample_configs" / "dataloaders").mkdir()
    (root / "sample_configs" / "multimodal_local_configs.yaml").write_text(MM_LOCAL)
    (root / "sample_configs" / "mm_custom_loader.yaml").write_text(MM_CUSTOM)
    (root / "sample_configs" / "resources" / "multimodal_frameworks.yaml").write_text(FRAMEWORKS)
    (root / "sample_configs" / "resources" / "multimodal_constraints.yaml").write_text(CONSTRAINTS)
    (root / "sample_configs" / "dataloaders" / "vision_datasets.yaml").write_text(VISION_DATASETS)
    (root / "sample_configs" / "dataloaders" / "vision_dataloader.py").write_text(VISION_LOADER)
    monkeypatch.chdir(root)  # AutoGluon-Bench's paths are relative to the working directory: its checkout root
    monkeypatch.setenv("MLGYM_BENCHMARKS", "")
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path / "data"))
    return root


def _fresh_process() -> None:
    """Both sample configs write into one tasks folder (one benchmark_name); `mlgym bench` is a process each, this test one."""
    from mlgym.tasks import spec

    os.environ["MLGYM_BENCHMARKS"] = ""
    spec._scan.cache_clear()


def _params(run) -> dict:
    return json.loads(run.agent_args[run.agent_args.index("--framework-params") + 1])


def test_sample_configs_dry_run_from_the_checkout_root(agb_root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from mlgym.runs import bench

    for name, task in (("multimodal_local_configs.yaml", "agbench-clipart"), ("mm_custom_loader.yaml", "agbench-dataset-1")):
        _fresh_process()
        assert bench.main([f"sample_configs/{name}", "--dry-run"]) == 0
        out = capsys.readouterr()
        assert task != "agbench-clipart" or "clipart is object detection" in out.err
        assert f"--task {task} --agent automl" in out.out and "--max-time 600.0" in out.out
        assert "framework AutoGluon_branch (https://github.com/autogluon/autogluon.git master)" in out.err
        grid = bench.load_grid(Path("sample_configs") / name)
        run = grid.runs[0]
        assert run.agent_args[:2] == ("--framework", "autogluon")
        # AutoGluon-Bench: the constraint's TIME_LIMIT (600) overrides fit_args.time_limit (500)
        assert _params(run) == {"predictor_args": {"presets": "medium_quality"},
                                "fit_args": {"time_limit": 600, "hyperparameters": {"optimization.max_epochs": 50,
                                                                                     "optimization.learning_rate": 0.005}}}


def test_real_runs_stop_in_one_line(agb_root: Path) -> None:
    """clipart is object detection (refused when prepared); the sample loader imports autogluon.bench (its own error,
    where it happened); neither is swallowed."""
    from mlgym.runs import bench
    from mlgym.tasks.data import prepare
    from mlgym.tasks.spec import TaskSpec

    bench.load_grid(Path("sample_configs/multimodal_local_configs.yaml"))
    with pytest.raises(DataError, match=r"^AutoGluon-Bench's clipart is object detection .*mlgym cannot run it$"):
        prepare(TaskSpec.load("agbench-clipart"))
    _fresh_process()
    bench.load_grid(Path("sample_configs/mm_custom_loader.yaml"))
    spec = TaskSpec.load("agbench-dataset-1")
    assert spec.metric == "accuracy"  # the loader's config names acc and binary: a listing hint only
    with pytest.raises(DataError, match=r"vision_dataloader.py: VisionDataLoader failed at .*vision_dataloader.py:7: "
                                        r"ModuleNotFoundError: No module named 'autogluon'"):
        prepare(spec)


@pytest.mark.parametrize("edit, message", [
    ("      presets: medium_quality\n", "      presets: medium_quality\n      label: y\n"),
    ("      time_limit:  500\n", "      time_limit:  500\n      train_data: x.csv\n"),
    ("      time_limit:  500\n", "      time_limit:  500\n      wobble: 1\n"),
    ("  version: master\n", "  version: master\n  image: x\n"),
])
def test_framework_keys_it_cannot_honour_are_refused_in_one_line(agb_root: Path, edit: str, message: str) -> None:
    from mlgym.runs import bench

    f = agb_root / "sample_configs" / "resources" / "multimodal_frameworks.yaml"
    f.write_text(FRAMEWORKS.replace(edit, message))
    with pytest.raises(MLGymError) as e:
        bench.load_grid(Path("sample_configs/multimodal_local_configs.yaml"))
    text = str(e.value)
    assert "\n" not in text and "AutoGluon_branch" in text
    assert ("mlgym sets" in text) if ("label" in message or "train_data" in message) else ("unknown key" in text or "not an argument" in text)


def test_framework_names_and_package_defaults(agb_root: Path) -> None:
    from mlgym.runs import bench

    cfg = agb_root / "sample_configs" / "multimodal_local_configs.yaml"
    cfg.write_text(MM_LOCAL.replace("AutoGluon_branch", "AutoGluon_nosuch"))
    with pytest.raises(MLGymError, match=r"'AutoGluon_nosuch' is neither in .*multimodal_frameworks.yaml \(AutoGluon_branch\) nor an mlgym agent"):
        bench.load_grid(cfg)
    cfg.write_text(MM_LOCAL.replace("framework: AutoGluon_branch", "framework: AutoGluon_stable")
                   .replace("custom_resource_dir: sample_configs/resources/", "").replace("dataset_name: clipart", "dataset_name: shopee")
                   .replace("constraint: 10m4x", "constraint: test"))
    run = bench.load_grid(cfg).runs[0]  # AutoGluon-Bench's own resources: AutoGluon_stable, constraint test (1800 s)
    assert run.task == "multimodal-shopee" and _params(run) == {
        "predictor_args": {"presets": "best_quality"}, "fit_args": {"hyperparameters": {"optimization.max_epochs": 10}, "time_limit": 1800}}
    cfg.write_text(cfg.read_text() + "time_limit: 120\n")
    assert _params(bench.load_grid(cfg).runs[0])["fit_args"]["time_limit"] == 120


def test_all_fourteen_registered_datasets_are_known() -> None:
    from mlgym.families.multimodal.data import REGISTRY, UNSUPPORTED

    assert set(REGISTRY) | set(UNSUPPORTED) == {  # src/autogluon/bench/datasets/{multimodal,object_detection}_dataset.py
        "shopee", "stanford_online", "flickr30k", "snli", "mit_movies", "women_clothing_review", "melbourne_airbnb",
        "ae_price_prediction", "imdb_genre_prediction", "jc_penney_products", "news_popularity", "news_channel",
        "tiny_motorbike", "clipart"}


def test_autogluon_bench_repo_mirror_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlgym.families.multimodal.data import BUCKET, repo_url

    url = BUCKET + "snli/snli_train.csv"
    monkeypatch.delenv("AUTOGLUON_BENCH_REPO", raising=False)
    monkeypatch.delenv("AUTO_MM_BENCH_REPO", raising=False)
    assert repo_url(url) == url
    monkeypatch.setenv("AUTO_MM_BENCH_REPO", "http://old.example/")  # the older name still works
    assert repo_url(url) == "http://old.example/snli/snli_train.csv"
    monkeypatch.setenv("AUTOGLUON_BENCH_REPO", "http://mirror.example")  # AutoGluon-Bench's name wins
    assert repo_url(url) == "http://mirror.example/snli/snli_train.csv"


PETS_LOADER = '''
import os
import pandas as pd
import yaml


class PetsLoader:
    def __init__(self, dataset_name, dataset_config_file, split="train"):
        with open(dataset_config_file) as f:
            cfg = yaml.safe_load(f)[dataset_name]
        path = os.path.join(os.path.dirname(dataset_config_file), cfg["folder"], split + ".csv")
        self.data = pd.read_csv(path) if os.path.exists(path) else None

    @property
    def problem_type(self):
        return "binary"

    @property
    def metric(self):
        return "roc_auc"

    @property
    def feature_columns(self):
        return ["text", "age"]

    @property
    def label_columns(self):
        return ["adopted"]
'''


def _pets(root: Path, loader: str = PETS_LOADER) -> Path:
    import numpy as np
    import pandas as pd

    (root / "pets").mkdir(parents=True)
    rng = np.random.default_rng(0)
    for split, n in (("train", 80), ("test", 20)):
        age = rng.integers(1, 15, n)
        pd.DataFrame({"text": [f"a friendly pet aged {a} years" for a in age], "age": age, "noise": 1,
                      "adopted": (age < 7).astype(int)}).to_csv(root / "pets" / f"{split}.csv", index=False)
    (root / "loader.py").write_text(loader)
    (root / "datasets.yaml").write_text("pets:\n  folder: pets\n")  # only what the loader reads
    (root / "pets.yaml").write_text("kind: multimodal\nname: pets\ndataset_name: pets\ncustom_dataloader:\n"
                                    "  dataloader_file: loader.py\n  class_name: PetsLoader\n  dataset_config_file: datasets.yaml\n")
    return root


@pytest.mark.slow
def test_custom_loader_properties_decide_type_and_metric(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlgym.tasks.data import prepare, settled
    from mlgym.tasks.spec import TaskSpec

    root = _pets(tmp_path / "user")
    monkeypatch.setenv("MLGYM_BENCHMARKS", str(root))
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path / "data"))
    spec = TaskSpec.load("pets")
    assert spec.metric == "auto" and spec.options.problem_type == "auto"  # known once the loader objects say
    data = prepare(spec)
    done = settled(spec, data)
    assert (done.metric, done.direction, done.options.problem_type) == ("auc", "higher", "binary")
    info = json.loads((data.public / "task.json").read_text())
    assert info["type"] == "binary" and info["metrics"] == ["auc"]
    assert "noise" not in (data.public / "train.csv").read_text().splitlines()[0]  # feature_columns honoured
    answers = __import__("pandas").read_csv(data.private / "answers.csv")
    sub = tmp_path / "sub"
    sub.mkdir()
    answers.to_csv(sub / "submission.csv", index=False)
    assert spec.family.evaluate(spec, data, sub, python=__import__("sys").executable).score == 1.0  # a fresh spec: settled too


def test_custom_loader_errors_are_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from mlgym.tasks.data import prepare
    from mlgym.tasks.spec import TaskSpec

    broken = PETS_LOADER.replace('cfg = yaml.safe_load(f)[dataset_name]', 'cfg = yaml.safe_load(f)["nope"]')
    root = _pets(tmp_path / "user", broken)
    monkeypatch.setenv("MLGYM_BENCHMARKS", str(root))
    monkeypatch.setenv("MLGYM_DATA_DIR", str(tmp_path / "data"))
    with pytest.raises(DataError, match=r"PetsLoader failed at .*loader.py:10: KeyError: 'nope'"):
        prepare(TaskSpec.load("pets"))
    (root / "loader.py").write_text(PETS_LOADER.replace('return "roc_auc"', 'return self.oops'))
    with pytest.raises(DataError, match=r"the loader's \.metric failed at .*loader.py:\d+: AttributeError"):
        prepare(TaskSpec.load("pets"), force=True)
    (root / "loader.py").write_text(PETS_LOADER.replace("    @property\n    def label_columns(self):\n        return [\"adopted\"]\n", ""))
    with pytest.raises(DataError, match=r"has no \.label_columns \(AutoGluon-Bench reads problem_type"):
        prepare(TaskSpec.load("pets"), force=True)
