"""Tiny data in each MLAgentBench task's real on-disk format, for tests and offline trials.

``make(task, raw)`` writes into a task's ``raw/`` folder what the real download would leave
there (Kaggle CSV layouts, OGB's arxiv folder, the contrails record folders, the BabyLM
archive layout, the IMDb split as ``Dataset.to_csv`` writes it); the task's prepare.py then
runs its real code path on it.  Values are random but shaped like the real ones.
"""

from __future__ import annotations

import gzip
import sys
from pathlib import Path

import numpy as np
import pandas as pd

WORDS = "the a movie film good bad great awful plot actor story boring fun love hate music scene".split()


def _text(rng: np.random.Generator, n: int) -> str:
    return " ".join(rng.choice(WORDS, n))


def house_price(raw: Path, rng: np.random.Generator) -> None:
    n = 120
    q = rng.integers(1, 11, n)
    area = rng.integers(600, 3000, n)
    pd.DataFrame({"Id": np.arange(1, n + 1), "MSSubClass": rng.choice([20, 60, 90], n), "LotArea": rng.integers(2000, 20000, n),
                  "OverallQual": q, "YearBuilt": rng.integers(1900, 2010, n), "GrLivArea": area,
                  "Neighborhood": rng.choice(["NAmes", "CollgCr", "OldTown"], n),
                  "SalePrice": (20000 * q + 60 * area + rng.normal(0, 10000, n)).round()}).to_csv(raw / "train.csv", index=False)
    (raw / "data_description.txt").write_text("MSSubClass: the building class\nOverallQual: overall quality\n")


def spaceship_titanic(raw: Path, rng: np.random.Generator) -> None:
    n = 150
    cryo = rng.random(n) < 0.4
    pd.DataFrame({"PassengerId": [f"{i:04d}_01" for i in range(n)], "HomePlanet": rng.choice(["Earth", "Europa", "Mars"], n),
                  "CryoSleep": cryo, "Cabin": [f"{d}/{i}/{s}" for d, i, s in zip(rng.choice(list("ABCFG"), n), range(n), rng.choice(["P", "S"], n))],
                  "Destination": rng.choice(["TRAPPIST-1e", "55 Cancri e"], n), "Age": rng.integers(1, 80, n), "VIP": rng.random(n) < 0.05,
                  "RoomService": rng.integers(0, 500, n), "Name": [f"Name {i}" for i in range(n)],
                  "Transported": cryo ^ (rng.random(n) < 0.2)}).to_csv(raw / "train.csv", index=False)


def feedback(raw: Path, rng: np.random.Generator) -> None:
    n = 150
    df = pd.DataFrame({"text_id": [f"T{i:05X}" for i in range(n)], "full_text": [_text(rng, 40) for _ in range(n)]})
    for d in ["cohesion", "syntax", "vocabulary", "phraseology", "grammar", "conventions"]:
        df[d] = rng.integers(2, 11, n) / 2
    df.to_csv(raw / "train.csv", index=False)


def parkinsons_disease(raw: Path, rng: np.random.Generator) -> None:
    rows = []
    for pid in (55, 942, 1517, 3342, 5027, 7051):
        for m in (0, 6, 12, 18, 24, 36):
            rows.append({"visit_id": f"{pid}_{m}", "patient_id": pid, "visit_month": m,
                         **{f"updrs_{i}": float(rng.integers(0, 30)) for i in range(1, 5)}, "upd23b_clinical_state_on_medication": "On"})
    clin = pd.DataFrame(rows)
    clin.to_csv(raw / "train_clinical_data.csv", index=False)
    clin.assign(patient_id=clin.patient_id + 10000, visit_id=[f"{p + 10000}_{m}" for p, m in zip(clin.patient_id, clin.visit_month)]).to_csv(
        raw / "supplemental_clinical_data.csv", index=False)
    base = clin[["visit_id", "visit_month", "patient_id"]]
    base.assign(UniProt="O00391", NPX=rng.random(len(base)) * 1e4).to_csv(raw / "train_proteins.csv", index=False)
    base.assign(UniProt="O00391", Peptide="NEQEQPLGQWHLS", PeptideAbundance=rng.random(len(base)) * 1e4).to_csv(raw / "train_peptides.csv", index=False)


def fathomnet(raw: Path, rng: np.random.Generator) -> None:
    from PIL import Image

    n = 100
    (raw / "multilabel_classification").mkdir()
    (raw / "images").mkdir()
    ids = [f"{i:08x}-aaaa-bbbb-cccc-{i:012x}" for i in range(n)]
    cats = [sorted({int(c) for c in rng.choice([1, 9, 11, 88, 160], rng.integers(1, 3))}) for _ in range(n)]
    pd.DataFrame({"id": ids, "categories": [str([float(c) for c in cs]) for cs in cats]}).to_csv(
        raw / "multilabel_classification" / "train.csv", index=False)
    pd.DataFrame({"id": [1, 9, 11, 88, 160], "name": ["a", "b", "c", "d", "e"], "supercat": "Fish"}).to_csv(raw / "category_key.csv", index=False)
    for i, cs in zip(ids, cats):
        img = rng.integers(0, 255, (16, 16, 3), dtype=np.uint8)
        img[..., 0] = min(255, 40 * len(cs) + cs[0])
        Image.fromarray(img).save(raw / "images" / f"{i}.png")


def imdb(raw: Path, rng: np.random.Generator) -> None:
    d = raw / "imdb"
    d.mkdir()
    for split, n in (("train", 200), ("test", 100)):
        label = np.sort(rng.integers(0, 2, n))  # the real splits list negatives first
        text = [_text(rng, 20) + (" great love" if y else " awful hate") for y in label]
        pd.DataFrame({"text": text, "label": label}).to_csv(d / f"{split}.csv", index=False)


def ogbn_arxiv(raw: Path, rng: np.random.Generator) -> None:
    d = raw / "arxiv"
    (d / "raw").mkdir(parents=True)
    (d / "split" / "time").mkdir(parents=True)
    n, classes = 300, 4
    y = rng.integers(0, classes, n)
    feat = rng.normal(0, 1, (n, 8)) + np.eye(classes, 8)[y] * 2
    edges = rng.integers(0, n, (900, 2))

    def write(path: Path, arr: np.ndarray, fmt: str) -> None:
        with gzip.open(path, "wt") as f:
            np.savetxt(f, arr, fmt=fmt, delimiter=",")

    write(d / "raw" / "node-feat.csv.gz", feat, "%.6f")
    write(d / "raw" / "edge.csv.gz", edges, "%d")
    write(d / "raw" / "node-label.csv.gz", y[:, None], "%d")
    perm = rng.permutation(n)
    for name, part in (("train", perm[:180]), ("valid", perm[180:240]), ("test", perm[240:])):
        write(d / "split" / "time" / f"{name}.csv.gz", np.sort(part)[:, None], "%d")


def identify_contrails(raw: Path, rng: np.random.Generator) -> None:
    for split, count in (("train", 6), ("validation", 3)):
        for r in range(count):
            rec = raw / split / str(1000000 + 1000 * r + (7 if split == "validation" else 0))
            rec.mkdir(parents=True)
            mask = np.zeros((16, 16), dtype=np.int32)
            mask[rng.integers(0, 12):, rng.integers(0, 12)] = 1
            for b in range(8, 17):
                band = rng.normal(250, 5, (16, 16, 8)).astype(np.float16)
                if b == 15:
                    band[..., 4] += 8 * mask
                np.save(rec / f"band_{b:02d}.npy", band)
            np.save(rec / "human_pixel_masks.npy", mask[..., None])


def babylm(raw: Path, rng: np.random.Generator) -> None:
    for sub, ext, n in (("babylm_10M", "train", 1000), ("babylm_dev", "dev", 300), ("babylm_test", "test", 300)):
        d = raw / "babylm_data" / sub
        d.mkdir(parents=True)
        (d / f"children_stories.{ext}").write_text("\n".join(_text(rng, 10) for _ in range(n // 10)) + "\n")


def vectorization(raw: Path, rng: np.random.Generator) -> None:
    """No data; a smaller timed batch than MLAgentBench's (32, 64, 64, 3), so the eval's three
    timed forward passes of the loop starter take well under a second."""
    (raw / "input_shape.json").write_text("[4, 32, 32, 3]\n")


def nothing(raw: Path, rng: np.random.Generator) -> None:
    """The task's prepare.py makes its own data (CLRS's sampler, the llama model)."""


def cifar10(raw: Path, rng: np.random.Generator) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    import make_tiny_cifar10  # the tiny CIFAR-10 tarball in the official format (scripts/)

    make_tiny_cifar10.make_tarball(raw, per_batch=60, n_test=60)


MAKERS = {
    "house-price": house_price, "spaceship-titanic": spaceship_titanic, "feedback": feedback,
    "parkinsons-disease": parkinsons_disease, "fathomnet": fathomnet, "imdb": imdb, "ogbn-arxiv": ogbn_arxiv,
    "identify-contrails": identify_contrails, "babylm": babylm, "cifar10": cifar10,
    "CLRS": nothing, "llama-inference": nothing, "vectorization": vectorization,
}


def make(task: str, raw: Path, seed: int = 0) -> None:
    """Write the fixture of ``task`` (name without the ``mlagentbench-`` prefix) into ``raw``."""
    raw.mkdir(parents=True, exist_ok=True)
    MAKERS[task](raw, np.random.default_rng(seed))
