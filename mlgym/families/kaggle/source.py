"""Kaggle competition data, MLE-bench style: hold out part of Kaggle's labelled training table.

Used by the Kaggle family (:mod:`mlgym.families.kaggle.family`).  Kaggle's own test.csv has no
labels, so the hidden test set is a seeded split of train.csv (optionally by group, or
stratified).  Where the competition files come from, first found wins:

1. RAW/ (an earlier download, or files placed there by hand),
2. $MLGYM_KAGGLE_DIR/<competition>/,
3. the Kaggle API (`pip install kaggle`, credentials in ~/.kaggle/kaggle.json or
   KAGGLE_USERNAME/KAGGLE_KEY; the competition's rules must be accepted on kaggle.com),
4. a sibling checkout's shared/data/kaggle/<competition>/ (next to the repository, or next
   to the current directory).

Each place may hold the extracted files or ``<competition>.zip`` as ``kaggle competitions
download`` leaves it.  When none has them: :class:`DataError`, one line saying why (no
credentials / rules not accepted / no network) and where to put the files by hand.
Writes public/train.csv, public/test.csv (no target), public/sample_submission.csv,
the extra files, and private/answers.csv (id, targets).
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import shutil
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from mlgym.core.errors import DataError

Say = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class Competition:
    slug: str  # the name in https://www.kaggle.com/c/<slug>
    id_col: str
    targets: tuple[str, ...]
    fraction: float = 0.2  # share of labelled rows held out as the hidden test set
    seed: int = 2024
    group: str | None = None  # rows sharing this column's value stay on one side of the split
    group_sep: str | None = None  # group by the part of the column before this separator ("gggg_pp")
    stratify: str | None = None  # keep this column's class shares in both parts
    extra_files: tuple[str, ...] = ()  # competition files the agent also sees, when present
    train_file: str = "train.csv"


def has_files(c: Competition, d: Path) -> bool:
    return (d / c.train_file).is_file() or (d / f"{c.slug}.zip").is_file()


def _unzip(c: Competition, raw: Path) -> None:
    """``kaggle competitions download`` leaves ``<slug>.zip``; keep its members in raw/."""
    for z in [raw / f"{c.slug}.zip", *(p for p in raw.glob("*.zip") if p.name != f"{c.slug}.zip")]:
        if not z.is_file():
            continue
        try:
            with zipfile.ZipFile(z) as zf:
                for member in zf.infolist():
                    name = Path(member.filename).name  # flat: never outside raw/
                    if member.is_dir() or not name:
                        continue
                    with zf.open(member) as src, open(raw / name, "wb") as dst:
                        shutil.copyfileobj(src, dst)
        except zipfile.BadZipFile:
            raise DataError(f"{z} is not a valid zip file; delete it and run again") from None
        z.unlink()


def _first_line(e: BaseException) -> str:
    text = str(e).strip()
    return text.splitlines()[0][:200] if text else type(e).__name__


def download(c: Competition, raw: Path, say: Say) -> str | None:
    """Download with the Kaggle API into raw/; returns why not (one line) when it cannot."""
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            from kaggle.api.kaggle_api_extended import KaggleApi  # type: ignore[import-not-found,import-untyped,unused-ignore]
    except ImportError:
        return "the kaggle package is not installed: pip install kaggle"
    except (Exception, SystemExit) as e:  # noqa: BLE001 - older clients authenticate on import
        return f"no Kaggle credentials ({_first_line(e)}): put kaggle.json from kaggle.com/settings in ~/.kaggle/"
    api = KaggleApi()
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the client prints its help on failure
            api.authenticate()
    except (Exception, SystemExit):  # noqa: BLE001 - the client calls exit(1) without credentials
        return ("no Kaggle credentials: put kaggle.json from kaggle.com/settings (API token) in ~/.kaggle/ "
                "or set KAGGLE_USERNAME and KAGGLE_KEY")
    say(f"downloading {c.slug} with the Kaggle API")
    try:
        with contextlib.redirect_stdout(io.StringIO()):
            api.competition_download_files(c.slug, path=str(raw), quiet=True)
    except Exception as e:  # noqa: BLE001 - classified below; every failure means "not from Kaggle"
        status = getattr(getattr(e, "response", None), "status_code", None) or getattr(e, "status", None)
        if status in (401, 403):
            return (f"Kaggle refused the download (HTTP {status}): accept the competition's rules at "
                    f"https://www.kaggle.com/c/{c.slug}/rules with the account of your API token")
        if status == 404:
            return f"Kaggle has no competition {c.slug!r} (HTTP 404): check the slug"
        if isinstance(e, OSError) or "connect" in type(e).__name__.lower() or "connect" in str(e).lower():
            return f"cannot reach kaggle.com ({_first_line(e)}): check the network or proxy settings"
        return f"the Kaggle download failed ({_first_line(e)})"
    _unzip(c, raw)
    return None if (raw / c.train_file).is_file() else f"the Kaggle download holds no {c.train_file}"


def locate(c: Competition, raw: Path, *, elsewhere: list[Path], say: Say) -> None:
    """Get the competition files into raw/ (see the module docstring for the order)."""
    _unzip(c, raw)
    if (raw / c.train_file).is_file():
        say(f"using the files in {raw}")
        return
    env = os.environ.get("MLGYM_KAGGLE_DIR")
    first = [Path(env).expanduser() / c.slug] if env else []
    why = None
    for d in [*first, None, *elsewhere]:
        if d is None:  # between the user's own folder and the sibling checkout: Kaggle itself
            why = download(c, raw, say)
            if why is None:
                return
            continue
        if has_files(c, d):
            say(f"using the files in {d.resolve()}")
            for p in d.iterdir():
                if p.is_file():
                    shutil.copyfile(p, raw / p.name)  # keep a copy in RAW so later runs need nothing else
            _unzip(c, raw)
            if (raw / c.train_file).is_file():
                return
    raise DataError(
        f"cannot get the {c.slug} files ({why}); or put {c.train_file} (from https://www.kaggle.com/c/{c.slug}/data) "
        f"or {c.slug}.zip in {raw} or in $MLGYM_KAGGLE_DIR/{c.slug}/ and run again"
    )


def split(c: Competition, raw: Path, public: Path, private: Path, say: Say) -> None:
    """The seeded hold-out: public train/test/sample_submission and private answers."""
    train = pd.read_csv(raw / c.train_file, dtype=str, keep_default_na=False)  # written back unchanged
    lacking = [col for col in (c.id_col, *c.targets, c.group, c.stratify) if col and col not in train.columns]
    if lacking:
        raise DataError(f"{raw / c.train_file} lacks the column(s) {', '.join(lacking)}: is it this competition's file?")
    rng = np.random.default_rng(c.seed)
    if c.group:
        keys = train[c.group].astype(str)
        groups = (keys.str.split(c.group_sep).str[0] if c.group_sep else keys).to_numpy()
        uniq = rng.permutation(np.unique(groups))
        held = set(uniq[: round(len(uniq) * c.fraction)])
        is_test = np.array([g in held for g in groups])
    elif c.stratify:
        is_test = np.zeros(len(train), dtype=bool)
        for _, rows in sorted(train.groupby(c.stratify).indices.items()):
            pick = rng.permutation(rows)[: round(len(rows) * c.fraction)]
            is_test[pick] = True
    else:
        order = rng.permutation(len(train))
        is_test = np.zeros(len(train), dtype=bool)
        is_test[order[: round(len(train) * c.fraction)]] = True
    public_train, test = train[~is_test], train[is_test]
    public_train.to_csv(public / "train.csv", index=False)
    test.drop(columns=list(c.targets)).to_csv(public / "test.csv", index=False)
    test[[c.id_col, *c.targets]].to_csv(private / "answers.csv", index=False)
    sample = test[[c.id_col]].copy()
    for t in c.targets:
        numeric = pd.to_numeric(public_train[t], errors="coerce")
        sample[t] = public_train[t].mode().iloc[0] if numeric.isna().any() else numeric.median()
    sample.to_csv(public / "sample_submission.csv", index=False)
    for name in c.extra_files:
        if (raw / name).is_file():
            shutil.copyfile(raw / name, public / name)
    say(f"wrote {len(public_train)} training and {len(test)} held-out test rows (seed {c.seed})")


def shared_places(c: Competition, near: Path | None) -> list[Path]:
    """``shared/data/kaggle/<slug>`` beside the checkout holding ``near``, or beside the current directory."""
    rel = Path("shared", "data", "kaggle", c.slug)
    out = []
    if near is not None and len(near.parents) > 2:  # <repo>/benchmarks/<entry>.yaml -> <repo>/../shared
        out.append(near.parents[2] / rel)
    for cwd in (Path.cwd(), Path(os.environ["PWD"]) if os.environ.get("PWD") else None):
        if cwd is not None:
            out += [cwd / ".." / rel, cwd / rel]
    return out
