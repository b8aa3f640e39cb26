"""An AutoML framework fitted within the task's constraint, writing AMLB's predictions.csv.

The automl agent writes this file into the workspace as automl.py with CONFIG filled in and
runs it.  It reads data/task.json (target, type, classes, metrics, constraint) and fits:
sklearn (a time-bounded search over scikit-learn models), flaml (FLAML's AutoML) or
autogluon (AutoGluon's TabularPredictor), with the constraint's cores and a share of its time.
"""
# mypy: ignore-errors

import json
import os
import sys
import time

import numpy as np
import pandas as pd

CONFIG = {"framework": "sklearn", "time_share": 0.6, "seed": 0, "submission": "predictions.csv"}
START = time.monotonic()

info = json.load(open("data/task.json"))
target, kind, classes = info["target"], info["type"], info["classes"]
cores = int(info["constraint"]["cores"])
os.environ.setdefault("LOKY_MAX_CPU_COUNT", str(cores))  # joblib cannot count physical cores in every sandbox
budget = max(5.0, CONFIG["time_share"] * float(info["constraint"]["max_runtime_seconds"]))
metric = info["metrics"][0]
train = pd.read_csv("data/train.csv")
test = pd.read_csv("data/test.csv")
X, y = train.drop(columns=[target]), train[target]
if classes is not None:
    y = y.astype(str)
categorical = [c for c in X.columns if c in info["categorical"] or not pd.api.types.is_numeric_dtype(X[c])]
print(f"{CONFIG['framework']}: {kind} task, {len(X)} rows, {X.shape[1]} features ({len(categorical)} categorical), "
      f"metric {metric}, {budget:.0f} s, {cores} cores")


def write(pred, proba):
    out = pd.DataFrame(index=test.index)
    if proba is not None:
        for c in classes:
            out[c] = proba[c].to_numpy() if c in proba.columns else 0.0
    out["predictions"] = np.asarray(pred)
    out.to_csv(CONFIG["submission"], index=False)
    print(f"wrote {CONFIG['submission']} ({len(out)} rows) after {time.monotonic() - START:.1f} s")


def remaining():
    return budget - (time.monotonic() - START)


# ------------------------------------------------------------------ scikit-learn
def run_sklearn():
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import (ExtraTreesClassifier, ExtraTreesRegressor, HistGradientBoostingClassifier,
                                  HistGradientBoostingRegressor, RandomForestClassifier, RandomForestRegressor)
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    scorer = {"auc": "roc_auc", "logloss": "neg_log_loss", "acc": "accuracy", "balacc": "balanced_accuracy",
              "rmse": "neg_root_mean_squared_error", "mae": "neg_mean_absolute_error", "r2": "r2",
              "mse": "neg_mean_squared_error", "f1": "f1_macro"}.get(metric, None)
    Xc, Tc = X.copy(), test.copy()
    for f in (Xc, Tc):
        f[categorical] = f[categorical].astype("string").fillna("missing").astype(object)
    numeric = [c for c in Xc.columns if c not in categorical]
    clf = kind != "regression"
    candidates = [
        ("hist_gradient_boosting", (HistGradientBoostingClassifier if clf else HistGradientBoostingRegressor)(random_state=CONFIG["seed"])),
        ("random_forest", (RandomForestClassifier if clf else RandomForestRegressor)(n_estimators=300, n_jobs=cores, random_state=CONFIG["seed"])),
        ("extra_trees", (ExtraTreesClassifier if clf else ExtraTreesRegressor)(n_estimators=300, n_jobs=cores, random_state=CONFIG["seed"])),
        ("linear", LogisticRegression(max_iter=2000) if clf else Ridge()),
    ]
    best, best_score, slowest = None, -np.inf, 0.0
    for name, model in candidates:
        if best is not None and remaining() < 1.5 * slowest:  # keep time to refit the best one
            print(f"time budget nearly spent; skipping {name} and later models")
            break
        t0 = time.monotonic()
        pipe = make_pipeline(ColumnTransformer([
            ("num", make_pipeline(SimpleImputer(strategy="median"), StandardScaler()), numeric),
            ("cat", OneHotEncoder(handle_unknown="ignore", min_frequency=5), categorical)]), model)
        try:
            s = float(np.mean(cross_val_score(pipe, Xc, y, cv=3, scoring=scorer, n_jobs=1)))
        except ValueError as e:
            print(f"{name}: {e}")
            continue
        slowest = max(slowest, (time.monotonic() - t0) / 3)
        print(f"{name}: 3-fold {scorer} {s:.4f}")
        if s > best_score:
            best, best_score = pipe, s
    best.fit(Xc, y)
    proba = pd.DataFrame(best.predict_proba(Tc), columns=[str(c) for c in best.classes_]) if clf else None
    write(best.predict(Tc), proba)


# ------------------------------------------------------------------ FLAML
def run_flaml():
    import importlib.util

    from flaml import AutoML

    fl_metric = {"auc": "roc_auc", "logloss": "log_loss", "acc": "accuracy", "rmse": "rmse", "mae": "mae", "r2": "r2",
                 "mse": "mse", "f1": "macro_f1"}.get(metric, "auto")
    estimators = [e for e, mod in (("lgbm", "lightgbm"), ("xgboost", "xgboost")) if importlib.util.find_spec(mod)]
    estimators += ["rf", "extra_tree"] + (["lrl1"] if kind != "regression" else [])
    Xf, Tf = X.copy(), test.copy()
    for f in (Xf, Tf):
        f[categorical] = f[categorical].astype("string").fillna("missing").astype("category")
    numeric = [c for c in Xf.columns if c not in categorical]
    medians = Xf[numeric].median()
    Xf[numeric], Tf[numeric] = Xf[numeric].fillna(medians), Tf[numeric].fillna(medians)
    automl = AutoML()
    automl.fit(Xf, y, task="regression" if kind == "regression" else "classification", metric=fl_metric,
               time_budget=max(3, int(remaining())), n_jobs=cores, estimator_list=estimators, seed=CONFIG["seed"],
               verbose=0)
    print(f"FLAML best: {automl.best_estimator} {automl.best_config} (validation loss {automl.best_loss:.4f})")
    proba = None
    if kind != "regression":
        proba = pd.DataFrame(automl.predict_proba(Tf), columns=[str(c) for c in automl.classes_])
    write(automl.predict(Tf), proba)


# ------------------------------------------------------------------ AutoGluon
def run_autogluon():
    try:
        from autogluon.tabular import TabularPredictor
    except ImportError:
        sys.exit("autogluon is not installed in the task environment: pip install 'autogluon.tabular' "
                 "(or add it to the task's environment requirements)")
    ag_metric = {"auc": "roc_auc", "logloss": "log_loss", "acc": "accuracy", "balacc": "balanced_accuracy",
                 "rmse": "root_mean_squared_error", "mae": "mean_absolute_error", "r2": "r2",
                 "mse": "mean_squared_error", "f1": "f1_macro"}.get(metric)
    problem = {"binary": "binary", "multiclass": "multiclass", "regression": "regression"}[kind]
    data = X.assign(**{target: y})
    predictor = TabularPredictor(label=target, problem_type=problem, eval_metric=ag_metric, path="AutogluonModels",
                                 verbosity=1)
    predictor.fit(data, time_limit=max(5, int(remaining())), num_cpus=cores, presets="medium_quality")
    proba = None
    if kind != "regression":
        proba = predictor.predict_proba(test)
        proba.columns = [str(c) for c in proba.columns]
    write(predictor.predict(test).astype(str) if kind != "regression" else predictor.predict(test), proba)


{"sklearn": run_sklearn, "flaml": run_flaml, "autogluon": run_autogluon}[CONFIG["framework"]]()
