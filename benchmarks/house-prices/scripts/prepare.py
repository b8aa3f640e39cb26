"""Prepare a Kaggle-competition task MLE-bench style: hold out part of Kaggle's labelled train.csv.

    python prepare.py --raw RAW --public PUB --private PRIV

Kaggle's own test.csv has no labels, so the hidden test set is a seeded split of train.csv.
Where the competition files come from, first found wins:

1. RAW/ (an earlier download, or files placed there by hand),
2. $MLGYM_KAGGLE_DIR/<competition>/,
3. the Kaggle API (`pip install kaggle`, credentials in ~/.kaggle/kaggle.json or
   KAGGLE_USERNAME/KAGGLE_KEY; the competition's rules must be accepted on kaggle.com),
4. a sibling checkout's shared/data/kaggle/<competition>/ (next to the repository, or next
   to the current directory).

Exit 3 with one line when none has the files.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

COMPETITION = "house-prices-advanced-regression-techniques"
ID, TARGET = "Id", "SalePrice"
TEST_FRACTION, SEED = 0.2, 2024
EXTRA_FILES = ["data_description.txt"]  # copied to public/ when present
GROUP = None  # rows are independent
EXIT_NEEDS_FILES = 3


def has_files(d: Path) -> bool:
    return (d / "train.csv").is_file()


def candidates() -> list[Path]:
    out = []
    if os.environ.get("MLGYM_KAGGLE_DIR"):
        out.append(Path(os.environ["MLGYM_KAGGLE_DIR"]).expanduser() / COMPETITION)
    return out


def shared_candidates() -> list[Path]:
    here = Path(__file__).resolve()
    rel = Path("shared", "data", "kaggle", COMPETITION)
    out = []
    if len(here.parents) > 4:  # <repo>/benchmarks/<task>/scripts/prepare.py -> <repo>/../shared
        out.append(here.parents[4] / rel)
    for cwd in (Path.cwd(), Path(os.environ["PWD"]) if os.environ.get("PWD") else None):
        if cwd is not None:
            out += [cwd / ".." / rel, cwd / rel]
    return out


def kaggle_download(raw: Path) -> str | None:
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
    print(f"downloading {COMPETITION} with the Kaggle API", flush=True)
    try:
        api.competition_download_files(COMPETITION, path=str(raw), quiet=False)
    except Exception as e:  # noqa: BLE001 - network, HTTP 403 (rules not accepted), ...: all mean "not from Kaggle"
        return f"Kaggle download failed ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
    for z in raw.glob("*.zip"):
        with zipfile.ZipFile(z) as zf:
            zf.extractall(raw)
        z.unlink()
    return None if has_files(raw) else "the Kaggle download holds no train.csv"


def locate(raw: Path) -> Path:
    if has_files(raw):
        print(f"using the files in {raw}", flush=True)
        return raw
    for d in candidates():
        if has_files(d):
            print(f"using the files in {d}", flush=True)
            return d
    why = kaggle_download(raw)
    if why is None:
        return raw
    for d in shared_candidates():
        if has_files(d):
            print(f"using the files in {d.resolve()}", flush=True)
            return d
    print(f"cannot get the {COMPETITION} files ({why}): put train.csv (from "
          f"https://www.kaggle.com/c/{COMPETITION}/data) in {raw} or in $MLGYM_KAGGLE_DIR/{COMPETITION}/ "
          "and run again", file=sys.stderr)
    sys.exit(EXIT_NEEDS_FILES)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", type=Path, required=True)
    ap.add_argument("--public", type=Path, required=True)
    ap.add_argument("--private", type=Path, required=True)
    a = ap.parse_args()
    a.raw.mkdir(parents=True, exist_ok=True)
    src = locate(a.raw)
    if src != a.raw:  # keep a copy in RAW so later runs need nothing else
        for name in ["train.csv", "test.csv", "sample_submission.csv", *EXTRA_FILES]:
            if (src / name).is_file():
                shutil.copyfile(src / name, a.raw / name)
    train = pd.read_csv(a.raw / "train.csv", dtype=str, keep_default_na=False)  # written back unchanged
    if ID not in train.columns or TARGET not in train.columns:
        print(f"{a.raw / 'train.csv'} lacks the {ID} or {TARGET} column: is it this competition's file?", file=sys.stderr)
        sys.exit(1)
    rng = np.random.default_rng(SEED)
    if GROUP:
        groups = train[ID].astype(str).str.split("_").str[0].to_numpy()
        uniq = rng.permutation(np.unique(groups))
        held = set(uniq[: round(len(uniq) * TEST_FRACTION)])
        is_test = np.array([g in held for g in groups])
        test_rows, train_rows = np.flatnonzero(is_test), np.flatnonzero(~is_test)
    else:
        order = rng.permutation(len(train))
        n_test = round(len(train) * TEST_FRACTION)
        test_rows, train_rows = np.sort(order[:n_test]), np.sort(order[n_test:])
    public_train, test = train.iloc[train_rows], train.iloc[test_rows]
    public_train.to_csv(a.public / "train.csv", index=False)
    test.drop(columns=[TARGET]).to_csv(a.public / "test.csv", index=False)
    test[[ID, TARGET]].to_csv(a.private / "answers.csv", index=False)
    sample = test[[ID]].copy()
    numeric = pd.to_numeric(public_train[TARGET], errors="coerce")
    sample[TARGET] = public_train[TARGET].mode().iloc[0] if numeric.isna().any() else numeric.median()
    sample.to_csv(a.public / "sample_submission.csv", index=False)
    for name in EXTRA_FILES:
        if (a.raw / name).is_file():
            shutil.copyfile(a.raw / name, a.public / name)
    print(f"wrote {len(public_train)} training and {len(test)} held-out test rows (seed {SEED})", flush=True)


if __name__ == "__main__":
    main()
