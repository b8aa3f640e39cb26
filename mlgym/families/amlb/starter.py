"""Starter for an AMLB task: a small scikit-learn pipeline on the numeric and categorical columns. Writes predictions.csv."""
# mypy: ignore-errors
# The AMLB family writes this file into the workspace as train.py, with CONFIG filled in.

import json
import os

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.impute import SimpleImputer
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

CONFIG = {"cores": 1, "seconds": 60, "submission": "predictions.csv"}
os.environ.setdefault("LOKY_MAX_CPU_COUNT", str(CONFIG["cores"]))  # joblib cannot count physical cores in every sandbox

info = json.load(open("data/task.json"))
target, kind, classes = info["target"], info["type"], info["classes"]
train = pd.read_csv("data/train.csv")
test = pd.read_csv("data/test.csv")
X, y = train.drop(columns=[target]), train[target]
if classes is not None:
    y = y.astype(str)

categorical = [c for c in X.columns if c in info["categorical"] or not pd.api.types.is_numeric_dtype(X[c])]
numeric = [c for c in X.columns if c not in categorical]
for frame in (X, test):  # categories as text, so the encoder sees one type per column
    frame[categorical] = frame[categorical].astype("string").fillna("missing").astype(object)

prep = ColumnTransformer([
    ("num", SimpleImputer(strategy="median"), numeric),
    ("cat", OneHotEncoder(handle_unknown="ignore", min_frequency=5), categorical),
])
Model = RandomForestRegressor if kind == "regression" else RandomForestClassifier
model = make_pipeline(prep, Model(n_estimators=200, random_state=0, n_jobs=CONFIG["cores"]))

scoring = {"binary": "roc_auc", "multiclass": "neg_log_loss", "regression": "neg_root_mean_squared_error"}[kind]
scores = cross_val_score(model, X, y, cv=3, scoring=scoring)
print(f"3-fold cross-validation {scoring}: {scores.mean():.4f}")

model.fit(X, y)
out = pd.DataFrame(index=test.index)
if kind == "regression":
    out["predictions"] = model.predict(test)
else:
    proba = pd.DataFrame(model.predict_proba(test), columns=model.classes_)
    for c in classes:  # one column per class label, in the dataset's order
        out[c] = proba[c] if c in proba.columns else 0.0
    out["predictions"] = proba.idxmax(axis=1)
out.to_csv(CONFIG["submission"], index=False)
print(f"wrote {CONFIG['submission']} ({len(out)} rows)")
