"""The multimodal family: rows that mix images, text and numbers, AutoGluon-Bench style.

::

    kind: multimodal
    name: multimodal-shopee            # the file name (<name>.yaml), or <suite>-<folder> for <suite>/<folder>/task.yaml
    dataset_name: shopee               # a registered name, or the entry in dataset_config_file
    dataset_config_file: datasets.yaml # optional: an AutoGluon-Bench dataset config (its keys as they are)
    custom_dataloader:                 # optional: AutoGluon-Bench's custom loader contract
      dataloader_file: loader.py       #   relative to this file
      class_name: MyLoader             #   Cls(dataset_name=..., split=s, **the other keys) for s in train/val/test
      dataset_config_file: datasets.yaml
    custom_metrics:                    # optional: AutoGluon-Bench's custom metric hook
      metrics_path: my_metrics.py
      function_name: f1_score          #   fn(y_true, y_pred) -> float
      optimum: 1
      greater_is_better: true
    split: {val_fraction: 0.15, test_fraction: 0.2, seed: 2024}   # only where the source lacks val/test
    metric: accuracy                   # optional: the source's metric otherwise (AutoGluon names map: acc, roc_auc, r2)

Where rows come from: :mod:`mlgym.families.multimodal.data`.  The agent sees ``data/train.csv``,
``data/val.csv``, ``data/test.csv`` (no label, a ``row_id``), ``data/sample_submission.csv`` and
``data/dataset.json`` (which columns are image, text, numeric, categorical); image columns
hold paths ``data/images/...``.  The images are gathered once, at prepare, into one folder
of the data cache (hard links where possible) and *bind-mounted* read-only at
``data/images``: a reset costs the same for 10 images as for 100,000 (no per-file link or
copy; only the no-isolation ``local-plain`` sandbox, which has no mounts, copies them).
The hidden answers are the test labels; the generic grader scores ``submission.csv``.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import shutil
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from mlgym.core.template import render_starter
from mlgym.grading import payload
from mlgym.tasks.data import TaskData, build
from mlgym.core.errors import DataError, TaskError
from mlgym.grading.base import EvalResult, Submission
from mlgym.grading.scoring import run_eval
from mlgym.families.base import describe as folder_describe
from mlgym.families.multimodal.data import (
    REGISTRY, CustomLoader, DatasetConfig, Splits, ag_metric, infer_images, infer_text, load_config, load_custom,
    UNSUPPORTED, problem_type, read_config, registered,
)
from mlgym.core.metrics import METRICS, Metric
from mlgym.sandbox.base import Mount
from mlgym.tasks.spec import Fields, TaskSpec, benchmarks_roots, common_fields

HERE = Path(__file__).resolve().parent
OWN_KEYS = ("dataset_name", "dataset_config_file", "custom_dataloader", "custom_metrics", "split")
LOADER_KEYS = ("dataloader_file", "dataloader_path", "class_name")  # the rest go to the class as keyword arguments
METRIC_KEYS = ("metrics_path", "function_name", "optimum", "greater_is_better")
PREFIX = "multimodal-"
ID = "row_id"
IMAGES = "images"  # data/images: the bind-mounted image folder
REQUIREMENTS = ("pillow==12.3.0", "FLAML==2.8.0", "lightgbm==4.7.0", "xgboost-cpu==3.2.0")  # PIL: the starter and agent
# code open images; FLAML (which imports xgboost) and LightGBM: `--agent automl --framework flaml`, as for AMLB
KIND_FOR = {"binary": ("label", "proba"), "multiclass": ("label",), "regression": ("number",)}
UNDECIDED = "auto"  # problem type / metric of a custom loader's task before its objects say them (prepare)


@dataclasses.dataclass(frozen=True)
class CustomMetric:
    path: Path
    function: str
    optimum: float | None
    greater_is_better: bool


@dataclasses.dataclass(frozen=True)
class Options:
    """What a multimodal entry adds to its TaskSpec."""

    dataset_name: str
    source: DatasetConfig | CustomLoader
    problem_type: str
    custom_metric: CustomMetric | None = None
    val_fraction: float = 0.15
    test_fraction: float = 0.2
    seed: int = 2024
    refused: str | None = None  # a registered dataset mlgym cannot run (object detection...): why, said at prepare


def _opts(task: TaskSpec) -> Options:
    if not isinstance(task.options, Options):
        raise TaskError(f"task {task.name!r} is not a multimodal entry")
    return task.options


def _entry_name(path: Path) -> str:
    if path.name != "task.yaml":
        return path.stem
    suite = path.parent.parent
    if suite.resolve() in benchmarks_roots() or (suite / "task.yaml").exists():
        return path.parent.name
    return f"{suite.name}-{path.parent.name}"


def _file(f: Fields, key: str, rel: str, base: Path) -> Path:
    p = (base / rel).expanduser().resolve()
    if not p.is_file():
        raise f.error(key, f"{p} does not exist")
    return p


def custom_metric_name(m: CustomMetric) -> str:
    return f"custom:{m.path.stem}.{m.function}"


def _register_metric(m: CustomMetric, kind: str) -> str:
    """Put the user's metric into the metric library under its own name (loaded on first use)."""
    name = custom_metric_name(m)

    @functools.lru_cache(maxsize=1)
    def load() -> Callable[[Any, Any], Any]:
        import importlib.util

        spec = importlib.util.spec_from_file_location(f"mlgym_custom_metric_{m.path.stem}", m.path)
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        fn: Callable[[Any, Any], Any] = getattr(mod, m.function)
        return fn

    METRICS[name] = Metric(name, "higher" if m.greater_is_better else "lower", kind,
                           lambda t, p: float(load()(np.asarray(t), np.asarray(p))), f"{m.function} from {m.path}")
    return name


def _config_hint(cfg_file: Path, dataset: str) -> tuple[str | None, str | None]:
    """(metric, problem type) the loader's dataset_config_file names for ``dataset``, when it does (AutoGluon-Bench's
    sample configs do): only a listing hint, never required; the loader object's properties decide at prepare."""
    import yaml

    try:
        raw = yaml.safe_load(cfg_file.read_text())
    except (OSError, yaml.YAMLError):
        return None, None  # the loader reads it: its own error, at prepare
    entry = raw.get(dataset) if isinstance(raw, dict) else None
    if not isinstance(entry, dict) or not entry.get("problem_type") or problem_type(str(entry["problem_type"])) not in KIND_FOR:
        return None, None
    metric = ag_metric(str(entry["metric"])) if entry.get("metric") else None
    return (metric if metric in METRICS else None), problem_type(str(entry["problem_type"]))


def _decide(task: TaskSpec, splits: Splits) -> TaskSpec:
    """The spec with the problem type and metric the loader's objects gave (a task listed before they were known)."""
    opts = _opts(task)
    if opts.problem_type != UNDECIDED and task.metric != UNDECIDED:
        return task
    ptype = splits.problem_type
    kind = "number" if ptype == "regression" else "label"
    metric = (_register_metric(opts.custom_metric, kind) if opts.custom_metric is not None
              else task.metric if task.metric != UNDECIDED else splits.metric)
    if metric not in METRICS:
        known = ", ".join(m for m in METRICS if not m.startswith("custom:"))
        raise DataError(f"the loader's metric {metric!r} is not one mlgym scores; known: {known}")
    if METRICS[metric].kind not in KIND_FOR[ptype]:
        raise DataError(f"the loader's metric {metric} ({METRICS[metric].kind}) does not score a {ptype} task")
    return dataclasses.replace(task, metric=metric, direction=METRICS[metric].direction,
                               options=dataclasses.replace(opts, problem_type=ptype))


def settled(task: TaskSpec, data: TaskData) -> TaskSpec:
    """A custom loader's task as prepared: its problem type and metric from data/dataset.json."""
    opts = _opts(task)
    if opts.problem_type != UNDECIDED and task.metric != UNDECIDED:
        return task
    try:
        info = json.loads((data.public / "dataset.json").read_text())
    except (OSError, ValueError):
        return task
    ptype, metric = str(info.get("problem_type")), str(info.get("metric"))
    if ptype not in KIND_FOR:
        return task
    if opts.custom_metric is not None:
        metric = _register_metric(opts.custom_metric, "number" if ptype == "regression" else "label")
    if metric not in METRICS:
        return task
    return dataclasses.replace(task, metric=metric, direction=METRICS[metric].direction,
                               options=dataclasses.replace(opts, problem_type=ptype))


class MultimodalFamily:
    kind = "multimodal"

    def expand(self, path: Path, raw: dict[str, Any]) -> list[TaskSpec]:
        f = Fields(path, raw)
        name = _entry_name(path)
        dataset = f.get("dataset_name", str)
        base = path.parent.resolve()
        if "dataset_config_file" in raw and "custom_dataloader" in raw:
            raise f.error("dataset_config_file", "give a dataset config or a custom_dataloader, not both")
        source: DatasetConfig | CustomLoader
        metric: str | None = None
        refused: str | None = None
        ptype: str | None = None
        if "custom_dataloader" in raw:
            c = Fields(path, f.get("custom_dataloader", dict), prefix="custom_dataloader.")
            loader_key = "dataloader_file" if "dataloader_file" in c.raw else "dataloader_path"
            loader_file = _file(c, loader_key, c.get(loader_key, str), base)
            kwargs = {}
            for key, value in c.raw.items():
                if key in LOADER_KEYS:
                    continue
                if key in ("dataset_config_file", "dataset_config_path") and isinstance(value, str):
                    cfg_file = _file(c, key, value, base)
                    kwargs[key] = str(cfg_file)
                    metric, ptype = _config_hint(cfg_file, dataset)  # a hint for listing; the loader object decides
                else:
                    kwargs[str(key)] = value
            source = CustomLoader(loader_file, c.get("class_name", str), tuple(kwargs.items()))
        elif "dataset_config_file" in raw:
            source = read_config(_file(f, "dataset_config_file", f.get("dataset_config_file", str), base), dataset)
            metric, ptype = source.metric, source.problem_type
        elif dataset in UNSUPPORTED:  # AutoGluon-Bench's, not a table: listed (a grid names it), refused when prepared
            refused = (f"AutoGluon-Bench's {dataset} is {UNSUPPORTED[dataset]}, not a binary, multiclass or regression table: "
                       f"mlgym cannot run it")
            source = DatasetConfig(name=dataset, url="", splits=(), label_columns=(), metric=UNDECIDED, problem_type=UNDECIDED)
        else:
            source = registered(dataset, f"{path}")
            metric, ptype = source.metric, source.problem_type
        if "metric" in raw:
            metric = ag_metric(f.get("metric", str))
        cm = None
        if "custom_metrics" in raw:
            m = f.sub("custom_metrics", METRIC_KEYS)
            opt = m.get("optimum", float, None)
            cm = CustomMetric(_file(m, "metrics_path", m.get("metrics_path", str), base), m.get("function_name", str),
                              None if opt is None else float(opt), bool(m.get("greater_is_better", bool, True)))
        undecided = ptype is None  # a custom loader says it on its objects (.problem_type, .metric), known once prepared
        if cm is not None and not undecided:
            metric = _register_metric(cm, "number" if ptype == "regression" else "label")
        if metric is None and not undecided:
            raise f.error("metric", "required: the loader's dataset config names none")
        s = f.sub("split", ("val_fraction", "test_fraction", "seed"))
        fractions = [float(s.get(k, float, d)) for k, d in (("val_fraction", 0.15), ("test_fraction", 0.2))]
        if not all(0 < x < 0.5 for x in fractions):
            raise s.error("val_fraction", f"fractions must lie between 0 and 0.5, got {fractions}")
        common = common_fields(path, {**raw, "metric": metric or "accuracy"}, name=name, own_keys=OWN_KEYS, submission="submission.csv",
                               description="", requirements=REQUIREMENTS)
        if undecided and metric is None:
            common.update(metric=UNDECIDED, direction="higher")  # decided by the loader's objects (settled())
        ptype = UNDECIDED if ptype is None else ptype
        kind = METRICS[common["metric"]].kind if common["metric"] != UNDECIDED else ""
        if ptype != UNDECIDED and kind not in KIND_FOR[ptype]:
            raise f.error("metric", f"{common['metric']} ({kind}) does not score a {ptype} task; use one of kind {' or '.join(KIND_FOR[ptype])}")
        if not common["description"]:
            where = ("AutoGluon-Bench's registered dataset"
                     if dataset in REGISTRY and isinstance(source, DatasetConfig) and "dataset_config_file" not in raw else "the dataset")
            what = "a" if ptype == UNDECIDED else f"a {ptype}"
            common["description"] = (f"{where} {dataset}: {what} problem on rows that mix images, text and numbers. "
                                     f"Predict the label of every row of data/test.csv.")
        opts = Options(dataset, source, ptype, cm, fractions[0], fractions[1], int(s.get("seed", int, 2024)), refused)
        return [TaskSpec(root=base, kind=self.kind, options=opts, **common)]

    def prepare(self, task: TaskSpec, *, root: Path | None = None, force: bool = False, verify: bool = False,
                progress: Callable[[str], None] | None = None) -> TaskData:
        if _opts(task).refused:
            raise DataError(str(_opts(task).refused))
        data = build(task, functools.partial(_produce, task), root=root, force=force, verify=verify, progress=progress)
        if ((data.public / IMAGES).is_dir() and not (data.dir / IMAGES).is_dir()  # the image folder went missing
                or not (data.public / "task.json").is_file()):  # prepared before task.json was written
            return build(task, functools.partial(_produce, task), root=root, force=True, progress=progress)
        return data

    def build_workspace(self, task: TaskSpec, workspace: Path) -> None:
        text = render_starter((HERE / "starter.py").read_text(), drop=("# The multimodal family", "# mypy:"))
        (workspace / "train.py").write_text(text)

    def mounts(self, task: TaskSpec, data: TaskData) -> list[Mount]:
        out = [Mount(data.public, "data")]
        if (data.public / IMAGES).is_dir():
            if not (data.dir / IMAGES).is_dir():
                raise DataError(f"{task.name}: the image folder {data.dir / IMAGES} is missing; run `mlgym prepare {task.name} --force`")
            out.append(Mount(data.dir / IMAGES, f"data/{IMAGES}", mirror=False))
        return out

    def describe(self, task: TaskSpec) -> str:
        return folder_describe(task) + (
            "\n\ndata/train.csv and data/val.csv hold labelled rows, data/test.csv the rows to predict (with a row_id, "
            "without the label); data/dataset.json names the label and which columns are images, text, numbers and "
            "categories; data/task.json says the same for programs (AMLB's keys: target, type, classes, metrics, "
            "categorical, constraint; plus id, the column kinds, files and the submission format). "
            "Image columns hold paths like data/images/... (';' between several) that your code opens "
            "(the file tools may show data/images empty: it is mounted for code). submission.csv has the columns "
            "row_id and the label, one row per test row, like data/sample_submission.csv. The starter train.py "
            "uses all three kinds of columns.")

    def settled(self, task: TaskSpec, data: TaskData) -> TaskSpec:
        """A custom loader's task as its objects decided it at prepare (problem type, metric)."""
        return settled(task, data)

    def evaluate(self, task: TaskSpec, data: TaskData, submission: Submission, *, sandbox: str = "local",
                 python: str = "python", sandbox_options: dict[str, Any] | None = None) -> EvalResult:
        task = settled(task, data)
        return run_eval(task, data, submission, grader_files(task, data), [python, "multimodal_grade.py", "--config", "grader.json", "--answers", "answers"],
                        sandbox=sandbox, sandbox_options=sandbox_options)


def grader_files(task: TaskSpec, data: TaskData) -> dict[str, Path | bytes]:
    opts = _opts(task)
    info = json.loads((data.public / "dataset.json").read_text())
    kind = METRICS[task.metric].kind
    config: dict[str, Any] = {"submission": task.submission[0], "answers": "answers.csv", "id": ID, "targets": [info["label"]],
                              "metric": task.metric,
                              "also": [m.name for m in METRICS.values() if m.kind == kind and m.name != task.metric and not m.multi
                                       and not m.name.startswith("custom:")]}
    files: dict[str, Path | bytes] = {"grader.py": payload.GRADER, "metrics.py": payload.METRICS,
                                      "multimodal_grade.py": HERE / "grade.py"}
    if opts.custom_metric is not None:
        cm = opts.custom_metric
        config["custom"] = {"file": "custom_metric.py", "function": cm.function, "kind": kind,
                            "direction": "higher" if cm.greater_is_better else "lower"}
        files["custom_metric.py"] = cm.path
    files["grader.json"] = json.dumps(config).encode()
    return files


# ---------------------------------------------------------------- preparing the data
def _carve(frame: pd.DataFrame, fraction: float, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    order = np.random.default_rng(seed).permutation(len(frame))
    cut = max(1, round(len(frame) * fraction))
    return frame.iloc[np.sort(order[cut:])], frame.iloc[np.sort(order[:cut])]


def _gather_images(frames: dict[str, pd.DataFrame], columns: list[str], dest: Path, say: Callable[[str], None]) -> None:
    """Hard-link (copy across file systems) every image the rows name into ``dest``, once;
    rewrite the columns to ``data/images/<path under the images' common folder>``."""
    paths = sorted({p for f in frames.values() for c in columns if c in f.columns
                    for v in f[c].dropna().astype(str) for p in v.split(";") if p})
    missing = [p for p in paths if not os.path.isfile(p)]
    if missing:
        raise DataError(f"{len(missing)} of the {len(paths)} image files the rows name do not exist, e.g. {missing[0]}")
    if not paths:
        raise DataError(f"the image column(s) {', '.join(columns)} hold no paths")
    root = os.path.commonpath(paths)
    if len(paths) == 1 or os.path.isfile(root):
        root = os.path.dirname(root)
    tmp = dest.with_name(dest.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    linked = 0
    for p in paths:
        target = tmp / os.path.relpath(p, root)
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            if not os.stat(p).st_mode & 0o004:  # the sandbox uid could not read a link to it: copy
                raise PermissionError(p)
            os.link(p, target)
            linked += 1
        except OSError:
            shutil.copyfile(p, target)
            target.chmod(0o444)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    say(f"{len(paths)} images in {dest} ({linked} hard links, {len(paths) - linked} copies), shown at data/{IMAGES}")

    def rewrite(value: Any) -> Any:
        if not isinstance(value, str) or not value:
            return value
        return ";".join(f"data/{IMAGES}/" + os.path.relpath(p, root) for p in value.split(";"))

    for f in frames.values():
        for c in columns:
            if c in f.columns:
                f[c] = f[c].map(rewrite)


def _positive(labels: pd.Series) -> Any:
    values = sorted(labels.dropna().unique().tolist(), key=str)
    if len(values) != 2:
        raise DataError(f"a binary task needs two label values in the training rows, found {len(values)}: {values[:5]}")
    for cand in (1, True, "1", "yes", "Yes", "true", "True"):
        if cand in values:
            return cand
    return values[-1]


def _produce(task: TaskSpec, raw: Path, public: Path, private: Path, say: Callable[[str], None]) -> None:
    opts = _opts(task)
    splits: Splits = (load_custom(opts.source, opts.dataset_name, say) if isinstance(opts.source, CustomLoader)
                      else load_config(opts.source, raw, say))
    frames = splits.frames
    label = splits.label
    for key, frame in frames.items():
        if label not in frame.columns:
            raise DataError(f"the {key} rows have no label column {label!r} (columns: {', '.join(map(str, frame.columns[:12]))})")
        frames[key] = frame[frame[label].notna()].reset_index(drop=True)
    if "test" not in frames:
        frames["train"], frames["test"] = _carve(frames["train"], opts.test_fraction, opts.seed)
        say(f"no labelled test split: held out {len(frames['test'])} training rows (seed {opts.seed})")
    if "val" not in frames:
        frames["train"], frames["val"] = _carve(frames["train"], opts.val_fraction, opts.seed + 1)
        say(f"no validation split: took {len(frames['val'])} training rows (seed {opts.seed + 1})")
    train = frames["train"]
    if ID in train.columns:
        raise DataError(f"the rows already have a column {ID!r}, which this family adds to data/test.csv")
    if opts.problem_type not in (UNDECIDED, splits.problem_type):
        raise DataError(f"the loader says problem_type {splits.problem_type!r}; the task was listed as {opts.problem_type!r}")
    ptype = splits.problem_type
    task = _decide(task, splits)
    features = [c for c in (splits.feature_columns or list(train.columns)) if c != label and c in train.columns]
    images = [c for c in splits.image_columns if c in features] or infer_images(train[features], [], None)
    text = [c for c in splits.text_columns if c in features] or infer_text(train[features], images)
    numeric = [c for c in features if c not in images and c not in text and pd.api.types.is_numeric_dtype(train[c])]
    categorical = [c for c in features if c not in images and c not in text and c not in numeric]
    frames = {k: f[[*features, label]].copy() for k, f in frames.items()}
    if images:
        _gather_images(frames, images, raw.parent / IMAGES, say)
        (public / IMAGES).mkdir()  # the mount point of the image folder
    metric = METRICS[task.metric]
    positive = _positive(frames["train"][label]) if ptype == "binary" else None
    test = frames["test"].reset_index(drop=True)
    test.insert(0, ID, np.arange(len(test)))
    truth = test[label]
    if metric.kind == "proba":
        truth = (truth == positive).astype(int)
    elif ptype == "regression":
        truth = pd.to_numeric(truth, errors="coerce")
        if truth.isna().any():
            raise DataError(f"the regression label {label!r} has values that are not numbers")
    pd.DataFrame({ID: test[ID], label: truth}).to_csv(private / "answers.csv", index=False)
    frames["train"].to_csv(public / "train.csv", index=False)
    frames["val"].to_csv(public / "val.csv", index=False)
    test.drop(columns=[label]).to_csv(public / "test.csv", index=False)
    known = frames["train"][label]
    guess: Any = 0.5 if metric.kind == "proba" else known.median() if ptype == "regression" else known.mode().iloc[0]
    pd.DataFrame({ID: test[ID], label: guess}).to_csv(public / "sample_submission.csv", index=False)
    info = {"label": label, "id": ID, "problem_type": ptype, "metric": task.metric, "direction": task.direction, "prediction": metric.kind,
            "positive_class": None if positive is None else (positive.item() if hasattr(positive, "item") else positive),
            "image_columns": images, "text_columns": text, "numeric_columns": numeric, "categorical_columns": categorical,
            "rows": {k: len(v) for k, v in frames.items()}}
    (public / "dataset.json").write_text(json.dumps(info, indent=1, default=str))
    (public / "task.json").write_text(json.dumps(_task_json(task, info, frames["train"][label]), indent=1, default=str) + "\n")
    say(f"{len(frames['train'])} train, {len(frames['val'])} validation, {len(test)} test rows; images {images}, text {text}, "
        f"numeric {len(numeric)}, categorical {len(categorical)}")


def _task_json(task: TaskSpec, info: dict[str, Any], labels: pd.Series) -> dict[str, Any]:
    """data/task.json: what a program (the automl agent's script) needs, in the spirit of AMLB's task.json."""
    opts = _opts(task)
    limits = task.limits
    positive = info["positive_class"]
    label, ptype = info["label"], opts.problem_type
    return {
        "layout": "multimodal", "dataset": opts.dataset_name, "target": label, "id": ID, "type": ptype,
        "classes": None if ptype == "regression" else sorted({str(v) for v in labels.dropna()}),
        "positive_class": None if positive is None else str(positive),
        "metrics": [task.metric], "optimised": task.metric, "direction": task.direction, "prediction": info["prediction"],
        "image_columns": info["image_columns"], "text_columns": info["text_columns"],
        "numeric_columns": info["numeric_columns"], "categorical": info["categorical_columns"],
        "files": {"train": "data/train.csv", "val": "data/val.csv", "test": "data/test.csv", "images": f"data/{IMAGES}"},
        "submission": {
            "file": task.submission[0], "columns": [ID, label],
            "format": ("one row per row of data/test.csv: its row_id and " + {
                "proba": f"the probability that {label} is {positive}",
                "number": f"the predicted {label}", "label": f"the predicted {label}"}[info["prediction"]])},
        # The task's limits, not a machine's: one script run may take the smaller of the episode's time and one
        # Execute Script's; cores: null = what the sandbox gives (the limits name none).
        "constraint": {"name": "limits", "max_runtime_seconds": int(min(limits.max_time, limits.exec_timeout)), "cores": None,
                       "max_mem_size_mb": limits.memory_mb},
        "rows": info["rows"],
    }
