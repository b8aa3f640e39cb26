"""AMLB file datasets: every form of a benchmark entry's ``dataset:`` resolved to (train file, test file) of a fold.

Mirrors ``amlb/datasets/file.py`` ``FileLoader._extract_train_test_paths`` and ``fileutils.py``
(openml/automlbenchmark@dfe8d21871e2dec2b7cab6c9fbfe3575ce4dadc6):

* ``dataset: PATH`` / ``dataset: {path: PATH, target, type}``: PATH is a file, a folder, an archive
  (zip / tar, tgz...) or an ``http(s)://`` URL (``s3://`` needs AWS: refused in one line);
* ``dataset: {train: F | [F0, F1..], test: F | [F0, F1..], target}``: one file per fold, fold i = (train[i], test[i]);
* ``dataset: [train_0, test_0, train_1, test_1, ...]``;
* a folder: files found recursively; ``xxx_train.ext``/``xxx_test.ext`` (one fold) or ``xxx_train_N.ext`` /
  ``xxx_test_N.ext`` (N = 0, 1, ...), same ``xxx`` for all (``(?:(.*)[_-])train(?:[_-](\\d+))?\\.\\w+``);
* an archive: unpacked into ``<cache>/<archive name without extension>`` once, then read as a folder;
* a URL: downloaded once to ``<cache>/<task name>/<basename>`` (HEAD must answer 200), then read as above;
* ``{user}``, ``{input}``, ``{root}`` placeholders and ``~``;
* the target: ``target`` (a column name or index), else the first column named ``target`` or ``class``
  (case-insensitive), else the last column; the type: ``type``, else regression for a numeric target of a
  CSV, classification (binary when 2 classes) for a string or ARFF-nominal one.

Plain paths/dicts in, a dataclass out; errors are one line (``FileDataError``).
"""

from __future__ import annotations

import dataclasses
import os
import re
import shutil
import tarfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from mlgym.core.errors import TaskError

TRAIN_PAT = re.compile(r"(?:(.*)[_-])train(?:[_-](\d+))?\.\w+")
TEST_PAT = re.compile(r"(?:(.*)[_-])test(?:[_-](\d+))?\.\w+")
SUPPORTED_EXT = (".csv", ".arff", ".parquet", ".pq")


class FileDataError(TaskError):
    """One line: why a dataset's files cannot be had."""


@dataclasses.dataclass(frozen=True)
class FoldFiles:
    train: Path
    test: Path
    folds: int  # how many folds the dataset has (per-fold lists, numbered files)
    origin: str  # what was resolved, for messages


def is_url(s: str) -> bool:
    return urllib.parse.urlparse(s).scheme in ("http", "https", "s3", "s3a", "s3n")


def is_archive(p: Path) -> bool:
    return zipfile.is_zipfile(p) or tarfile.is_tarfile(p)


def _fmt(s: str, dirs: dict[str, str]) -> str:
    try:
        return os.path.expanduser(s.format(**dirs))
    except (KeyError, IndexError) as e:
        raise FileDataError(f"{s!r}: unknown placeholder {e}; known: {', '.join('{' + k + '}' for k in dirs)}") from None


def _unarchive(p: Path, dest: Path) -> Path:
    if dest.is_dir() and any(dest.iterdir()):  # AMLB: don't uncompress if previously done
        return dest
    tmp = dest.with_name(dest.name + ".part")
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    if zipfile.is_zipfile(p):
        with zipfile.ZipFile(p) as z:
            for m in z.namelist():  # no absolute / parent paths
                if m.startswith("/") or ".." in Path(m).parts:
                    raise FileDataError(f"{p}: archive member {m!r} points outside the archive")
            z.extractall(tmp)
    else:
        with tarfile.open(p) as t:
            t.extractall(tmp, filter="data")
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)
    return dest


def download(url: str, dest: Path, timeout: float = 60.0) -> Path:
    """AMLB's HttpHandler: HEAD must say 200, then GET to dest (kept: a second run does not download again)."""
    scheme = urllib.parse.urlparse(url).scheme
    if scheme.startswith("s3"):
        raise FileDataError(f"{url}: s3:// datasets need AWS credentials (AMLB's S3Handler); "
                            f"download it and give the local path, or its https:// address")
    if dest.is_file():
        return dest
    try:
        with urllib.request.urlopen(urllib.request.Request(url, method="HEAD"), timeout=timeout) as r:
            if r.status != 200:
                raise FileDataError(f"{url}: HEAD answered {r.status}")
        dest.parent.mkdir(parents=True, exist_ok=True)
        part = dest.with_name(dest.name + ".part")
        with urllib.request.urlopen(url, timeout=timeout) as r, open(part, "wb") as fh:
            shutil.copyfileobj(r, fh)
        part.rename(dest)
    except urllib.error.HTTPError as e:
        raise FileDataError(f"{url}: HTTP {e.code} {e.reason}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise FileDataError(f"{url}: cannot download ({reason}); without network, download it elsewhere and give the local path") from None
    return dest


def _paths(ds: Any, dirs: dict[str, str], cache: Path, name: str | None) -> dict[str, list[Path]]:
    """{'train': [...], 'test': [...]}: AMLB's _extract_train_test_paths without the fold shortcut."""
    if isinstance(ds, (list, tuple)):
        if len(ds) % 2:
            raise FileDataError("dataset list must hold an even number of paths: [train_0, test_0, train_1, test_1, ...]")
        return _paths({"train": list(ds[0::2]), "test": list(ds[1::2])}, dirs, cache, name)
    if isinstance(ds, dict):
        if "path" in ds and ("train" in ds or "test" in ds):
            raise FileDataError("dataset: give path, or train and test, not both")
        if "path" in ds:
            return _paths(ds["path"], dirs, cache, name)
        if "train" not in ds:
            raise FileDataError("dataset: give path (file, folder, archive or URL) or train (+ test)")
        out: dict[str, list[Path]] = {"train": [], "test": []}
        for key in ("train", "test"):
            items = ds.get(key)
            items = [] if items is None else [items] if isinstance(items, str) else list(items)
            for it in items:
                got = _paths(it, dirs, cache, name)
                if len(got["train"]) != 1 or got["test"]:
                    raise FileDataError(f"dataset.{key}: {it!r} must be one data file (found {len(got['train'])} train / {len(got['test'])} test)")
                out[key].append(got["train"][0])
        return out
    if not isinstance(ds, str) or not ds:
        raise FileDataError(f"invalid dataset description: {ds!r}")
    s = _fmt(ds, dirs)
    if is_url(s):
        base = os.path.basename(urllib.parse.urlparse(s).path) or "download"
        return _paths(str(download(s, cache / (name or "") / base)), dirs, cache, name)
    p = Path(s)
    if p.is_file():
        if is_archive(p) and p.suffix.lower() not in SUPPORTED_EXT:
            stem = p.name.split(".")[0] if p.name.endswith((".tar.gz", ".tar.bz2", ".tar.xz")) else p.stem
            return _paths(str(_unarchive(p, cache / stem)), dirs, cache, name)
        return {"train": [p], "test": []}
    if p.is_dir():
        files = sorted(str(f) for f in p.rglob("*") if f.is_file() and not f.name.startswith("."))
        if not files:
            raise FileDataError(f"{p}: empty folder")
        if len(files) == 1:
            return {"train": [Path(files[0])], "test": []}
        tr = [m for m in (TRAIN_PAT.search(os.path.basename(f)) for f in files) if m]
        te = [m for m in (TEST_PAT.search(os.path.basename(f)) for f in files) if m]
        full = {os.path.basename(f): f for f in files}
        if not tr or not te:
            raise FileDataError(f"{p}: must hold at least one xxx_train.ext and one xxx_test.ext file")
        roots = {m[1] for m in tr + te}
        if len(roots) != 1:
            raise FileDataError(f"{p}: all files must share one name: xxx_train[_N].ext, xxx_test[_N].ext (found {sorted(map(str, roots))})")
        t0 = next((m[0] for m in tr if m[2] is None), None)
        s0 = next((m[0] for m in te if m[2] is None), None)
        if t0 and s0:
            return {"train": [Path(full[t0])], "test": [Path(full[s0])]}
        out = {"train": [], "test": []}
        fold = 0
        while True:
            a = next((m[0] for m in tr if m[2] == str(fold)), None)
            b = next((m[0] for m in te if m[2] == str(fold)), None)
            if not (a and b):
                break
            out["train"].append(Path(full[a]))
            out["test"].append(Path(full[b]))
            fold += 1
        if not out["train"]:
            raise FileDataError(f"{p}: no fold files: name them xxx_train.ext / xxx_test.ext or xxx_train_0.ext / xxx_test_0.ext, ...")
        return out
    raise FileDataError(f"{s}: no such file, folder or URL")


def resolve(ds: Any, fold: int, *, dirs: dict[str, str], cache: Path, name: str | None = None) -> FoldFiles:
    """The (train, test) files of ``fold``.  Downloads / unpacks at most once into ``cache``."""
    got = _paths(ds, dirs, cache, name)
    n_tr, n_te = len(got["train"]), len(got["test"])
    if n_te == 0:
        raise FileDataError(f"{ds!r}: no test file (a single data file gives train only: add test, or a folder with xxx_test.ext)")
    if n_tr != n_te:
        raise FileDataError(f"{ds!r}: {n_tr} train files but {n_te} test files (one of each per fold)")
    if fold >= n_tr:
        raise FileDataError(f"{ds!r}: fold {fold} asked, the dataset has {n_tr} fold(s)")
    tr, te = got["train"][fold], got["test"][fold]
    for f in (tr, te):
        if f.suffix.lower() not in SUPPORTED_EXT:
            raise FileDataError(f"{f}: unsupported file type {f.suffix!r}; AMLB reads {', '.join(SUPPORTED_EXT[:2])}")
    return FoldFiles(tr, te, n_tr, str(ds))


def folds_of(ds: Any, *, dirs: dict[str, str], cache: Path, name: str | None = None, fetch: bool = False) -> int | None:
    """How many folds a dataset has, without network: None when that needs a download (URL not cached yet)."""
    def has_url(x: Any) -> bool:
        if isinstance(x, str):
            return is_url(_fmt(x, dirs))
        if isinstance(x, dict):
            return any(has_url(v) for k, v in x.items() if k in ("path", "train", "test"))
        if isinstance(x, (list, tuple)):
            return any(has_url(v) for v in x)
        return False
    if isinstance(ds, dict) and "train" in ds:
        tr = ds["train"]
        return 1 if isinstance(tr, str) else len(tr)
    if isinstance(ds, (list, tuple)):
        return len(ds) // 2
    if has_url(ds) and not fetch:
        return None
    got = _paths(ds, dirs, cache, name)
    return len(got["train"])


# ------------------------------------------------------------------ target and type
def read_table(path: Path) -> tuple[Any, dict[str, list[str]]]:
    """(DataFrame, {nominal column: values in order}) for CSV / ARFF / Parquet."""
    import pandas as pd
    if path.suffix.lower() == ".arff":
        import arff  # type: ignore[import-untyped,unused-ignore]  # liac-arff (openml depends on it)
        with open(path) as fh:
            d = arff.load(fh)
        cols = [a[0] for a in d["attributes"]]
        nominal = {a[0]: [str(v) for v in a[1]] for a in d["attributes"] if isinstance(a[1], list)}
        df = pd.DataFrame(d["data"], columns=cols)
        return df, nominal
    if path.suffix.lower() in (".parquet", ".pq"):
        return pd.read_parquet(path), {}
    return pd.read_csv(path), {}


def target_and_type(train: Path, test: Path, target: str | int | None, dtype: str | None) -> tuple[str, str, list[str] | None]:
    """AMLB's FileDatasplit._find_target_feature + FileDataset.type: (target column, binary/multiclass/regression, classes)."""
    import pandas as pd
    tr, nominal = read_table(train)
    te, _ = read_table(test)
    cols = [str(c) for c in tr.columns]
    if isinstance(target, bool):
        raise FileDataError(f"{train}: target: a column name or index, got {target!r}")
    if isinstance(target, int):
        if not -len(cols) <= target < len(cols):
            raise FileDataError(f"{train}: target index {target} out of range ({len(cols)} columns)")
        tgt = cols[target]
    elif isinstance(target, str):
        if target not in cols:
            raise FileDataError(f"{train}: no target column {target!r}; columns: {', '.join(cols)}")
        tgt = target
    else:
        tgt = next((c for c in cols if c.lower() in ("target", "class")), cols[-1])
    y = pd.concat([tr[tgt], te[tgt]]).dropna()
    if dtype == "timeseries":
        raise FileDataError("timeseries datasets are not supported yet")
    is_class = dtype in ("binary", "multiclass", "classification") or (
        dtype is None and (tgt in nominal or not pd.api.types.is_numeric_dtype(y)))
    if not is_class:
        return tgt, "regression", None
    seen = set(y.astype(str))
    classes = [c for c in nominal[tgt] if c in seen] if tgt in nominal else sorted(seen)
    kind = dtype if dtype in ("binary", "multiclass") else ("binary" if len(classes) == 2 else "multiclass")
    return tgt, kind, classes
