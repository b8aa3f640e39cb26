#!/usr/bin/env python3
"""A stand-in for the ``kaggle`` command, put first on PATH while MLAgentBench's prepare.py runs.

Serves ``kaggle competitions download [-c] SLUG [-p DIR | -w] [-f FILE] [--unzip] [-o] [-q]``
(also ``kaggle c download``) the way the real client leaves its result: ``<DIR or cwd>/<SLUG>.zip``
(the whole competition) or ``<DIR>/<FILE>`` (one file), so prepare.py's own ``unzip`` / ``rm`` /
split run unchanged.  Where the files come from, first found wins:

1. ``$MLGYM_KAGGLE_DIR/<SLUG>/``: ``<SLUG>.zip`` as Kaggle serves it, or the extracted files
   (zipped here, paths relative to that folder, so ``example_test_files/...`` stays a folder);
2. the real ``kaggle`` found on ``$MLGYM_KAGGLE_REAL_PATH`` (the PATH without this shim), given
   the same arguments (it needs credentials and the competition's rules accepted);
3. otherwise exit 1 with one line naming the competition and where its files go.

Every call appends one JSON line to ``$MLGYM_KAGGLE_LOG`` (when set): ``{"slug", "ok",
"source", "why"}``, so the harness can name the missing download even though prepare.py
ignores the exit status and fails later on a missing train.csv.  Standard library only.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

SHIM_MARK = "MLGYM_KAGGLE_SHIM"  # set in the environment of the real client we call, so it never calls us back


def _log(**rec: object) -> None:
    path = os.environ.get("MLGYM_KAGGLE_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(rec) + "\n")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="kaggle", add_help=True)
    sub = p.add_subparsers(dest="group")
    comp = sub.add_parser("competitions", aliases=["c"])
    csub = comp.add_subparsers(dest="command")
    d = csub.add_parser("download")
    d.add_argument("competition", nargs="?", default=None)
    d.add_argument("-c", "--competition", dest="competition_opt", default=None)
    d.add_argument("-f", "--file", dest="file_name", default=None)
    d.add_argument("-p", "--path", dest="path", default=None)
    d.add_argument("-w", "--wp", dest="path", action="store_const", const=".")
    d.add_argument("--unzip", action="store_true")
    d.add_argument("-o", "--force", action="store_true")
    d.add_argument("-q", "--quiet", action="store_true")
    return p


def zip_folder(src: Path, out: Path) -> None:
    """Zip every regular file under ``src`` (relative paths, sorted, fixed timestamps) into ``out``."""
    tmp = out.with_name(out.name + ".part")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for f in sorted(p for p in src.rglob("*") if p.is_file() and not p.is_symlink()):
            info = zipfile.ZipInfo(f.relative_to(src).as_posix(), date_time=(2020, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            with open(f, "rb") as fh, zf.open(info, "w") as dst:
                shutil.copyfileobj(fh, dst, 1 << 20)
    tmp.replace(out)


def _from_dir(slug: str, src: Path, dest: Path, file_name: str | None, quiet: bool, force: bool) -> str | None:
    """Serve from a local folder; returns why not, or None when done."""
    zipped = src / f"{slug}.zip"
    if file_name:
        cand = src / file_name
        if cand.is_file():
            out = dest / Path(file_name).name
            if not quiet:
                print(f"Downloading {out.name} to {dest}")
            shutil.copyfile(cand, out)
            return None
        if zipped.is_file():
            with zipfile.ZipFile(zipped) as zf:
                if file_name in zf.namelist():
                    out = dest / Path(file_name).name
                    with zf.open(file_name) as s, open(out, "wb") as d:
                        shutil.copyfileobj(s, d)
                    return None
        return f"{src} has no {file_name}"
    out = dest / f"{slug}.zip"
    if out.is_file() and not force:
        if not quiet:
            print(f"{out.name}: Skipping, found more recently modified local copy (use --force to force download)")
        return None
    if not quiet:
        print(f"Downloading {out.name} to {dest}")
    if zipped.is_file():
        shutil.copyfile(zipped, out)
    elif any(p.is_file() for p in src.iterdir()):
        zip_folder(src, out)
    else:
        return f"{src} is empty"
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = _parser().parse_args(argv)
    if args.group not in ("competitions", "c") or args.command != "download":
        print("kaggle (mlgym stand-in): only `kaggle competitions download` is served here; "
              "MLAgentBench's prepare.py needs nothing else", file=sys.stderr)
        return 2
    slug = args.competition or args.competition_opt
    if not slug:
        print("kaggle (mlgym stand-in): no competition given", file=sys.stderr)
        return 2
    dest = Path(args.path or ".").resolve()
    dest.mkdir(parents=True, exist_ok=True)
    tried: list[str] = []
    root = os.environ.get("MLGYM_KAGGLE_DIR")
    if root:
        src = Path(root).expanduser() / slug
        if src.is_dir():
            why = _from_dir(slug, src, dest, args.file_name, args.quiet, args.force)
            if why is None:
                print(f"kaggle (mlgym stand-in): served {slug} from {src}", file=sys.stderr)
                if args.unzip and not args.file_name:
                    with zipfile.ZipFile(dest / f"{slug}.zip") as zf:
                        zf.extractall(dest)
                    (dest / f"{slug}.zip").unlink()
                _log(slug=slug, ok=True, source=str(src), why=None)
                return 0
            tried.append(why)
        else:
            tried.append(f"no folder {src}")
    else:
        tried.append("MLGYM_KAGGLE_DIR is not set")
    real = None if os.environ.get(SHIM_MARK) else shutil.which("kaggle", path=os.environ.get("MLGYM_KAGGLE_REAL_PATH", ""))
    if real:
        env = dict(os.environ, **{SHIM_MARK: "1"})
        proc = subprocess.run([real, *argv], env=env, capture_output=True, text=True)
        sys.stdout.write(proc.stdout)
        sys.stderr.write(proc.stderr)
        if proc.returncode == 0 and (args.file_name or (dest / f"{slug}.zip").is_file()):
            _log(slug=slug, ok=True, source="kaggle.com", why=None)
            return 0
        last = (proc.stderr.strip() or proc.stdout.strip() or f"exit {proc.returncode}").splitlines()[-1][:200]
        tried.append(f"the Kaggle client failed: {last}")
    else:
        tried.append("no kaggle client installed")
    where = f"$MLGYM_KAGGLE_DIR/{slug}/" if root else f"a folder <dir>/{slug}/ and set MLGYM_KAGGLE_DIR=<dir>"
    why = (f"cannot get the Kaggle competition {slug} ({'; '.join(tried)}): put its files or {slug}.zip "
           f"(from https://www.kaggle.com/competitions/{slug}/data) in {where}")
    print(f"kaggle (mlgym stand-in): {why}", file=sys.stderr)
    _log(slug=slug, ok=False, source=None, why=why)
    return 1


if __name__ == "__main__":
    sys.exit(main())
