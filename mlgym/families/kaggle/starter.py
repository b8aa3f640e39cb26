"""Starter for a Kaggle table: a random forest on the numeric and few-valued columns. Writes the submission."""
# mypy: ignore-errors
# The Kaggle family writes this file into the workspace as train.py, with CONFIG filled in.

import shutil

import numpy as np
import pandas as pd
from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor
from sklearn.model_selection import train_test_split

CONFIG = {"id": "Id", "targets": ["y"], "kind": "number", "log_target": False, "submission": "submission.csv"}
ID, TARGETS, KIND = CONFIG["id"], CONFIG["targets"], CONFIG["kind"]

if KIND not in ("number", "label", "proba"):  # rankings, masks: start from the sample submission
    shutil.copyfile("data/sample_submission.csv", CONFIG["submission"])
    raise SystemExit(f"copied data/sample_submission.csv to {CONFIG['submission']}")

train = pd.read_csv("data/train.csv")
test = pd.read_csv("data/test.csv")


def features(frame):
    """Numeric columns as they are; text columns with at most 20 values one-hot encoded; others dropped."""
    X = frame.drop(columns=[ID, *TARGETS], errors="ignore")
    num = X.select_dtypes("number")
    text = X.select_dtypes(exclude="number")
    few = [c for c in text.columns if train[c].nunique() <= 20] if len(text.columns) else []
    return pd.concat([num, pd.get_dummies(text[few].astype(str))], axis=1).fillna(-1)


both = features(pd.concat([train, test], keys=["train", "test"]))
X, X_test = both.loc["train"], both.loc["test"]
predictions = {}
for target in TARGETS:
    y = train[target]
    if KIND == "number":
        y = np.log(y) if CONFIG["log_target"] else y
        model = RandomForestRegressor(n_estimators=100, random_state=1, n_jobs=2)
    else:
        model = RandomForestClassifier(n_estimators=100, random_state=1, n_jobs=2)
    X_tr, X_val, y_tr, y_val = train_test_split(X, y, test_size=0.2, random_state=1)
    model.fit(X_tr, y_tr)
    if KIND == "number":
        print(f"{target}: validation RMSE{' of log' if CONFIG['log_target'] else ''}: {np.sqrt(np.mean((model.predict(X_val) - y_val) ** 2)):.4f}")
    else:
        print(f"{target}: validation accuracy: {model.score(X_val, y_val):.4f}")
    model.fit(X, y)
    if KIND == "proba":
        predictions[target] = model.predict_proba(X_test)[:, 1]
    elif KIND == "number" and CONFIG["log_target"]:
        predictions[target] = np.exp(model.predict(X_test))
    else:
        predictions[target] = model.predict(X_test)

pd.DataFrame({ID: test[ID], **predictions}).to_csv(CONFIG["submission"], index=False)
print(f"wrote {CONFIG['submission']}")
