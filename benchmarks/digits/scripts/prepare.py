"""Prepare the digits task from scikit-learn's bundled copy (no network needed).

Writes public/train.csv, public/test.csv (no labels) and private/test_labels.csv.
"""

import argparse
import csv
from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", type=Path, required=True)
    ap.add_argument("--public", type=Path, required=True)
    ap.add_argument("--private", type=Path, required=True)
    a = ap.parse_args()
    print("loading scikit-learn's bundled digits data", flush=True)
    X, y = load_digits(return_X_y=True)
    X = X.astype(int)
    idx = np.arange(len(y))
    tr, te = train_test_split(idx, test_size=0.3, random_state=2024, stratify=y)
    cols = [f"p{i}" for i in range(X.shape[1])]
    with open(a.public / "train.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols + ["label"])
        for i in tr:
            w.writerow(list(X[i]) + [y[i]])
    with open(a.public / "test.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id"] + cols)
        for k, i in enumerate(te):
            w.writerow([k] + list(X[i]))
    with open(a.private / "test_labels.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["id", "label"])
        for k, i in enumerate(te):
            w.writerow([k, y[i]])
    print(f"wrote {len(tr)} training and {len(te)} test rows", flush=True)


if __name__ == "__main__":
    main()
