"""Helpers shared by the MLAgentBench tasks' hidden scripts (numpy and pandas only).

The eval sandbox gets this file beside ``eval.py`` (it never sees the mlgym package);
``prepare.py`` scripts import it from ``benchmarks/mlagentbench/``.  Every metric here
is MLAgentBench's formula, written anew.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

EXIT_NEEDS_FILES = 3


# ----------------------------------------------------------------------------- eval side
def fail(msg: str) -> NoReturn:
    """An invalid submission: one line on stderr, exit 1 (the harness shows it to the agent)."""
    print(msg.replace("\n", " ")[:500], file=sys.stderr)
    sys.exit(1)


def answers_dir() -> Path:
    p = argparse.ArgumentParser()
    p.add_argument("--answers", default="answers")
    return Path(p.parse_args().answers)


def emit(score: float, **metrics: float) -> None:
    if not np.isfinite(score):
        fail(f"the score is not finite ({score})")
    print(json.dumps({"score": float(score), "metrics": {k: float(v) for k, v in metrics.items()}}))


def read_submission(name: str = "submission.csv", **kw: Any) -> Any:
    import pandas as pd

    try:
        return pd.read_csv(name, **kw)
    except FileNotFoundError:
        fail(f"{name} not found")
    except Exception as e:  # noqa: BLE001 - any parse error is the submission's fault
        fail(f"{name} is not a readable CSV: {type(e).__name__}: {e}")


def by_id(sub: Any, truth: Any, id_col: str, cols: list[str]) -> Any:
    """The submission's ``cols`` in the answers' row order, matched on ``id_col`` (with clear errors).

    MLAgentBench compares row by row; for a submission in test.csv's order (as its starters
    write it) matching by id gives the same number, and a shuffled one is not misjudged."""
    for c in [id_col, *cols]:
        if c not in sub.columns:
            fail(f"submission.csv has no column {c!r}; columns are {list(sub.columns)[:12]}")
    ids = sub[id_col].astype(str)
    if ids.duplicated().any():
        fail(f"submission.csv repeats {id_col} {ids[ids.duplicated()].iloc[0]!r}")
    sub = sub.set_index(ids)
    want = truth[id_col].astype(str)
    missing = want[~want.isin(sub.index)]
    if len(missing):
        fail(f"submission.csv lacks {len(missing)} of the {len(want)} test rows, e.g. {id_col} {missing.iloc[0]!r}")
    return sub.loc[want.values, cols]


def numbers(values: Any, what: str) -> np.ndarray:
    import pandas as pd

    arr = pd.to_numeric(pd.Series(np.asarray(values).ravel()), errors="coerce").to_numpy(float)
    if not np.isfinite(arr).all():
        fail(f"{what}: every value must be a finite number")
    return arr.reshape(np.shape(values))


def smapep1(y_true: Any, y_pred: Any) -> float:
    """SMAPE of y+1 (0..200), MLAgentBench's amp-parkinsons metric: rows with a missing truth are skipped."""
    t, p = np.asarray(y_true, float).ravel(), np.asarray(y_pred, float).ravel()
    keep = np.isfinite(t)
    t, p = t[keep], p[keep]
    if (p < 0).any():
        fail("rating: predictions must not be negative")
    return float(np.mean(np.abs(p - t) / ((t + p) / 2 + 1)) * 100)


def mcrmse(t: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean(np.sqrt(np.mean((p - t) ** 2, axis=0))))


def apk(actual: list[str], predicted: list[str], k: int = 20) -> float:
    """Average precision at k, as Kaggle's (and FathomNet's metric.py) define it."""
    predicted = predicted[:k]
    score, hits = 0.0, 0
    for i, p in enumerate(predicted):
        if p in actual and p not in predicted[:i]:
            hits += 1
            score += hits / (i + 1.0)
    return score / min(len(actual), k) if actual else 0.0


def rle_decode(text: Any, shape: tuple[int, int]) -> np.ndarray:
    """Kaggle's run-length mask ("start length ...", 1-based, column-major like the contrails data) -> array."""
    flat = np.zeros(shape[0] * shape[1], dtype=np.uint8)
    if isinstance(text, str) and text.strip() and text.strip() != "-":
        try:
            nums = np.asarray(text.split(), dtype=np.int64)
        except ValueError:
            fail("encoded_pixels must be run-length pairs of integers or '-'")
        if len(nums) % 2 or (nums[0::2] < 1).any() or (nums[1::2] < 0).any():
            fail("encoded_pixels: give 1-based start and length pairs")
        for s, n in zip(nums[0::2] - 1, nums[1::2]):
            flat[s:s + n] = 1
    return flat.reshape(shape, order="F")


def rle_encode(mask: np.ndarray) -> str:
    pixels = np.concatenate([[0], np.asarray(mask).flatten(order="F"), [0]])
    runs = np.where(pixels[1:] != pixels[:-1])[0] + 1
    runs[1::2] -= runs[::2]
    return " ".join(str(x) for x in runs) if len(runs) else "-"


def dice(pred: np.ndarray, truth: np.ndarray, smooth: float = 1e-6) -> float:
    i = float(np.sum(pred * truth))
    return (2 * i + smooth) / (float(np.sum(pred) + np.sum(truth)) + smooth)


# ----------------------------------------------------------------------------- prepare side
def prepare_args() -> tuple[Path, Path, Path]:
    p = argparse.ArgumentParser()
    for a in ("--raw", "--public", "--private"):
        p.add_argument(a, type=Path, required=True)
    a = p.parse_args()
    return a.raw, a.public, a.private


def needs_files(msg: str) -> NoReturn:
    """Exit 3 with one line: the data can be neither found nor downloaded (see mlgym.tasks.data)."""
    print(msg, file=sys.stderr)
    sys.exit(EXIT_NEEDS_FILES)


def kaggle_files(slugs: list[str], raw: Path, needed: list[str]) -> Path:
    """A folder holding ``needed`` (relative paths) of the first competition found: ``raw/``,
    ``$MLGYM_KAGGLE_DIR/<slug>/``, ``shared/data/kaggle/<slug>/`` beside the checkout, else
    the Kaggle download (mlgym.families.kaggle.source) into ``raw/``."""
    def ok(d: Path) -> bool:
        return all((d / n).exists() for n in needed)

    if ok(raw):
        return raw
    repo = Path(__file__).resolve().parents[2]
    env = os.environ.get("MLGYM_KAGGLE_DIR")
    for slug in slugs:
        for d in ([Path(env) / slug] if env else []) + [repo.parent / "shared" / "data" / "kaggle" / slug]:
            if ok(d):
                return d
    why = "no kaggle download attempted"
    try:
        from mlgym.families.kaggle import source as kaggle

        for slug in slugs:
            comp = kaggle.Competition(slug=slug, id_col="id", targets=("y",), train_file=Path(needed[0]).name)
            why = kaggle.download(comp, raw, lambda line: print(line, file=sys.stderr)) or why
            if ok(raw):
                return raw
    except Exception as e:  # noqa: BLE001 - any failure becomes the one-line hint below
        why = f"{type(e).__name__}: {e}".splitlines()[0]
    needs_files(f"cannot get {', '.join(needed)} of Kaggle's {slugs[0]} ({why}); put them in {raw} "
                f"or $MLGYM_KAGGLE_DIR/{slugs[0]}/ and run again")


# ----------------------------------------------------------------------------- byte-level language model
def byte_lm(dim: int, layers: int) -> Any:
    """The fixed architecture babylm and llama-inference score: bytes -> Embedding -> GRU -> Linear.

    Only the weights and the two sizes come from the agent's ``model.pt``
    (``{"dim", "layers", "state_dict"}``, loaded with ``weights_only=True``), never code."""
    import torch.nn as nn

    class ByteLM(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.emb, self.rnn, self.out = nn.Embedding(256, dim), nn.GRU(dim, dim, layers, batch_first=True), nn.Linear(dim, 256)

        def forward(self, x: Any, h: Any = None) -> Any:
            y, h = self.rnn(self.emb(x), h)
            return self.out(y), h

    return ByteLM()


def load_byte_lm(path: str) -> Any:
    import torch

    try:
        blob = torch.load(path, weights_only=True, map_location="cpu")
        model = byte_lm(int(blob["dim"]), int(blob["layers"]))
        model.load_state_dict(blob["state_dict"])
    except Exception as e:  # noqa: BLE001 - any failure is the submission's
        fail(f"{path}: not a model of the given architecture ({type(e).__name__}: {str(e)[:200]})")
    return model.eval()


def greedy(model: Any, prompt: bytes, new: int) -> list[int]:
    """Greedy generation of ``new`` bytes after ``prompt`` (the reference llama-inference checks against)."""
    import torch

    with torch.no_grad():
        logits, h = model(torch.tensor([list(prompt)]))
        out = []
        nxt = int(logits[0, -1].argmax())
        for _ in range(new):
            out.append(nxt)
            logits, h = model(torch.tensor([[nxt]]), h)
            nxt = int(logits[0, -1].argmax())
    return out
