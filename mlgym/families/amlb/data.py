"""Data of an AMLB task: one fold of an OpenML task or dataset (through ``openml`` and its cache) or of
an AMLB file dataset (:mod:`mlgym.families.amlb.filedata`: files, per-fold lists, folders, archives, URLs).

:func:`produce` writes ``public/{train,test}.csv`` + ``public/task.json`` (what the agent sees)
and ``private/test_labels.csv`` + ``private/amlb.json`` (what the grader reads).
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from mlgym.core.errors import DataError
from mlgym.families.amlb.config import Task as Entry
from mlgym.families.amlb.options import DEFAULT_METRICS, Options, amlb_metric
from mlgym.tasks.spec import TaskSpec, data_root

SHARED = Path("shared", "data", "amlb")  # AMLB's test resources beside the checkout: <name>_{train,test}.{arff,csv}
SHIPPED = Path(__file__).resolve().parent / "data"  # the same ARFF files, shipped (MIT, data/NOTICE)


@dataclasses.dataclass
class Split:
    train: pd.DataFrame  # features and target
    test: pd.DataFrame
    target: str
    type: str  # binary / multiclass / regression
    classes: list[str] | None  # class labels in the dataset's order (the positive class of a binary task is the second)
    categorical: list[str]
    origin: str


def produce(task: TaskSpec, raw: Path, public: Path, private: Path, say: Callable[[str], None]) -> None:
    opts: Options = task.options
    e = opts.entry
    _check_volume(e, say)
    for key in opts.not_local:
        say(f"constraint {opts.constraint}: {key} applies to AMLB's AWS mode only, not here")
    if e.openml_task_id is not None:
        split = _openml(e, opts.fold, say)
    elif e.openml_data_id is not None:
        split = _openml_dataset(e, opts.fold, say)
    else:
        split = _local(e, opts, say)
    given = {"classification": None}.get(e.type or "", e.type)
    if given is not None and given != split.type:
        raise DataError(f"{e.source}: {e.name}: type {e.type!r} given, but the data is {split.type}")
    if e.type == "classification" and split.type == "regression":
        raise DataError(f"{e.source}: {e.name}: type classification given, but the target is numeric")
    defaults = list(dict(opts.type_metrics).get(split.type) or DEFAULT_METRICS[split.type])
    metrics = list(dict.fromkeys([*(e.metric or []), *defaults]))
    unfit = [m for m in metrics if not _fits(amlb_metric(m), split.type)]
    if unfit:
        raise DataError(f"{e.source}: {e.name}: metric {unfit[0]} does not fit a {split.type} task")
    y_train, y_test = split.train[split.target], split.test[split.target]
    if split.classes is not None:
        y_train, y_test = y_train.astype(str), y_test.astype(str)
    split.train.drop(columns=[split.target]).assign(**{split.target: y_train}).to_csv(public / "train.csv", index=False)
    split.test.drop(columns=[split.target]).to_csv(public / "test.csv", index=False)
    y_test.to_frame(split.target).to_csv(private / "test_labels.csv", index=False)
    info: dict[str, Any] = {
        "benchmark": e.benchmark, "dataset": e.name, "fold": opts.fold, "target": split.target, "type": split.type,
        "classes": split.classes, "positive_class": split.classes[1] if split.type == "binary" and split.classes else None,
        "categorical": split.categorical, "metrics": metrics, "optimised": metrics[0],
        "constraint": {"name": opts.constraint, "max_runtime_seconds": opts.max_runtime_seconds, "cores": opts.cores,
                       "max_mem_size_mb": opts.memory_mb},
        "rows": {"train": len(split.train), "test": len(split.test)}, "source": split.origin,
    }
    (public / "task.json").write_text(json.dumps(info, indent=1) + "\n")
    (private / "amlb.json").write_text(json.dumps({k: info[k] for k in ("target", "type", "classes", "positive_class", "metrics")}) + "\n")
    (raw / "source.txt").write_text(split.origin + "\n")
    say(f"{e.name} fold {opts.fold}: {len(split.train)} train / {len(split.test)} test rows, {split.type}, from {split.origin}")


def _fits(metric: str, kind: str) -> bool:
    from mlgym.core.metrics import METRICS

    if kind == "regression":
        return METRICS[metric].kind == "number"
    if metric == "auc":
        return kind == "binary"
    return METRICS[metric].kind in ("label", "proba", "probas")


# ------------------------------------------------------------------ OpenML
def _openml(e: Entry, fold: int, say: Callable[[str], None]) -> Split:
    tid = e.openml_task_id
    assert tid is not None
    try:
        import openml
    except ImportError:
        return _shared_or(e, fold, say, "the openml package is not installed (pip install openml)")
    retries = openml.config.connection_n_retries
    openml.config.connection_n_retries = 1  # offline: fail in seconds, not after minutes of retries
    try:
        say(f"OpenML task {tid} (cache: {openml.config.get_cache_directory()})")
        task: Any = openml.tasks.get_task(tid, download_splits=True, download_data=True, download_qualities=False,
                                     download_features_meta_data=True)
        train_idx, test_idx = task.get_train_test_split_indices(fold=fold)
        ds = task.get_dataset()
        got: Any = ds.get_data(target=task.target_name)
        X, y, cat, names = got
    except Exception as err:  # noqa: BLE001 - openml raises network, server, cache and parse errors alike
        line = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
        return _shared_or(e, fold, say, f"OpenML task {tid} is neither in the OpenML cache ({openml.config.get_cache_directory()}) "
                                        f"nor downloadable: {line}")
    finally:
        openml.config.connection_n_retries = retries
    frame = X.copy()
    frame[task.target_name] = y
    classes = None
    if isinstance(task, openml.tasks.OpenMLClassificationTask):
        classes = [str(c) for c in (task.class_labels or sorted(y.dropna().astype(str).unique()))]
    categorical = [n for n, c in zip(names, cat) if c]
    return _split(frame.iloc[train_idx].reset_index(drop=True), frame.iloc[test_idx].reset_index(drop=True), task.target_name,
                  classes, categorical, f"OpenML task {tid}, fold {fold}")


def _shared_or(e: Entry, fold: int, say: Callable[[str], None], why: str) -> Split:
    """AMLB's own test resources for fold 0, when OpenML cannot give the task."""
    if fold == 0:
        for d in _shared_places():
            train, test = d / f"{e.name}_train.arff", d / f"{e.name}_test.arff"
            if train.is_file() and test.is_file():
                say(f"{why}; using AMLB's test split in {d}")
                return _files(train, test, None, e.type, f"AMLB test resources {train.name}, {test.name} (fold 0)")
    raise DataError(f"{e.benchmark}/{e.name} fold {fold}: {why}. Fill the OpenML cache on a machine with network "
                    f"(python -c 'import openml; openml.tasks.get_task({e.openml_task_id}, download_splits=True, "
                    f"download_data=True)') and copy it here, or point OPENML_CACHE_DIR at one")


def _shared_places() -> list[Path]:
    checkout = Path(__file__).resolve().parents[3]
    out = [SHIPPED, checkout.parent / SHARED]
    for cwd in (Path.cwd(), Path(os.environ["PWD"]) if os.environ.get("PWD") else None):
        if cwd is not None:
            out += [cwd / ".." / SHARED, cwd / SHARED]
    return out


def _check_volume(e: Entry, say: Callable[[str], None]) -> None:
    import shutil

    if e.min_vol_size_mb > 0:
        root = data_root()
        root.mkdir(parents=True, exist_ok=True)
        free = shutil.disk_usage(root).free // 2**20
        if free < e.min_vol_size_mb:
            say(f"warning: {free} MB free under {root}, the constraint asks for min_vol_size_mb {e.min_vol_size_mb}")


def _openml_dataset(e: Entry, fold: int, say: Callable[[str], None]) -> Split:
    """``openml_data_id``: the dataset through openml-python, folds made here (stratified for classification,
    shuffled, seed 0) since an OpenML dataset has none; AMLB itself needs a task for it."""
    did = e.openml_data_id
    assert did is not None
    try:
        import openml
        from sklearn.model_selection import KFold, StratifiedKFold
    except ImportError:
        raise DataError("openml_data_id needs the openml package (pip install openml)") from None
    retries = openml.config.connection_n_retries
    openml.config.connection_n_retries = 1
    try:
        say(f"OpenML dataset {did} (cache: {openml.config.get_cache_directory()})")
        ds: Any = openml.datasets.get_dataset(did, download_data=True, download_qualities=False,
                                              download_features_meta_data=True)
        target = ds.default_target_attribute
        got: Any = ds.get_data(target=target)
        X, y, cat, names = got
    except Exception as err:  # noqa: BLE001 - openml raises network, server, cache and parse errors alike
        line = (str(err).strip().splitlines() or [type(err).__name__])[0][:300]
        raise DataError(f"{e.source}: {e.name}: OpenML dataset {did} is neither cached nor downloadable: {line}") from None
    finally:
        openml.config.connection_n_retries = retries
    frame = X.copy()
    frame[target] = y
    frame = frame[frame[target].notna()].reset_index(drop=True)
    classes = None
    if not pd.api.types.is_numeric_dtype(frame[target]) or isinstance(frame[target].dtype, pd.CategoricalDtype):
        col = frame[target]
        classes = [str(c) for c in (col.cat.categories if isinstance(col.dtype, pd.CategoricalDtype) else sorted(col.astype(str).unique()))]
    n = max(2, e.folds)
    splitter = StratifiedKFold(n, shuffle=True, random_state=0) if classes else KFold(n, shuffle=True, random_state=0)
    tr, te = list(splitter.split(frame, frame[target].astype(str) if classes else None))[fold]
    categorical = [n_ for n_, c in zip(names, cat) if c]
    return _split(frame.iloc[tr].reset_index(drop=True), frame.iloc[te].reset_index(drop=True), target, classes, categorical,
                  f"OpenML dataset {did}, fold {fold} of mlgym's {n} stratified folds (seed 0)")


# ------------------------------------------------------------------ local files
def _local(e: Entry, opts: Options, say: Callable[[str], None]) -> Split:
    from mlgym.families.amlb import filedata

    cache = data_root() / "amlb-files"
    files = filedata.resolve(e.dataset, opts.fold, dirs=dict(opts.dirs), cache=cache, name=e.name)
    target = e.dataset.get("target") if isinstance(e.dataset, dict) else None
    name, _kind, _classes = filedata.target_and_type(files.train, files.test, target, e.type)
    say(f"file dataset {files.train.name} / {files.test.name}")
    kind = e.type if e.type in ("binary", "multiclass", "regression") else "binary" if e.type == "classification" else None
    return _files(files.train, files.test, name, kind, f"{files.train} and {files.test}")


def _files(train: Path, test: Path, target: str | None, kind: str | None, origin: str) -> Split:
    tr, nominal = _read(train)
    te, _ = _read(test)
    if list(tr.columns) != list(te.columns):
        raise DataError(f"{train} and {test} have different columns")
    target = target or next((c for c in ("target", "class") if c in tr.columns), str(tr.columns[-1]))
    if target not in tr.columns:
        raise DataError(f"{train}: no target column {target!r}; columns: {', '.join(map(str, tr.columns))}")
    classes: list[str] | None = None
    if kind in ("binary", "multiclass") or (kind is None and (target in nominal or not pd.api.types.is_numeric_dtype(tr[target]))):
        seen = set(tr[target].dropna().astype(str)) | set(te[target].dropna().astype(str))
        classes = [c for c in nominal[target] if c in seen] if target in nominal else sorted(seen)
    categorical = [c for c in tr.columns if c != target and (c in nominal or not pd.api.types.is_numeric_dtype(tr[c]))]
    return _split(tr, te, target, classes, categorical, origin)


def _read(path: Path) -> tuple[pd.DataFrame, dict[str, list[str]]]:
    """A CSV, Parquet or ARFF file; ARFF's nominal attributes -> their values in order."""
    try:
        if path.suffix == ".arff":
            import arff  # type: ignore[import-untyped,unused-ignore]  # liac-arff, which openml installs

            with open(path) as fh:
                d = arff.load(fh)
            cols = [a[0] for a in d["attributes"]]
            nominal = {a[0]: [str(v) for v in a[1]] for a in d["attributes"] if isinstance(a[1], list)}
            frame = pd.DataFrame(d["data"], columns=cols)
            for c in cols:
                if c not in nominal:
                    frame[c] = pd.to_numeric(frame[c])
            return frame, nominal
        if path.suffix in (".parquet", ".pq"):
            return pd.read_parquet(path), {}
        return pd.read_csv(path), {}
    except ImportError:
        raise DataError(f"{path}: reading ARFF needs liac-arff (pip install liac-arff)") from None
    except (OSError, ValueError, KeyError) as err:
        raise DataError(f"{path}: cannot read: {str(err).splitlines()[0] if str(err) else type(err).__name__}") from None


def _split(train: pd.DataFrame, test: pd.DataFrame, target: str, classes: list[str] | None, categorical: list[str],
           origin: str) -> Split:
    if classes is None:
        kind = "regression"
    elif len(classes) < 2:
        raise DataError(f"{origin}: the target {target!r} has fewer than two classes")
    else:
        kind = "binary" if len(classes) == 2 else "multiclass"
    if train[target].isna().any() or test[target].isna().any():
        train, test = train[train[target].notna()], test[test[target].notna()]
    return Split(train.reset_index(drop=True), test.reset_index(drop=True), target, kind, classes, categorical, origin)
