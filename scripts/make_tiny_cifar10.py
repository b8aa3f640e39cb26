"""Write a tiny, synthetic CIFAR-10 in the official on-disk format, for tests.

    python scripts/make_tiny_cifar10.py OUT_DIR [--per-batch 200] [--test 200] [--seed 0]

Creates ``OUT_DIR/cifar-10-python.tar.gz`` holding ``cifar-10-batches-py/`` with
``data_batch_1..5``, ``test_batch``, ``batches.meta`` and ``readme.html``, pickled the way
the official (Python 2 cPickle, protocol 2) files are: dict keys are Python 2 ``str``
(so ``pickle.load(f, encoding="bytes")`` gives ``b"data"``, ``encoding="latin1"`` gives
``"data"``), ``data`` is an N x 3072 uint8 array (1024 red, then green, then blue values,
row-major), ``labels`` a list of ints, ``filenames`` a list of str.  The images are noise
around one smooth template per class, so a small CNN learns them well above chance.  The
md5 is of course not the official one: set ``MLGYM_ALLOW_UNOFFICIAL_DATA=1`` to prepare it.
"""

from __future__ import annotations

import argparse
import io
import tarfile
import time
from pathlib import Path

import numpy as np

from mlgym.families.folder.py2pickle import Py2Str, py2_pickle

LABEL_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]




def make_images(n: int, rng: np.random.Generator, templates: np.ndarray) -> tuple[np.ndarray, list[int]]:
    labels = rng.integers(0, 10, size=n)
    noise = rng.normal(0, 40, size=(n, 3, 32, 32))
    shift = rng.integers(-2, 3, size=(n, 2))
    imgs = np.empty((n, 3, 32, 32))
    for i in range(n):
        imgs[i] = np.roll(templates[labels[i]], tuple(shift[i]), axis=(1, 2)) + noise[i]
    data = np.clip(imgs, 0, 255).astype(np.uint8).reshape(n, 3072)
    return data, [int(x) for x in labels]


def class_templates(rng: np.random.Generator) -> np.ndarray:
    """One smooth 3x32x32 pattern per class: a colour plus a low-frequency wave."""
    yy, xx = np.mgrid[0:32, 0:32] / 32.0
    out = np.empty((10, 3, 32, 32))
    for c in range(10):
        colour = rng.uniform(60, 200, size=3)
        fy, fx, phase = rng.uniform(0.5, 3.0), rng.uniform(0.5, 3.0), rng.uniform(0, 2 * np.pi)
        wave = np.sin(2 * np.pi * (fy * yy + fx * xx) + phase)
        for ch in range(3):
            out[c, ch] = colour[ch] + 50 * wave * (1 if ch != c % 3 else -1)
    return out


def batch(label: str, data: np.ndarray, labels: list[int], names: list[str]) -> bytes:
    return py2_pickle({
        Py2Str(b"batch_label"): Py2Str(label.encode()),
        Py2Str(b"labels"): labels,
        Py2Str(b"data"): data,
        Py2Str(b"filenames"): [Py2Str(n.encode()) for n in names],
    })


def make_tarball(out_dir: Path, per_batch: int = 200, n_test: int = 200, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    templates = class_templates(rng)
    files: dict[str, bytes] = {}
    k = 0
    for b in range(1, 6):
        data, labels = make_images(per_batch, rng, templates)
        names = [f"{LABEL_NAMES[y]}_s_{k + i:06d}.png" for i, y in enumerate(labels)]
        k += per_batch
        files[f"data_batch_{b}"] = batch(f"training batch {b} of 5", data, labels, names)
    data, labels = make_images(n_test, rng, templates)
    names = [f"{LABEL_NAMES[y]}_s_{k + i:06d}.png" for i, y in enumerate(labels)]
    files["test_batch"] = batch("testing batch 1 of 1", data, labels, names)
    files["batches.meta"] = py2_pickle({
        Py2Str(b"num_cases_per_batch"): per_batch,
        Py2Str(b"label_names"): [Py2Str(n.encode()) for n in LABEL_NAMES],
        Py2Str(b"num_vis"): 3072,
    })
    files["readme.html"] = b"<meta HTTP-EQUIV=\"REFRESH\" content=\"0; url=http://www.cs.toronto.edu/~kriz/cifar.html\">\n"
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "cifar-10-python.tar.gz"
    tmp = target.with_name(target.name + ".tmp")
    with tarfile.open(tmp, "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py")
        info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, int(time.time())
        tar.addfile(info)
        for name, payload in files.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size, info.mode, info.mtime = len(payload), 0o644, int(time.time())
            tar.addfile(info, io.BytesIO(payload))
    tmp.replace(target)
    return target


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out_dir", type=Path)
    ap.add_argument("--per-batch", type=int, default=200, help="images in each of the 5 training batches")
    ap.add_argument("--test", type=int, default=200, help="images in test_batch")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    path = make_tarball(a.out_dir, a.per_batch, a.test, a.seed)
    print(f"wrote {path} ({5 * a.per_batch} training + {a.test} test images)")


if __name__ == "__main__":
    main()
