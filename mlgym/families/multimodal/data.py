"""Where a multimodal dataset comes from: AutoGluon-Bench's dataset configs, its registry, custom loaders.

Three sources give the same thing, a :class:`Splits` (one DataFrame per split plus which
columns are images, text, label):

* a **dataset config** in AutoGluon-Bench's format (its ``vision_datasets.yaml`` /
  ``text_tabular_datasets.yaml`` keys, taken as they are): ``url`` (``{name}``/``{split}``
  filled in; one archive, or one table per split), ``splits``, ``feature_columns``,
  ``label_columns``, ``image_columns`` / ``image_path``, ``annotation``, ``metric``,
  ``problem_type``, ``text_columns``, ``ignore_columns`` / ``columns_to_drop``,
  ``test_split_name``, and the text datasets' ``data_columns``, ``data_sep``, ``langs``,
  ``shots``, ``seeds``, ``subsample_path``, ``subsample_splits`` (accepted; the ones that
  only steer AutoGluon-Bench's few-shot sampling are recorded, not applied);
* a **registered name** (:data:`REGISTRY`: AutoGluon-Bench's built-in multimodal datasets,
  downloaded from its public bucket with their SHA-1 sums);
* a **custom loader**: ``Cls(dataset_name=..., split=s, **kwargs)`` for s in train / val /
  test, reading ``.data``, ``.problem_type``, ``.metric``, ``.feature_columns``,
  ``.label_columns`` and, when present, ``.image_columns`` / ``.text_columns``.

URLs: ``http(s)://``, ``s3://bucket/key`` (public buckets, fetched over HTTPS), a local
path or ``file://``, or ``mlgym-builtin://NAME`` (an archive built here from package-shipped
content by :mod:`mlgym.families.multimodal.builtin`, in a downloaded dataset's layout).
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import inspect
import os
import shutil
import sys
import tarfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from typing import Any, Callable, cast

import pandas as pd

from mlgym.core.errors import DataError, TaskError

Say = Callable[[str], None]

# AutoGluon-Bench's dataset-config keys (every one accepted; see the module docstring)
CONFIG_KEYS = (
    "url", "splits", "feature_columns", "label_columns", "image_columns", "image_path", "annotation", "metric",
    "problem_type", "text_columns", "columns_to_drop", "ignore_columns", "test_split_name", "data_columns",
    "data_sep", "langs", "shots", "seeds", "subsample_path", "subsample_splits", "sha1sum",
)
PROBLEM_TYPES = ("binary", "multiclass", "regression")
# AutoGluon's metric names -> the metric library's (mlgym.core.metrics); our own names pass as they are
AG_METRICS = {
    "acc": "accuracy", "accuracy": "accuracy", "balanced_accuracy": "balanced_accuracy", "roc_auc": "auc",
    "log_loss": "log_loss", "f1": "f1", "f1_macro": "f1_macro", "r2": "r2", "rmse": "rmse",
    "root_mean_squared_error": "rmse", "mae": "mae", "mean_absolute_error": "mae", "quadratic_kappa": "quadratic_weighted_kappa",
}
# AutoGluon-Bench's similarity problems score a match probability: a binary task here
SIMILARITY = {"text_similarity": "binary", "image_similarity": "binary"}
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp")
BUCKET = "https://automl-mm-bench.s3.amazonaws.com/"  # AutoGluon-Bench's public dataset bucket


MIRROR_VARS = ("AUTOGLUON_BENCH_REPO", "AUTO_MM_BENCH_REPO")  # AutoGluon-Bench's name (utils/dataset_utils.py), then mlgym's old one


def repo_url(url: str) -> str:
    """AutoGluon-Bench's ``AUTOGLUON_BENCH_REPO`` (or the older ``AUTO_MM_BENCH_REPO``) points the registered
    datasets at a mirror of its bucket."""
    mirror = next((os.environ[v] for v in MIRROR_VARS if os.environ.get(v)), None)
    if mirror and url.startswith(BUCKET):
        return mirror.rstrip("/") + "/" + url[len(BUCKET):]
    return url


def ag_metric(name: str) -> str:
    return AG_METRICS.get(name, name)


def problem_type(name: str) -> str:
    return SIMILARITY.get(name, name)


@dataclasses.dataclass(frozen=True)
class DatasetConfig:
    """One dataset of an AutoGluon-Bench dataset config (after YAML anchors are merged)."""

    name: str
    url: str
    splits: tuple[str, ...]
    label_columns: tuple[str, ...]
    metric: str
    problem_type: str
    feature_columns: tuple[str, ...] | None = None
    image_columns: tuple[str, ...] | None = None
    text_columns: tuple[str, ...] | None = None
    drop_columns: tuple[str, ...] = ()
    annotation: str | None = None
    image_path: str | None = None
    test_split_name: str = "test"
    data_columns: tuple[str, ...] | None = None
    data_sep: str | None = None
    sha1: dict[str, str] = dataclasses.field(default_factory=dict)  # file name -> SHA-1 (registered datasets)
    size: str | None = None  # what a download weighs, when known
    extra: tuple[tuple[str, str], ...] = ()  # accepted keys kept as given (langs, shots, seeds, subsample_*)
    base: Path | None = None  # the folder relative URLs are read from (the config file's)


@dataclasses.dataclass
class Splits:
    """The rows of each split and what the columns are."""

    frames: dict[str, pd.DataFrame]  # "train", "val" (optional), "test"
    label: str
    image_columns: list[str]
    text_columns: list[str]
    problem_type: str
    metric: str
    feature_columns: list[str] | None = None


def _strs(value: Any, where: str, key: str) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(v, str) and v for v in items):
        raise TaskError(f"{where}: {key}: expected a column name or a list of them, got {value!r}")
    return tuple(items)


def read_config(path: Path, name: str) -> DatasetConfig:
    """The entry ``name`` of an AutoGluon-Bench dataset config file (one line on any mistake)."""
    import yaml

    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as e:
        raise TaskError(f"{path}: cannot read the dataset config ({e.strerror})") from None
    except yaml.YAMLError as e:
        raise TaskError(f"{path}: not valid YAML: {e}".splitlines()[0]) from None
    if not isinstance(raw, dict) or not isinstance(raw.get(name), dict):
        known = ", ".join(k for k, v in (raw or {}).items() if isinstance(v, dict) and k != "base") if isinstance(raw, dict) else ""
        raise TaskError(f"{path}: no dataset {name!r} in this dataset config; it has: {known or 'none'}")
    return config_from(raw[name], name, f"{path}: {name}", path.parent)


def config_from(entry: dict[str, Any], name: str, where: str, base: Path | None) -> DatasetConfig:
    for key in entry:
        if key not in CONFIG_KEYS:
            raise TaskError(f"{where}.{key}: unknown dataset-config key; known (AutoGluon-Bench's): {', '.join(CONFIG_KEYS)}")
    for key in ("url", "label_columns", "metric", "problem_type"):
        if entry.get(key) in (None, "", []):
            raise TaskError(f"{where}.{key}: required")
    ptype = problem_type(str(entry["problem_type"]))
    if ptype not in PROBLEM_TYPES:
        raise TaskError(f"{where}.problem_type: {entry['problem_type']!r} is not one this family makes tasks of ({', '.join(PROBLEM_TYPES)})")
    labels = _strs(entry["label_columns"], where, "label_columns") or ()
    if len(labels) != 1:
        raise TaskError(f"{where}.label_columns: give exactly one label column, got {list(labels)}")
    splits = _strs(entry.get("splits", ["train", "test"]), where, "splits") or ()
    test_name = str(entry.get("test_split_name", "test"))
    drop = (_strs(entry.get("columns_to_drop"), where, "columns_to_drop") or ()) + (_strs(entry.get("ignore_columns"), where, "ignore_columns") or ())
    extra = tuple((k, str(entry[k])) for k in ("langs", "shots", "seeds", "subsample_path", "subsample_splits") if entry.get(k) is not None)
    sha = entry.get("sha1sum")
    return DatasetConfig(
        name=name, url=str(entry["url"]), splits=splits, label_columns=labels, metric=ag_metric(str(entry["metric"])),
        problem_type=ptype, feature_columns=_strs(entry.get("feature_columns"), where, "feature_columns"),
        image_columns=_strs(entry.get("image_columns"), where, "image_columns"),
        text_columns=_strs(entry.get("text_columns"), where, "text_columns"), drop_columns=drop,
        annotation=entry.get("annotation"), image_path=entry.get("image_path"), test_split_name=test_name,
        data_columns=_strs(entry.get("data_columns"), where, "data_columns"), data_sep=entry.get("data_sep"),
        sha1=dict(sha) if isinstance(sha, dict) else {}, extra=extra, base=base,
    )


def _reg(name: str, folder: str, files: dict[str, str], label: str, metric: str, ptype: str, *,
         images: tuple[str, ...] | None = None, text: tuple[str, ...] | None = None, drop: tuple[str, ...] = (),
         features: tuple[str, ...] | None = None, sep: str | None = None, archive: str | None = None, base: str = "") -> DatasetConfig:
    """A registered dataset: its files in AutoGluon-Bench's bucket (``files``: file -> SHA-1)."""
    first = next(iter(files))
    per_split = folder + "/" + first.replace("train", "{split}")  # snli/snli_{split}.csv, women_clothing_review/{split}.pq
    url = BUCKET + (archive if archive else per_split)
    return DatasetConfig(
        name=name, url=url, splits=("train", "test"),
        label_columns=(label,), metric=metric, problem_type=ptype, feature_columns=features, image_columns=images,
        text_columns=text, drop_columns=drop, annotation=(base + "/{split}.csv") if archive else None,
        image_path=(base + "/{value}") if archive else None, data_sep=sep, sha1=files,
        size="not recorded here (no network on the machine that registered it); the SHA-1 sums are AutoGluon-Bench's",
    )


# AutoGluon-Bench's built-in multimodal datasets (src/autogluon/bench/datasets/multimodal_dataset.py):
# the same files, the same SHA-1 sums, the same columns, metric and problem type.
REGISTRY: dict[str, DatasetConfig] = {d.name: d for d in [
    _reg("shopee", "shopee", {"shopee.zip": "59dffcfd0921cf0aa97215550dee3d1e3de656ca"}, "label", "accuracy", "multiclass",
         images=("image",), features=("image",), archive="vision_datasets/shopee.zip", base="shopee"),
    _reg("stanford_online", "Stanford_Online_Products", {"Stanford_Online_Products.zip": "4951af1dfcceb54b9b8f2126e995668e1b139cec"},
         "Label", "auc", "binary", images=("Image1", "Image2"), features=("Image1", "Image2"),
         archive="Stanford_Online_Products.zip", base="Stanford_Online_Products"),
    _reg("snli", "snli", {"snli_train.csv": "2ebac97d99112f0817a0070dc48826f08ae2b42b", "snli_test.csv": "87d304ad75b3d64f0f58e316befc7aeba4729b8f"},
         "label", "auc", "binary", text=("premise", "hypothesis"), features=("premise", "hypothesis"), sep="|"),
    _reg("women_clothing_review", "women_clothing_review", {"train.pq": "980023e4c063eae51adafc98482610a9a6a1878b",
                                                            "test.pq": "fbc84f757b8a08210a772613ca8342f3990eb1f7"},
         "Rating", "r2", "regression", features=("Title", "Review Text", "Age", "Division Name", "Department Name", "Class Name")),
    _reg("melbourne_airbnb", "airbnb_melbourne", {"train.pq": "49f7d95df663d1199e6d860102d5863e48765caf",
                                                  "test.pq": "c28611514b659295fe4b345c3995005719499946"},
         "price_label", "accuracy", "multiclass", drop=("id", "listing_url", "scrape_id", "last_scraped", "picture_url", "host_id", "host_url",
                                                        "host_name", "host_thumbnail_url", "host_picture_url", "monthly_price", "weekly_price",
                                                        "price", "calendar_last_scraped")),
    _reg("ae_price_prediction", "ae_price_prediction", {"train.pq": "5b8a6327cc9429176d58af33ca3cc3480fe6c759",
                                                        "test.pq": "7bebcaae48410386f610fd7a9c37ba0e89602858"},
         "price", "r2", "regression", drop=("mrp", "pdp_url")),
    _reg("imdb_genre_prediction", "imdb_genre_prediction", {"train.csv": "56d2d5e3b19663d033fdfb6e33e4eb9c79c67864",
                                                            "test.csv": "0e435e917159542d725d21135cfa514ae936d2c1"},
         "Genre_is_Drama", "auc", "binary"),
    _reg("jc_penney_products", "jc_penney_products", {"train.csv": "b59ce843ad05073a3fccf5ebc4840b3b0649f059",
                                                      "test.csv": "23bca284354deec13a11ef7bd726d35a01eb1332"},
         "sale_price", "r2", "regression"),
    _reg("news_popularity", "news_popularity2", {"train.csv": "390b15e77fa77a2722ce2d459a977034a9565f46",
                                                 "test.csv": "297253bdca18f6aafbaee0262be430126c1f9044"},
         "log_shares", "r2", "regression"),
    _reg("news_channel", "news_channel", {"train.csv": "ab226210b6a878b449d01f33a195014c65c22311", "test.csv": "a71516784ce6e168bd9933e9ec50080f65cb05fd"},
         "channel", "accuracy", "multiclass"),
]}
# Registered there, but not a table-prediction problem: named here so the error says why.
# (src/autogluon/bench/datasets/{multimodal,object_detection}_dataset.py: 12 + 2 = its 14 registered names)
UNSUPPORTED = {
    "flickr30k": "image-text retrieval (every row is a matching pair, scored by recall@k)",
    "mit_movies": "named-entity recognition (per-token labels)",
    "tiny_motorbike": "object detection (VOC boxes scored by mAP; AutoGluon's MultiModalPredictor with mmdet/mmcv)",
    "clipart": "object detection (VOC boxes scored by mAP; AutoGluon's MultiModalPredictor with mmdet/mmcv)",
}


def registered(name: str, where: str) -> DatasetConfig:
    if name in REGISTRY:
        return REGISTRY[name]
    if name in UNSUPPORTED:
        raise TaskError(f"{where}: dataset_name: AutoGluon-Bench's {name} is {UNSUPPORTED[name]}, not a binary, multiclass or regression table")
    raise TaskError(f"{where}: dataset_name: {name!r} is not a registered dataset ({', '.join(REGISTRY)}); "
                    f"give dataset_config_file or custom_dataloader for your own")


# ---------------------------------------------------------------- downloads
def _sha1(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha1").hexdigest()


def fetch(url: str, dest: Path, *, sha1: str | None, base: Path | None, say: Say) -> Path:
    """Get ``url`` into ``dest`` (kept between attempts; a wrong SHA-1 fetches again)."""
    if dest.is_file() and (sha1 is None or _sha1(dest) == sha1):
        return dest
    dest.parent.mkdir(parents=True, exist_ok=True)
    if url.startswith("mlgym-builtin://"):
        from mlgym.families.multimodal.builtin import build_archive

        build_archive(url.removeprefix("mlgym-builtin://"), dest, say)
        return dest
    if url.startswith("s3://"):
        bucket, _, key = url.removeprefix("s3://").partition("/")
        url = f"https://{bucket}.s3.amazonaws.com/{key}"
    if not url.startswith(("http://", "https://")):
        local = Path(url.removeprefix("file://")).expanduser()
        local = local if local.is_absolute() or base is None else base / local
        if not local.exists():
            raise DataError(f"the dataset file {local} does not exist")
        if local.is_dir():
            return local
        shutil.copyfile(local, dest)
        return dest
    say(f"downloading {url}")
    tmp = dest.with_name(dest.name + ".part")
    try:
        opener = urllib.request.build_opener()  # proxies from the environment as it is now (urlopen keeps its first)
        with opener.open(url, timeout=60) as r, open(tmp, "wb") as f:
            shutil.copyfileobj(r, f, 1 << 20)
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        tmp.unlink(missing_ok=True)
        reason = getattr(e, "reason", None) or getattr(e, "strerror", None) or e
        raise DataError(f"cannot download {url} ({reason}); put the file at {dest} by hand and run again") from None
    if sha1 is not None and _sha1(tmp) != sha1:
        tmp.unlink()
        raise DataError(f"{url}: the download's SHA-1 is not the registered {sha1}; run again, or place the right file at {dest}")
    tmp.replace(dest)
    return dest


def _extract(archive: Path, into: Path) -> None:
    """Unpack a zip or tar archive once (a marker file says it is done); members stay inside ``into``."""
    done = into / f".{archive.name}.extracted"
    if done.is_file():
        return
    root = into.resolve()
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as zf:
                for m in zf.infolist():
                    if not (root / m.filename).resolve().is_relative_to(root):
                        raise DataError(f"{archive}: member {m.filename!r} points outside the archive's folder")
                zf.extractall(into)
        elif tarfile.is_tarfile(archive):
            with tarfile.open(archive) as tf:
                tf.extractall(into, filter="data")
        else:
            raise DataError(f"{archive} is neither a zip nor a tar archive")
    except (zipfile.BadZipFile, tarfile.TarError, OSError) as e:
        raise DataError(f"cannot unpack {archive} ({e}); delete it and run again") from None
    done.touch()


def _read_table(path: Path, cfg: DatasetConfig) -> pd.DataFrame:
    try:
        if path.suffix in (".pq", ".parquet"):
            return pd.read_parquet(path)
        sep = cfg.data_sep or ("\t" if path.suffix == ".tsv" else ",")
        header = None if cfg.data_columns else "infer"
        frame = pd.read_csv(path, sep=sep, header=header, names=list(cfg.data_columns) if cfg.data_columns else None)
        return frame.drop(columns=[c for c in frame.columns if str(c).startswith("Unnamed: ")])
    except (OSError, ValueError, ImportError) as e:
        raise DataError(f"cannot read {path}: {str(e).splitlines()[0] if str(e) else type(e).__name__}") from None


def _split_key(split: str, cfg: DatasetConfig) -> str:
    if split in ("validation", "val", "dev") and cfg.test_split_name != split:
        return "val"
    if split == cfg.test_split_name:
        return "test"
    return split


def _expand_paths(value: Any, base: Path) -> Any:
    """AutoGluon-Bench's path expander: ';'-separated relative paths made absolute against ``base``."""
    if not isinstance(value, str) or not value:
        return value
    return ";".join(str((base / p).resolve()) if not os.path.isabs(p) else p for p in value.split(";"))


def load_config(cfg: DatasetConfig, raw: Path, say: Say) -> Splits:
    """Download (or build) and read a dataset config's splits; image paths made absolute."""
    frames: dict[str, pd.DataFrame] = {}
    if "{split}" in cfg.url:
        for split in cfg.splits:
            url = repo_url(cfg.url.format(name=cfg.name, split=split))
            fname = url.rsplit("/", 1)[-1]
            sha = cfg.sha1.get(f"{cfg.name}_{fname}") or cfg.sha1.get(fname)
            frames[_split_key(split, cfg)] = _read_table(fetch(url, raw / fname, sha1=sha, base=cfg.base, say=say), cfg)
        image_base = raw
    else:
        url = repo_url(cfg.url.format(name=cfg.name))
        fname = url.rsplit("/", 1)[-1] or cfg.name
        fname = fname if Path(fname).suffix else fname + ".zip"
        got = fetch(url, raw / fname, sha1=cfg.sha1.get(fname), base=cfg.base, say=say)
        if got.is_dir():
            dataset_dir = got
        else:
            _extract(got, raw)  # AutoGluon-Bench's archives hold one folder named as the dataset (or the archive)
            stem = fname.split(".")[0]
            dataset_dir = next((d for d in (raw / cfg.name, raw / stem) if d.is_dir()), raw)
        annotation = cfg.annotation or "{split}.csv"
        for split in cfg.splits:
            table = dataset_dir / annotation.format(name=cfg.name, split=split)
            if not table.is_file():
                raise DataError(f"{cfg.name}: the annotation file {table} is missing (annotation: {annotation!r})")
            frames[_split_key(split, cfg)] = _read_table(table, cfg)
        image_base = dataset_dir
    label = cfg.label_columns[0]
    images = list(cfg.image_columns or ())
    if cfg.image_path is not None and not images:  # vision configs name the image column among the features
        first = next(iter(frames.values()))
        images = [c for c in (cfg.feature_columns or first.columns) if c in first.columns and _names_images(first[c])]
    for key, frame in frames.items():
        split = next((s for s in cfg.splits if _split_key(s, cfg) == key), key)
        base = image_base / (cfg.image_path or "{value}").format(name=cfg.name, split=split, value="")
        for col in images:
            if col in frame.columns:
                frame[col] = frame[col].map(lambda v, b=base: _expand_paths(v, b))
        frame = frames[key] = frame.drop(columns=[c for c in cfg.drop_columns if c in frame.columns])
        if cfg.feature_columns is not None:
            keep = [c for c in (*cfg.feature_columns, label) if c in frame.columns]
            frames[key] = frame[keep]
    return Splits(frames=frames, label=label, image_columns=images, text_columns=list(cfg.text_columns or ()),
                  problem_type=cfg.problem_type, metric=cfg.metric, feature_columns=list(cfg.feature_columns) if cfg.feature_columns else None)


# ---------------------------------------------------------------- custom loaders
@dataclasses.dataclass(frozen=True)
class CustomLoader:
    """AutoGluon-Bench's ``custom_dataloader``: a class in a file of the user's."""

    file: Path
    class_name: str
    kwargs: tuple[tuple[str, Any], ...]  # passed on as given (dataset_config_file made absolute)


def load_custom(loader: CustomLoader, dataset_name: str, say: Say) -> Splits:
    """Instantiate the loader for train / val / test and read what AutoGluon-Bench reads."""
    spec = importlib.util.spec_from_file_location(f"mlgym_user_loader_{abs(hash(str(loader.file)))}", loader.file)
    if spec is None or spec.loader is None:
        raise DataError(f"{loader.file}: not a Python file")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(loader.file.parent))  # its own helpers beside it, as AutoGluon-Bench runs it
    try:
        spec.loader.exec_module(module)
        cls: Any = getattr(module, loader.class_name, None)
        if not inspect.isclass(cls):
            raise DataError(f"{loader.file}: no class {loader.class_name!r}")
        objs: dict[str, Any] = {}
        for split in ("train", "val", "test"):
            say(f"{loader.class_name}(dataset_name={dataset_name!r}, split={split!r})")
            objs[split] = cast(Any, cls)(dataset_name=dataset_name, split=split, **dict(loader.kwargs))
    except DataError:
        raise
    except Exception as e:  # noqa: BLE001 - the user's code: its own error, where it happened, in one line
        hint = ""
        if isinstance(e, ModuleNotFoundError) and (e.name or "").split(".")[0] == "autogluon":
            hint = (" (AutoGluon-Bench's sample loaders import autogluon.bench / autogluon.common, which the multimodal "
                    "task environment does not hold: read the data with pandas/yaml instead, or install them there)")
        raise DataError(f"{loader.file}: {loader.class_name} failed at {_where(e, loader.file)}: {type(e).__name__}: "
                        f"{str(e).splitlines()[0] if str(e) else ''}{hint}") from None
    finally:
        if str(loader.file.parent) in sys.path:
            sys.path.remove(str(loader.file.parent))
    frames = {s: d for s, d in ((s, _attr(o, "data", None)) for s, o in objs.items()) if d is not None}
    for s, f in frames.items():
        if not isinstance(f, pd.DataFrame):
            raise DataError(f"{loader.class_name}(split={s!r}).data is a {type(f).__name__}, not a pandas DataFrame")
    if "train" not in frames:
        raise DataError(f"{loader.class_name}(split='train').data is None: the loader gave no training rows")
    first = objs["train"]
    labels = list(_attr(first, "label_columns") or [])
    if len(labels) != 1:
        raise DataError(f"{loader.class_name}.label_columns must name one column, got {labels}")
    ptype = problem_type(str(_attr(first, "problem_type")))
    if ptype not in PROBLEM_TYPES:
        raise DataError(f"{loader.class_name}.problem_type {ptype!r} is not one of {', '.join(PROBLEM_TYPES)}")
    images = list(_attr(first, "image_columns", None) or [])
    features = _attr(first, "feature_columns", None)
    splits = Splits(frames={s: f.copy() for s, f in frames.items()}, label=labels[0], image_columns=images,
                    text_columns=list(_attr(first, "text_columns", None) or []), problem_type=ptype,
                    metric=ag_metric(str(_attr(first, "metric"))), feature_columns=list(features) if features is not None else None)
    if not splits.image_columns:  # relative image paths are relative to the loader's files
        splits.image_columns = infer_images(splits.frames["train"], [splits.label], loader.file.parent)
    return absolute_images(splits, loader.file.parent)


_MISSING = object()


def _where(exc: BaseException, file: Path | None) -> str:
    """``file:line`` of the deepest frame of ``exc`` in the user's file (else the last frame)."""
    import traceback

    tb = traceback.extract_tb(exc.__traceback__)
    inside = [f for f in tb if file is not None and Path(f.filename).resolve() == file.resolve()] or tb[-1:]
    return f"{inside[-1].filename}:{inside[-1].lineno}" if inside else str(file or "?")


def _attr(obj: Any, name: str, default: Any = _MISSING) -> Any:
    """A property AutoGluon-Bench reads from the loader object; a property that fails says where, in one line."""
    try:
        return getattr(obj, name)
    except AttributeError as e:
        if getattr(e, "name", None) == name and getattr(e, "obj", None) is obj:  # not defined at all
            if default is _MISSING:
                raise DataError(f"the loader {type(obj).__name__} has no .{name} (AutoGluon-Bench reads problem_type, metric, "
                                f"label_columns and data from the loader object)") from None
            return default
        raise DataError(f"the loader's .{name} failed at {_where(e, None)}: AttributeError: {e}") from None
    except Exception as e:  # noqa: BLE001 - a property of the user's that fails
        raise DataError(f"the loader's .{name} failed at {_where(e, None)}: {type(e).__name__}: {e}") from None


def absolute_images(splits: Splits, base: Path) -> Splits:
    for frame in splits.frames.values():
        for col in splits.image_columns:
            if col in frame.columns:
                frame[col] = frame[col].map(lambda v: _expand_paths(v, base))
    return splits


def _names_images(col: pd.Series) -> bool:
    vals = col.dropna().astype(str).head(50)
    return bool(len(vals)) and all(p.lower().endswith(IMAGE_SUFFIXES) for v in vals for p in v.split(";"))


def infer_images(frame: pd.DataFrame, skip: list[str], base: Path | None) -> list[str]:
    """Text columns whose every value names an image file (';' separates several), some of which exist."""
    out = []
    for col in frame.columns:
        if col in skip or not (frame[col].dtype == object or pd.api.types.is_string_dtype(frame[col])):
            continue
        paths = [p for v in frame[col].dropna().astype(str).head(50) for p in v.split(";")]
        if _names_images(frame[col]) and any(
                Path(p).is_file() or (base is not None and (base / p).is_file()) for p in paths):  # the missing ones: an error later
            out.append(col)
    return out


def infer_text(frame: pd.DataFrame, skip: list[str]) -> list[str]:
    """Non-numeric columns that read as free text: many distinct values with spaces in them."""
    out = []
    for col in frame.columns:
        if col in skip or pd.api.types.is_numeric_dtype(frame[col]) or pd.api.types.is_bool_dtype(frame[col]):
            continue
        vals = frame[col].dropna().astype(str)
        if len(vals) and vals.str.contains(" ").mean() > 0.5 and vals.nunique() > max(20, len(vals) // 10):
            out.append(col)
    return out
