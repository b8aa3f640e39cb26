"""Two small, real Python ML repositories and a dataset file in ML-Bench's schema, for tests.

    python tests/helpers/mlbench_fixtures.py OUT      # OUT/repos/{tinyreg,tinyclf} (git), OUT/ml-bench.jsonl

``tinyreg`` trains a linear or polynomial regression by gradient descent (numpy) from
``train.py``'s arguments; ``tinyclf`` fits a k-nearest-neighbours classifier (scikit-learn)
from ``examples/knn/classify.py`` and as a library call.  Each has a README whose sections
are the rows' ``oracle`` segments.  ``tinyreg`` has two commits: ``--model`` appears in the
second, so a checkout of the first fails a row that uses it.  Then::

    MLGYM_MLBENCH=OUT/ml-bench.jsonl MLGYM_MLBENCH_REPOS=OUT/repos mlgym tasks --family mlbench
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

TINYREG_README = """# tinyreg

Tiny regression models trained by gradient descent (numpy only).

## Installation

Nothing to install beyond numpy.

## Training

Train a model on the synthetic data set and save its weights to `weights.npy`:

```bash
python train.py --model linear --epochs 20 --lr 0.1
```

`--model` is `linear` or `poly` (degree-3 features); `--epochs` is the number of passes,
`--lr` the learning rate and `--seed` the data seed.

## Long runs

`--epochs 1000000` trains until stopped.
"""

TINYREG_TRAIN_V1 = '''"""Train a linear regression by gradient descent on synthetic data."""
import argparse
import time

import numpy as np

from tinyreg.models import features, fit_epoch, mse


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--epochs", type=int, default=20)
    p.add_argument("--lr", type=float, default=0.1)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    run(args, "linear")


def run(args, model):
    rng = np.random.default_rng(args.seed)
    x = rng.uniform(-1, 1, size=2000)
    y = 0.5 * x ** 3 - x + 0.3 + rng.normal(0, 0.05, size=x.size)
    X = features(x, model)
    w = np.zeros(X.shape[1])
    start = time.time()
    for epoch in range(args.epochs):
        w = fit_epoch(X, y, w, args.lr)
        if epoch % 10 == 0 or epoch == args.epochs - 1:
            print(f"epoch {epoch} mse {mse(X, y, w):.5f}", flush=True)
        time.sleep(0.01)
    np.save("weights.npy", w)
    print(f"trained {model} in {time.time() - start:.2f}s: mse {mse(X, y, w):.5f}")


if __name__ == "__main__":
    main()
'''

TINYREG_TRAIN_V2 = TINYREG_TRAIN_V1.replace(
    '''    args = p.parse_args()
    run(args, "linear")''',
    '''    p.add_argument("--model", choices=["linear", "poly"], default="linear")
    args = p.parse_args()
    run(args, args.model)''',
).replace("Train a linear regression", "Train a linear or polynomial regression")

TINYREG_MODELS = '''"""Features, one gradient step and the loss."""
import numpy as np


def features(x, model):
    cols = [np.ones_like(x), x]
    if model == "poly":
        cols += [x ** 2, x ** 3]
    return np.stack(cols, axis=1)


def fit_epoch(X, y, w, lr):
    grad = 2 * X.T @ (X @ w - y) / len(y)
    return w - lr * grad


def mse(X, y, w):
    return float(np.mean((X @ w - y) ** 2))
'''

TINYCLF_README = """# tinyclf

k-nearest-neighbours classification of toy data sets (scikit-learn).

## Library use

```python
from tinyclf.knn import fit_score
print(fit_score(k=3, data="blobs"))
```
"""

TINYCLF_EXAMPLE_README = """# KNN example

Run the classifier from this folder:

```bash
python classify.py --k 5 --weights uniform --data blobs
```

`--data` is `blobs` or `moons`, `--weights` is `uniform` or `distance`.
"""

TINYCLF_KNN = '''"""Fit and score a k-nearest-neighbours classifier on a toy data set."""
import time

from sklearn.datasets import make_blobs, make_moons
from sklearn.model_selection import train_test_split
from sklearn.neighbors import KNeighborsClassifier


def load(data, seed=0):
    if data == "moons":
        return make_moons(n_samples=600, noise=0.25, random_state=seed)
    if data == "blobs":
        return make_blobs(n_samples=600, centers=3, random_state=seed)
    raise ValueError(f"unknown data set {data!r}: blobs or moons")


def fit_score(k=5, weights="uniform", data="blobs", seed=0):
    X, y = load(data, seed)
    Xtr, Xte, ytr, yte = train_test_split(X, y, test_size=0.3, random_state=seed)
    start = time.time()
    model = KNeighborsClassifier(n_neighbors=k, weights=weights).fit(Xtr, ytr)
    while time.time() - start < 0.3:  # "training" takes a moment, as real ones do
        model.score(Xte, yte)
    return model.score(Xte, yte)
'''

TINYCLF_CLASSIFY = '''"""Command-line entry point of the KNN example."""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
from tinyclf.knn import fit_score  # noqa: E402


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--k", type=int, required=True)
    p.add_argument("--weights", choices=["uniform", "distance"], default="uniform")
    p.add_argument("--data", choices=["blobs", "moons"], default="blobs")
    args = p.parse_args()
    print(f"accuracy {fit_score(args.k, args.weights, args.data):.4f}")


if __name__ == "__main__":
    main()
'''


def _git(repo: Path, *args: str, when: str = "2024-01-01T00:00:00+00:00") -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "fixture", "GIT_AUTHOR_EMAIL": "fixture@example.com", "GIT_COMMITTER_NAME": "fixture",
           "GIT_COMMITTER_EMAIL": "fixture@example.com", "GIT_AUTHOR_DATE": when, "GIT_COMMITTER_DATE": when,
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    return subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True, text=True).stdout.strip()


def _write(root: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def _commit(repo: Path, message: str, when: str) -> str:
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message, when=when)
    return _git(repo, "rev-parse", "HEAD")


def build_repos(out: Path) -> dict[str, list[str]]:
    """``out/tinyreg`` and ``out/tinyclf`` as git repositories; returns each one's commits, oldest first."""
    commits: dict[str, list[str]] = {}
    reg = out / "tinyreg"
    reg.mkdir(parents=True)
    _git(reg, "init", "-q", "-b", "main")
    _write(reg, {"README.md": TINYREG_README, "train.py": TINYREG_TRAIN_V1, "tinyreg/__init__.py": "", "tinyreg/models.py": TINYREG_MODELS})
    first = _commit(reg, "tinyreg: linear regression", "2024-01-01T00:00:00+00:00")
    _write(reg, {"train.py": TINYREG_TRAIN_V2})
    commits["tinyreg"] = [first, _commit(reg, "tinyreg: --model poly", "2024-01-02T00:00:00+00:00")]
    clf = out / "tinyclf"
    clf.mkdir(parents=True)
    _git(clf, "init", "-q", "-b", "main")
    _write(clf, {"README.md": TINYCLF_README, "tinyclf/__init__.py": "", "tinyclf/knn.py": TINYCLF_KNN,
                 "examples/knn/README.md": TINYCLF_EXAMPLE_README, "examples/knn/classify.py": TINYCLF_CLASSIFY})
    commits["tinyclf"] = [_commit(clf, "tinyclf: knn", "2024-01-03T00:00:00+00:00")]
    return commits


def rows() -> list[dict[str, object]]:
    """The dataset rows, in ML-Bench's columns (``arguments`` as the dataset stores them: a dict literal)."""
    reg, clf = "https://github.com/mlgym-fixtures/tinyreg", "https://github.com/mlgym-fixtures/tinyclf"
    training = TINYREG_README.split("## Training", 1)[1].split("## Long runs", 1)[0].strip()
    return [
        {"github_id": 101, "github": reg, "repo_id": 1, "id": 1, "path": "./",
         "arguments": str({"model": "poly", "epochs": "30", "lr": "0.05"}),
         "instruction": "I want to train the polynomial model of tinyreg for 30 epochs with a learning rate of 0.05. "
                        "Can you give me the command?",
         "oracle": training, "type": "Bash Script", "output": "python train.py --model poly --epochs 30 --lr 0.05",
         "prefix_code": ""},
        {"github_id": 101, "github": reg, "repo_id": 2, "id": 2, "path": "./",
         "arguments": str({"model": "linear", "epochs": "1000000"}),
         "instruction": "Train tinyreg's linear model for a million epochs (it will run until stopped).",
         "oracle": training, "type": "Bash Script", "output": "python train.py --model linear --epochs 1000000",
         "prefix_code": ""},
        {"github_id": 102, "github": clf, "repo_id": 1, "id": 3, "path": "./examples/knn",
         "arguments": str({"k": "7", "weights": "distance", "data": "moons"}),
         "instruction": "Classify the moons data set with the KNN example using 7 neighbours weighted by distance.",
         "oracle": TINYCLF_EXAMPLE_README.split("Run the classifier from this folder:", 1)[1].strip(), "type": "Bash Script",
         "output": "python classify.py --k 7 --weights distance --data moons", "prefix_code": "cd examples/knn"},
        {"github_id": 102, "github": clf, "repo_id": 2, "id": 4, "path": "./",
         "arguments": str({"k": "3", "data": "blobs"}),
         "instruction": "Use tinyclf as a library to score a 3-neighbour classifier on the blobs data set; print the accuracy.",
         "oracle": TINYCLF_README.split("## Library use", 1)[1].strip(), "type": "Python Code",
         "output": "from tinyclf.knn import fit_score\nprint(fit_score(k=3, data=\"blobs\"))", "prefix_code": ""},
    ]


def build(out: Path) -> Path:
    """Repositories under ``out/repos``, rows in ``out/ml-bench.jsonl``; returns the JSONL path."""
    out.mkdir(parents=True, exist_ok=True)
    build_repos(out / "repos")
    path = out / "ml-bench.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows()))
    return path


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit("usage: python tests/helpers/mlbench_fixtures.py OUT")
    print(build(Path(sys.argv[1])))
