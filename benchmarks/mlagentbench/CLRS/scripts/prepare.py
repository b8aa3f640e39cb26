"""floyd_warshall samples (A, pi) for train/val/test; test pi goes to private/.

Uses raw/floyd_warshall_{train,val,test}.npz when present, else samples them: with CLRS's
sampler (``clrs.build_sampler``) when the clrs package is installed, else with our own
sampler of the same task.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
import mab_common as C  # noqa: E402
import numpy as np  # noqa: E402

SIZES = {"train": (1000, 16), "val": (32, 16), "test": (32, 64)}


def floyd_warshall(a: np.ndarray) -> np.ndarray:
    n = len(a)
    d = np.where(a > 0, a, np.inf)
    np.fill_diagonal(d, 0)
    pi = np.tile(np.arange(n)[:, None], (1, n))  # pi[i, j] = i
    for k in range(n):
        alt = d[:, k:k + 1] + d[k:k + 1, :]
        better = alt < d
        d = np.where(better, alt, d)
        pi = np.where(better, pi[k:k + 1, :].repeat(n, 0), pi)
    return pi


def own_sample(num: int, n: int, rng: np.random.Generator) -> dict:
    a = rng.uniform(0, 1, (num, n, n)) * (rng.uniform(0, 1, (num, n, n)) < 0.5)
    for g in a:
        np.fill_diagonal(g, 0)
    return {"A": a.astype(np.float32), "pi": np.stack([floyd_warshall(g) for g in a]).astype(np.int64)}


def clrs_sample(num: int, n: int, seed: int) -> dict:
    import clrs  # the real sampler

    sampler, _spec = clrs.build_sampler("floyd_warshall", num_samples=num, length=n, seed=seed)
    fb = sampler.next(num)
    ins = {d.name: d.data for d in fb.features.inputs}
    outs = {d.name: d.data for d in fb.outputs}
    return {"A": np.asarray(ins["A"], np.float32), "pi": np.asarray(outs["Pi"]).astype(np.int64)}


raw, public, private = C.prepare_args()
rng = np.random.default_rng(42)
for i, (split, (num, n)) in enumerate(SIZES.items()):
    f = raw / f"floyd_warshall_{split}.npz"
    if not f.is_file():
        try:
            data = clrs_sample(num, n, seed=42 + i)
        except ImportError:
            data = own_sample(num, n, rng)
        np.savez_compressed(f, **data)
    d = np.load(f)
    if split == "test":
        np.savez_compressed(public / f.name, A=d["A"])
        np.save(private / "test_pi.npy", d["pi"])
    else:
        np.savez_compressed(public / f.name, A=d["A"], pi=d["pi"])
