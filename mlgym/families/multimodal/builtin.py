"""Multimodal datasets built here, offline, from real content that installed packages ship.

``mlgym-builtin://digits_docs`` (a dataset config's ``url``) builds ``digits_docs.zip`` in the
layout AutoGluon-Bench's vision datasets have when downloaded: ``digits_docs/images/*.png``
and ``digits_docs/{train,validation,test}.csv`` whose ``image`` column holds paths relative
to ``digits_docs/``.  Each row joins three real sources:

* ``image``: one of scikit-learn's 1,797 bundled handwritten digits (UCI optdigits, 8x8, 17
  grey levels), written as a 32x32 grey PNG; ``digit`` is its true label, ``odd`` its parity;
* ``note``: a real sentence from the description of one of scikit-learn's bundled datasets
  (20 newsgroups, breast cancer, wine, iris, RCV1): the one numbered ``digit mod 5``;
* ``alcohol``, ``malic_acid``, ``color_intensity``, ``proline``: the real measurements of a wine
  from scikit-learn's wine data, of cultivar ``digit mod 3``.

So the note and the numbers each narrow the digit down, the image names it, and a model that
joins all three does best.  The draw is seeded: every machine builds the same archive.
"""

from __future__ import annotations

import io
import re
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from mlgym.core.errors import DataError

DOCS = ("twenty_newsgroups", "breast_cancer", "wine_data", "iris", "rcv1")
WINE_COLUMNS = ("alcohol", "malic_acid", "color_intensity", "proline")
SEED = 2024


def doc_sentences(name: str) -> list[str]:
    """Sentences of scikit-learn's bundled description ``descr/<name>.rst`` (markup lines dropped)."""
    from importlib import resources

    text = resources.files("sklearn.datasets.descr").joinpath(f"{name}.rst").read_text(encoding="utf-8")
    lines = [ln.strip() for ln in text.splitlines()]
    prose = " ".join(ln for ln in lines if ln and not ln.startswith((":", "=", "-", "..", "|", "*", "+")) and not re.match(r"^[\d.\s]+$", ln))
    sentences = re.split(r"(?<=[.!?])\s+", re.sub(r"\s+", " ", prose))
    return [s for s in sentences if 40 <= len(s) <= 300 and sum(c.isalpha() for c in s) > 25 and "`" not in s]


def digit_png(pixels: np.ndarray, scale: int = 4) -> bytes:
    """An 8x8 digit (0..16) as a grey PNG, each pixel ``scale`` x ``scale``."""
    from PIL import Image

    grey = np.clip(np.asarray(pixels, float).reshape(8, 8) * 15, 0, 255).astype(np.uint8)
    img = Image.fromarray(np.kron(grey, np.ones((scale, scale), dtype=np.uint8)))
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


def _digits_docs(dest: Path) -> None:
    import pandas as pd
    from sklearn.datasets import load_digits, load_wine

    digits = load_digits()
    wine = load_wine(as_frame=True).frame
    docs = [doc_sentences(d) for d in DOCS]
    if any(len(d) < 5 for d in docs):
        raise DataError("scikit-learn's dataset descriptions are missing or too short to build digits_docs")
    rng = np.random.default_rng(SEED)
    rows = []
    for i, (pixels, label) in enumerate(zip(digits.data, digits.target)):
        label = int(label)
        sentences = docs[label % len(DOCS)]
        pool = wine[wine["target"] == label % 3]
        w = pool.iloc[int(rng.integers(len(pool)))]
        rows.append({"image": f"images/{i:05d}.png", "note": sentences[int(rng.integers(len(sentences)))],
                     **{c: float(w[c]) for c in WINE_COLUMNS}, "digit": label, "odd": label % 2})
    table = pd.DataFrame(rows)
    order = rng.permutation(len(table))
    parts = {"test": order[:360], "validation": order[360:630], "train": order[630:]}
    with zipfile.ZipFile(dest, "w", zipfile.ZIP_DEFLATED) as zf:
        for i, pixels in enumerate(digits.data):
            zf.writestr(f"digits_docs/images/{i:05d}.png", digit_png(pixels))
        for split, idx in parts.items():
            zf.writestr(f"digits_docs/{split}.csv", table.iloc[np.sort(idx)].to_csv(index=False))


BUILDERS: dict[str, Callable[[Path], None]] = {"digits_docs": _digits_docs}


def build_archive(name: str, dest: Path, say: Callable[[str], None]) -> None:
    """Write the archive ``name`` to ``dest`` (atomically)."""
    if name not in BUILDERS:
        raise DataError(f"mlgym-builtin://{name}: no such built-in dataset; known: {', '.join(BUILDERS)}")
    say(f"building {name} from the content scikit-learn ships")
    tmp = dest.with_name(dest.name + ".part")
    BUILDERS[name](tmp)
    tmp.replace(dest)
