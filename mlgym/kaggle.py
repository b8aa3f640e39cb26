"""Preparing a Kaggle-competition task MLE-bench style: hold out part of Kaggle's labelled train.csv.

A task's ``scripts/prepare.py`` is then three lines::

    from mlgym.kaggle import Competition, main
    main(Competition("spaceship-titanic", id_col="PassengerId", target="Transported"), __file__)

Kaggle's own test.csv has no labels, so the hidden test set is a seeded split of train.csv.
Where the competition files come from, first found wins:

1. RAW/ (an earlier download, or files placed there by hand),
2. $MLGYM_KAGGLE_DIR/<competition>/,
3. the Kaggle API (`pip install kaggle`, credentials in ~/.kaggle/kaggle.json or
   KAGGLE_USERNAME/KAGGLE_KEY; the competition's rules must be accepted on kaggle.com),
4. a sibling checkout's shared/data/kaggle/<competition>/ (next to the repository, or next
   to the current directory).

Exit 3 with one line when none has the files.  Writes public/train.csv, public/test.csv
(no target), public/sample_submission.csv and private/answers.csv (id, target).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

EXIT_NEEDS_FILES = 3


@dataclasses.dataclass(frozen=True)
class Competition:
    name: str
    id_col: str
    target: str
    test_fraction: float = 0.2
    seed: int = 2024
    extra_files: tuple[str, ...] = ()  # copied to public/ when present
    group_by_prefix: bool = False  # ids "gggg_pp": a group stays on one side of the split


def has_files(d: Path) -> bool:
    return (d / "train.csv").is_file()


def candidates(c: Competition) -> list[Path]:
    out = []
    if os.environ.get("MLGYM_KAGGLE_DIR"):
        out.append(Path(os.environ["MLGYM_KAGGLE_DIR"]).expanduser() / c.name)
    return out


def shared_candidates(c: Competition, script: Path) -> list[Path]:
    here = script.resolve()
    rel = Path("shared", "data", "kaggle", c.name)
    out = []
    if len(here.parents) > 4:  # <repo>/benchmarks/<task>/scripts/prepare.py -> <repo>/../shared
        out.append(here.parents[4] / rel)
    for cwd in (Path.cwd(), Path(os.environ["PWD"]) if os.environ.get("PWD") else None):
        if cwd is not None:
            out += [cwd / ".." / rel, cwd / rel]
    return out


def kaggle_download(c: Competition, raw: Path) -> str | None:
    """Download with the Kaggle API into raw/; returns why not when it cannot."""
    try:
        from kaggle.api.kaggle_api_extended import KaggleApi  # type: ignore[import-not-found]
    except ImportError:
        return "the kaggle package is not installed"
    except Exception as e:  # noqa: BLE001 - some versions authenticate on import and raise anything
        return f"kaggle: {e}"
    api = KaggleApi()
    try:
        api.authenticate()
    except (Exception, SystemExit) as e:  # noqa: BLE001 - older clients call sys.exit without credentials
        return f"no Kaggle credentials ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
    print(f"downloading {c.name} with the Kaggle API", flush=True)
    try:
        api.competition_download_files(c.name, path=str(raw), quiet=False)
    except Exception as e:  # noqa: BLE001 - network, HTTP 403 (rules not accepted), ...: all mean "not from Kaggle"
        return f"Kaggle download failed ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
    for z in raw.glob("*.zip"):
        with zipfile.ZipFile(z) as zf:
            zf.extractall(raw)
        z.unlink()
    return None if has_files(raw) else "the Kaggle download holds no train.csv"


def locate(c: Competition, raw: Path, script: Path) -> Path:
    if has_files(raw):
        print(f"using the files in {raw}", flush=True)
        return raw
    for d in candidates(c):
        if has_files(d):
            print(f"using the files in {d}", flush=True)
            return d
    why = kaggle_download(c, raw)
    if why is None:
        return raw
    for d in shared_candidates(c, script):
        if has_files(d):
            print(f"using the files in {d.resolve()}", flush=True)
            return d
    print(f"cannot get the {c.name} files ({why}): put train.csv (from "
          f"https://www.kaggle.com/c/{c.name}/data) in {raw} or in $MLGYM_KAGGLE_DIR/{c.name}/ "
          "and run again", file=sys.stderr)
    sys.exit(EXIT_NEEDS_FILES)


def main(c: Competition, script: str | Path, argv: list[str] | None = None) -> None:
    """The whole prepare.py: ``main(Competition(...), __file__)``."""
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", type=Path, required=True)
    ap.add_argument("--public", type=Path, required=True)
    ap.add_argument("--private", type=Path, required=True)
    a = ap.parse_args(argv)
    a.raw.mkdir(parents=True, exist_ok=True)
    src = locate(c, a.raw, Path(script))
    if src != a.raw:  # keep a copy in RAW so later runs need nothing else
        for name in ["train.csv", "test.csv", "sample_submission.csv", *c.extra_files]:
            if (src / name).is_file():
                shutil.copyfile(src / name, a.raw / name)
    train = pd.read_csv(a.raw / "train.csv", dtype=str, keep_default_na=False)  # written back unchanged
    if c.id_col not in train.columns or c.target not in train.columns:
        print(f"{a.raw / 'train.csv'} lacks the {c.id_col} or {c.target} column: is it this competition's file?", file=sys.stderr)
        sys.exit(1)
    rng = np.random.default_rng(c.seed)
    if c.group_by_prefix:
        groups = train[c.id_col].astype(str).str.split("_").str[0].to_numpy()
        uniq = rng.permutation(np.unique(groups))
        held = set(uniq[: round(len(uniq) * c.test_fraction)])
        is_test = np.array([g in held for g in groups])
        test_rows, train_rows = np.flatnonzero(is_test), np.flatnonzero(~is_test)
    else:
        order = rng.permutation(len(train))
        n_test = round(len(train) * c.test_fraction)
        test_rows, train_rows = np.sort(order[:n_test]), np.sort(order[n_test:])
    public_train, test = train.iloc[train_rows], train.iloc[test_rows]
    public_train.to_csv(a.public / "train.csv", index=False)
    test.drop(columns=[c.target]).to_csv(a.public / "test.csv", index=False)
    test[[c.id_col, c.target]].to_csv(a.private / "answers.csv", index=False)
    sample = test[[c.id_col]].copy()
    numeric = pd.to_numeric(public_train[c.target], errors="coerce")
    sample[c.target] = public_train[c.target].mode().iloc[0] if numeric.isna().any() else numeric.median()
    sample.to_csv(a.public / "sample_submission.csv", index=False)
    for name in c.extra_files:
        if (a.raw / name).is_file():
            shutil.copyfile(a.raw / name, a.public / name)
    print(f"wrote {len(public_train)} training and {len(test)} held-out test rows (seed {c.seed})", flush=True)

