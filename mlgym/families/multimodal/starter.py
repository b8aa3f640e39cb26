"""Starter for a multimodal table: image thumbnails + TF-IDF text + the numbers, one random forest.

Reads data/dataset.json (which columns are images, text, numbers, categories), turns each
image into a 8x8 grey thumbnail plus its mean and spread, each text column into 16 TF-IDF
components, keeps the numbers and one-hot encodes the few-valued categories; fits a
random forest on data/train.csv, prints the score on data/val.csv,
refits on both and writes submission.csv (row_id + the label) for data/test.csv.
"""
# mypy: ignore-errors
# The multimodal family writes this file into the workspace as train.py.

import json

import numpy as np
import pandas as pd
from PIL import Image
from sklearn import metrics
from sklearn.decomposition import TruncatedSVD
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.feature_extraction.text import TfidfVectorizer

info = json.load(open("data/dataset.json"))
LABEL, ID, PROBLEM, METRIC, PRED = info["label"], info["id"], info["problem_type"], info["metric"], info["prediction"]
train, val, test = (pd.read_csv(f"data/{s}.csv") for s in ("train", "val", "test"))


def image_features(paths):
    """An 8x8 grey thumbnail (64 values) plus mean and standard deviation of the first image of each cell."""
    out = np.zeros((len(paths), 66), dtype=np.float32)
    for i, cell in enumerate(paths):
        if not isinstance(cell, str) or not cell:
            continue
        with Image.open(cell.split(";")[0]) as img:
            grey = np.asarray(img.convert("L"), dtype=np.float32) / 255.0
            out[i, :64] = np.asarray(img.convert("L").resize((8, 8)), dtype=np.float32).ravel() / 255.0
        out[i, 64:] = grey.mean(), grey.std()
    return out


class Features:
    """Fitted on the training rows, applied to any rows."""

    def fit(self, frame):
        self.text = {}
        for col in info["text_columns"]:
            docs = frame[col].fillna("").astype(str)
            tfidf = TfidfVectorizer(max_features=5000, sublinear_tf=True).fit(docs)
            k = max(1, min(16, len(tfidf.vocabulary_) - 1))
            self.text[col] = (tfidf, TruncatedSVD(n_components=k, random_state=0).fit(tfidf.transform(docs)))
        self.categories = {c: frame[c].astype(str).value_counts().index[:30].tolist() for c in info["categorical_columns"]}
        return self

    def transform(self, frame):
        parts = [frame[info["numeric_columns"]].to_numpy(dtype=np.float32)] if info["numeric_columns"] else []
        for col in info["image_columns"]:
            parts.append(image_features(frame[col].tolist()))
        for col, (tfidf, svd) in self.text.items():
            parts.append(svd.transform(tfidf.transform(frame[col].fillna("").astype(str))).astype(np.float32))
        for col, values in self.categories.items():
            parts.append(np.stack([(frame[col].astype(str) == v).to_numpy(np.float32) for v in values], axis=1))
        return np.hstack(parts) if parts else np.zeros((len(frame), 1), np.float32)


def model():
    if PROBLEM == "regression":
        return RandomForestRegressor(n_estimators=200, min_samples_leaf=2, random_state=0, n_jobs=2)
    return RandomForestClassifier(n_estimators=200, random_state=0, n_jobs=2)


def predict(m, X):
    if PRED == "proba":
        classes = list(m.classes_)
        pos = info["positive_class"]
        col = classes.index(pos) if pos in classes else classes.index(str(pos)) if str(pos) in classes else len(classes) - 1
        return m.predict_proba(X)[:, col]
    return m.predict(X)


def score(y, p):
    if PRED == "proba":
        y = (y.astype(str) == str(info["positive_class"])).astype(int)
        return metrics.log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1]) if METRIC == "log_loss" else metrics.roc_auc_score(y, p)
    named = {"accuracy": metrics.accuracy_score, "balanced_accuracy": metrics.balanced_accuracy_score, "r2": metrics.r2_score,
             "mae": metrics.mean_absolute_error, "rmse": lambda a, b: float(np.sqrt(metrics.mean_squared_error(a, b))),
             "f1_macro": lambda a, b: metrics.f1_score(a, b, average="macro")}
    fallback = metrics.r2_score if PROBLEM == "regression" else metrics.accuracy_score
    return named.get(METRIC, fallback)(y, p)


feats = Features().fit(train)
m = model().fit(feats.transform(train), train[LABEL])
print(f"validation {METRIC if METRIC in ('accuracy', 'balanced_accuracy', 'r2', 'mae', 'rmse', 'f1_macro', 'auc', 'log_loss') else 'score'}: "
      f"{score(val[LABEL], predict(m, feats.transform(val))):.4f}")
both = pd.concat([train, val], ignore_index=True)
feats = Features().fit(both)
m = model().fit(feats.transform(both), both[LABEL])
pd.DataFrame({ID: test[ID], LABEL: predict(m, feats.transform(test))}).to_csv("submission.csv", index=False)
print("wrote submission.csv")
