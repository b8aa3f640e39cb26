"""Prepare the cifar10 task from the official CIFAR-10 python tarball.

    python prepare.py --raw RAW --public PUB --private PRIV

Gets ``RAW/cifar-10-python.tar.gz`` (a copy placed there by hand is used as it is; else
torchvision's downloader when torchvision is installed; else a resumable urllib download
through ``RAW/cifar-10-python.tar.gz.part``), checks the official md5, extracts it, and writes

    PUB/cifar-10-batches-py/data_batch_1..5, batches.meta   (the official files, unchanged)
    PUB/cifar-10-batches-py/test_batch   (same format, without b"labels"; file names replaced
                                          by test_00000.png.. since the official ones name the class)
    PRIV/test_labels.csv                 (id,label; id = row in test_batch)

Exit 3 with one line when the tarball can be neither found nor downloaded.
Environment: MLGYM_CIFAR10_URL overrides the download address (no torchvision then);
MLGYM_ALLOW_UNOFFICIAL_DATA=1 accepts a tarball whose md5 is not the official one (tests).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import pickle
import shutil
import sys
import tarfile
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

from mlgym.families.folder.py2pickle import Py2Str, py2_pickle

URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
TARBALL = "cifar-10-python.tar.gz"
MD5 = "c58f30108f718f92721af3b95e74349a"
FOLDER = "cifar-10-batches-py"
EXIT_NEEDS_FILES = 3


class NeedsFiles(Exception):
    pass


def md5sum(path: Path) -> str:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def download(url: str, target: Path) -> None:
    """Download url to target through target.part, resuming a partial .part with a Range request."""
    part = target.with_name(target.name + ".part")
    have = part.stat().st_size if part.exists() else 0
    req = urllib.request.Request(url, headers={"User-Agent": "mlgym-prepare"})
    if have:
        req.add_header("Range", f"bytes={have}-")
    try:
        resp = urllib.request.urlopen(req, timeout=60)
    except urllib.error.HTTPError as e:
        if e.code == 416 and have:  # the .part is already complete
            part.replace(target)
            return
        raise NeedsFiles(f"cannot download {url}: HTTP {e.code} {e.reason}") from None
    except (TimeoutError, urllib.error.URLError, OSError) as e:
        reason = getattr(e, "reason", e)
        raise NeedsFiles(f"cannot download {url} (network unreachable: {reason})") from None
    with resp:
        if have and resp.status != 206:  # server ignored Range: start over
            have = 0
        total = resp.headers.get("Content-Length")
        total = int(total) + have if total else None
        if have:
            print(f"resuming download at {have / 1e6:.1f} MB", flush=True)
        else:
            print(f"downloading {url}" + (f" ({total / 1e6:.1f} MB)" if total else ""), flush=True)
        done, next_report = have, 0.05
        try:
            with open(part, "ab" if have else "wb") as f:
                while True:
                    block = resp.read1(1 << 16)  # what has arrived, so a stalled server still shows progress
                    if not block:
                        break
                    f.write(block)
                    f.flush()
                    done += len(block)
                    if total and done / total >= next_report:
                        print(f"downloaded {done / total:4.0%} ({done / 1e6:.1f} of {total / 1e6:.1f} MB)", flush=True)
                        next_report = (int(done / total * 20) + 1) / 20
        except (TimeoutError, urllib.error.URLError, OSError) as e:
            raise NeedsFiles(f"download of {url} interrupted at {done / 1e6:.1f} MB ({e}); run again to resume") from None
    if total and done < total:
        raise NeedsFiles(f"download of {url} stopped at {done / 1e6:.1f} of {total / 1e6:.1f} MB; run again to resume")
    part.replace(target)


def fetch(raw: Path) -> Path:
    target = raw / TARBALL
    if target.exists():
        print(f"using {target}", flush=True)
        return target
    url = os.environ.get("MLGYM_CIFAR10_URL")
    if not url and not (raw / (TARBALL + ".part")).exists():
        try:
            from torchvision.datasets import CIFAR10  # type: ignore[import-not-found]
        except ImportError:
            CIFAR10 = None
        if CIFAR10 is not None:
            # A folder of its own: a download torchvision leaves half done is never taken for a
            # tarball placed by hand (torchvision checks and restarts it itself).
            tv_root = raw / "torchvision"
            print("downloading CIFAR-10 with torchvision", flush=True)
            try:
                CIFAR10(root=str(tv_root), train=True, download=True)
            except (TimeoutError, urllib.error.URLError, OSError, RuntimeError) as e:
                reason = getattr(e, "reason", e)
                raise NeedsFiles(f"cannot download {URL} (network unreachable: {reason})") from None
            if (tv_root / TARBALL).exists():
                (tv_root / TARBALL).replace(target)
                shutil.rmtree(tv_root, ignore_errors=True)
                return target
    download(url or URL, target)
    return target


def check_md5(path: Path) -> None:
    got = md5sum(path)
    if got == MD5:
        return
    if os.environ.get("MLGYM_ALLOW_UNOFFICIAL_DATA") == "1":
        print(f"WARNING: {path.name} md5 {got} is not the official {MD5}; using it since MLGYM_ALLOW_UNOFFICIAL_DATA=1", flush=True)
        return
    print(f"{path} has md5 {got}, not the official {MD5}: delete it and run again "
          "(or set MLGYM_ALLOW_UNOFFICIAL_DATA=1 to use it anyway)", file=sys.stderr)
    sys.exit(1)


def extract(tarball: Path, raw: Path) -> Path:
    tmp = raw / "extract.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir()
    print(f"extracting {tarball.name}", flush=True)
    try:
        with tarfile.open(tarball, "r:gz") as tar:
            tar.extractall(tmp, filter="data")
    except (tarfile.TarError, EOFError, OSError) as e:
        print(f"cannot extract {tarball} ({e}): delete it and run again", file=sys.stderr)
        sys.exit(1)
    src = tmp / FOLDER
    needed = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch", "batches.meta"]
    missing = [n for n in needed if not (src / n).is_file()]
    if missing:
        print(f"{tarball} lacks {FOLDER}/{', '.join(missing)}: delete it and run again", file=sys.stderr)
        sys.exit(1)
    dest = raw / FOLDER
    shutil.rmtree(dest, ignore_errors=True)
    src.rename(dest)
    shutil.rmtree(tmp, ignore_errors=True)
    return dest


# --- Python 2 style pickling, so the public test_batch looks like the official files ---

def load(path: Path) -> dict:
    with open(path, "rb") as f:
        return pickle.load(f, encoding="bytes")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", type=Path, required=True)
    ap.add_argument("--public", type=Path, required=True)
    ap.add_argument("--private", type=Path, required=True)
    a = ap.parse_args()
    a.raw.mkdir(parents=True, exist_ok=True)
    try:
        tarball = fetch(a.raw)
    except NeedsFiles as e:
        print(f"{e}; or download {TARBALL} yourself and place it in {a.raw}, then run again", file=sys.stderr)
        sys.exit(EXIT_NEEDS_FILES)
    check_md5(tarball)
    src = extract(tarball, a.raw)

    out = a.public / FOLDER
    out.mkdir(parents=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["batches.meta"]:
        shutil.copyfile(src / name, out / name)
    test = load(src / "test_batch")
    data, labels = test[b"data"], [int(y) for y in test[b"labels"]]
    if data.shape != (len(labels), 3072) or data.dtype != np.uint8:
        print(f"test_batch: unexpected data {data.shape} {data.dtype}", file=sys.stderr)
        sys.exit(1)
    public_test = {
        Py2Str(b"batch_label"): Py2Str(bytes(test.get(b"batch_label", b"testing batch 1 of 1"))),
        Py2Str(b"data"): data,
        Py2Str(b"filenames"): [Py2Str(b"test_%05d.png" % i) for i in range(len(labels))],
    }
    (out / "test_batch").write_bytes(py2_pickle(public_test))
    with open(a.private / "test_labels.csv", "w", newline="") as f:
        wr = csv.writer(f)
        wr.writerow(["id", "label"])
        wr.writerows(enumerate(labels))
    n_train = sum(len(load(src / f"data_batch_{i}")[b"labels"]) for i in range(1, 6))
    print(f"wrote {n_train} training and {len(labels)} test images", flush=True)


if __name__ == "__main__":
    main()
