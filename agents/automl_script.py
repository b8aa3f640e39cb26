"""An AutoML framework fitted within the task's constraint, writing AMLB's predictions.csv.

The automl agent writes this file into the workspace as automl.py with CONFIG filled in and
runs it.  It reads data/task.json (target, type, classes, metrics, constraint) and fits:
sklearn (a time-bounded search over scikit-learn models), flaml (FLAML's AutoML) or
autogluon (AutoGluon's TabularPredictor), with the constraint's cores and a share of its time.

A multimodal task's task.json ("layout": "multimodal") names image, text and numeric columns:
sklearn and flaml then fit on engineered columns (a 16x16 grey thumbnail plus mean and spread
of each image, 32 TF-IDF/SVD components and the word count of each text column, the numbers,
the categories) of train.csv + val.csv, and write the task's submission (row_id + the label,
or the positive class's probability); autogluon uses AutoGluon's MultiModalPredictor on the
raw columns, val.csv as its tuning data.
"""
# mypy: ignore-errors

import json
import os
import signal
import sys
import time

import numpy as np
import pandas as pd

CONFIG = {"framework": "sklearn", "time_share": 0.6, "seed": 0, "submission": "predictions.csv"}
START = time.monotonic()

info = json.load(open("data/task.json"))
MULTIMODAL = info.get("layout") == "multimodal"
target, kind, classes = info["target"], info["type"], info["classes"]
cores = info["constraint"]["cores"]  # null (multimodal): what this sandbox gives
cores = int(cores) if cores else max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))
os.environ.setdefault("LOKY_MAX_CPU_COUNT", str(cores))  # joblib cannot count physical cores in every sandbox
seconds = float(info["constraint"]["max_runtime_seconds"])
share = float(CONFIG["time_share"])
if CONFIG.get("seconds") and float(CONFIG["seconds"]) < seconds:  # the episode's own limit is smaller: the script is
    seconds = float(CONFIG["seconds"])                                # killed at it, so keep time to predict and write
    share = min(share, 0.6)
budget = max(5.0, share * seconds)
PARAMS = {k: v for k, v in (CONFIG.get("params") or {}).items() if not str(k).startswith("_")}  # AMLB: "_" keys are not the framework's
metric = info["metrics"][0]
if MULTIMODAL:  # the metric library's names in AMLB's spelling, which the frameworks' maps below know
    metric = {"accuracy": "acc", "log_loss": "logloss", "roc_auc": "auc", "balanced_accuracy": "balacc",
              "f1_macro": "f1"}.get(metric, metric)


# ------------------------------------------------------------------ multimodal columns
def image_block(col, cells):
    """A 16x16 grey thumbnail (256 values) plus mean and spread of the first image of each cell."""
    from PIL import Image

    out = np.zeros((len(cells), 258), dtype=np.float32)
    for i, cell in enumerate(cells):
        if not isinstance(cell, str) or not cell:
            continue
        try:
            with Image.open(cell.split(";")[0]) as img:
                grey = img.convert("L")
                full = np.asarray(grey, dtype=np.float32) / 255.0
                out[i, :256] = np.asarray(grey.resize((16, 16)), dtype=np.float32).ravel() / 255.0
        except OSError as e:
            print(f"{col}: cannot open {cell.split(';')[0]}: {e}")
            continue
        out[i, 256:] = full.mean(), full.std()
    return pd.DataFrame(out, columns=[*(f"{col}_px{j}" for j in range(256)), f"{col}_mean", f"{col}_std"])


def multimodal_frames():
    """(labelled rows, test rows) as engineered columns + the categories (+ the target for the labelled ones)."""
    from sklearn.decomposition import TruncatedSVD
    from sklearn.feature_extraction.text import TfidfVectorizer

    labelled, rows = RAW
    text = {}
    for col in info["text_columns"]:
        docs = labelled[col].fillna("").astype(str)
        try:
            tfidf = TfidfVectorizer(max_features=20000, sublinear_tf=True, ngram_range=(1, 2), min_df=2).fit(docs)
        except ValueError:  # too few rows or words for min_df=2
            tfidf = TfidfVectorizer(max_features=20000, sublinear_tf=True, ngram_range=(1, 2)).fit(docs)
        k = max(1, min(32, len(tfidf.vocabulary_) - 1))
        text[col] = (tfidf, TruncatedSVD(n_components=k, random_state=CONFIG["seed"]).fit(tfidf.transform(docs)))

    def columns(frame):
        blocks = [frame[info["numeric_columns"] + info["categorical"]].reset_index(drop=True)]
        for col in info["image_columns"]:
            blocks.append(image_block(col, frame[col].tolist()))
        for col, (tfidf, svd) in text.items():
            docs = frame[col].fillna("").astype(str)
            z = svd.transform(tfidf.transform(docs))
            blocks.append(pd.DataFrame(z, columns=[f"{col}_svd{j}" for j in range(z.shape[1])]))
            blocks.append(pd.DataFrame({f"{col}_words": docs.str.split().str.len().to_numpy(dtype=float)}))
        return pd.concat(blocks, axis=1)

    return columns(labelled).assign(**{target: labelled[target].to_numpy()}), columns(rows)


if MULTIMODAL:
    files = info["files"]
    RAW = (pd.concat([pd.read_csv(files["train"]), pd.read_csv(files["val"])], ignore_index=True), pd.read_csv(files["test"]))
    IDS = RAW[1][info["id"]].to_numpy()
    if CONFIG["framework"] == "autogluon":  # AutoGluon's MultiModalPredictor reads the raw columns itself
        train, test = RAW[0], RAW[1].drop(columns=[info["id"]])
    else:
        train, test = multimodal_frames()
        print(f"multimodal columns: {len(info['image_columns'])} image, {len(info['text_columns'])} text, "
              f"{len(info['numeric_columns'])} numeric -> {test.shape[1]} features in {time.monotonic() - START:.1f} s")
else:
    train = pd.read_csv("data/train.csv")
    test = pd.read_csv("data/test.csv")
X, y = train.drop(columns=[target]), train[target]
if classes is not None:
    y = y.astype(str)
categorical = [c for c in X.columns if c in info["categorical"] or not pd.api.types.is_numeric_dtype(X[c])]
print(f"{CONFIG['framework']}: {kind} task, {len(X)} rows, {X.shape[1]} features ({len(categorical)} categorical), "
      f"metric {metric}, {budget:.0f} s, {cores} cores")


def write(pred, proba):
    if MULTIMODAL:
        write_multimodal(pred, proba)
        return
    out = pd.DataFrame(index=test.index)
    if proba is not None:
        for c in classes:
            out[c] = proba[c].to_numpy() if c in proba.columns else 0.0
    out["predictions"] = np.asarray(pred)
    out.to_csv(CONFIG["submission"], index=False)
    print(f"wrote {CONFIG['submission']} ({len(out)} rows) after {time.monotonic() - START:.1f} s")


def write_multimodal(pred, proba):
    """The task's submission: row_id and the label (the positive class's probability for a probability metric)."""
    sub = info["submission"]
    value = np.asarray(pred)
    if info["prediction"] == "proba":
        if str(info["positive_class"]) not in proba.columns:
            sys.exit(f"the model's classes {list(proba.columns)} lack the positive class {info['positive_class']!r}")
        value = proba[str(info["positive_class"])].to_numpy()
    pd.DataFrame({info["id"]: IDS, target: value}).to_csv(sub["file"], index=False)
    print(f"wrote {sub['file']} ({len(value)} rows) after {time.monotonic() - START:.1f} s")


def remaining():
    return budget - (time.monotonic() - START)


class OutOfTime(BaseException):  # not an Exception: scikit-learn's cross-validation must not swallow it
    pass


def within_budget(fn):
    """fn(); in the multimodal layout it is stopped (OutOfTime) once the budget is spent."""
    if not MULTIMODAL or not hasattr(signal, "setitimer"):
        return fn()

    def stop(*_):
        raise OutOfTime()

    old = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, max(0.1, remaining()))
    try:
        return fn()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


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
    if MULTIMODAL:  # hundreds of engineered columns: the fast linear model first, so one is fitted whatever the budget
        candidates = candidates[-1:] + candidates[:-1]
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
            s = float(np.mean(within_budget(lambda: cross_val_score(pipe, Xc, y, cv=3, scoring=scorer, n_jobs=1))))
        except ValueError as e:
            print(f"{name}: {e}")
            continue
        except OutOfTime:
            print(f"time budget spent during {name}'s cross-validation; skipping it and later models")
            best = best or pipe  # nothing scored yet: fit this one unscored
            break
        slowest = max(slowest, (time.monotonic() - t0) / 3)
        print(f"{name}: 3-fold {scorer} {s:.4f}")
        if s > best_score:
            best, best_score = pipe, s
    best.fit(Xc, y)
    proba = pd.DataFrame(best.predict_proba(Tc), columns=[str(c) for c in best.classes_]) if clf else None
    write(best.predict(Tc), proba)


# ------------------------------------------------------------------ AMLB's reference frameworks
def encoded():
    """AMLB's encoded data (X_enc): categories as integer codes, missing values imputed with the median."""
    Xe, Te = X.copy(), test.copy()
    for c in categorical:
        codes = {v: i for i, v in enumerate(sorted(Xe[c].dropna().astype(str).unique()))}
        Xe[c], Te[c] = Xe[c].astype(str).map(codes), Te[c].astype(str).map(codes)
    Xe, Te = Xe.apply(pd.to_numeric, errors="coerce"), Te.apply(pd.to_numeric, errors="coerce")
    med = Xe.median()
    return Xe.fillna(med).fillna(0).to_numpy(float), Te.fillna(med).fillna(0).to_numpy(float)


def run_constantpredictor():
    """AMLB's constantpredictor: the class prior (DummyClassifier prior) or the median (DummyRegressor)."""
    from sklearn.dummy import DummyClassifier, DummyRegressor

    model = DummyRegressor(strategy="median") if kind == "regression" else DummyClassifier(strategy="prior")
    model.fit(np.zeros((len(y), 1)), y)
    Z = np.zeros((len(test), 1))
    proba = None if kind == "regression" else pd.DataFrame(model.predict_proba(Z), columns=[str(c) for c in model.classes_])
    write(model.predict(Z), proba)


def run_randomforest():
    """AMLB's RandomForest: warm-started forest grown 10 trees at a time up to n_estimators (2000) while the
    next step is expected to end within 90 % of the budget; on the encoded data, with the constraint's cores."""
    from sklearn.ensemble import RandomForestClassifier, RandomForestRegressor

    Xe, Te = encoded()
    limit, step = int(PARAMS.get("n_estimators", 2000)), 10
    Model = RandomForestRegressor if kind == "regression" else RandomForestClassifier
    rf = Model(n_jobs=cores, random_state=CONFIG["seed"], n_estimators=step, warm_start=True,
               **{k: v for k, v in PARAMS.items() if k != "n_estimators"})
    times = [0.0]
    t0 = time.monotonic()
    while True:
        rf.fit(Xe, y)
        times.append(time.monotonic() - t0)
        last = times[-min(len(times), 5):]
        nxt = times[-1] + max(b - a for a, b in zip(last, last[1:]))
        if rf.n_estimators >= limit or nxt >= 0.9 * budget:
            break
        rf.n_estimators += step
    print(f"RandomForest: {len(rf.estimators_)} trees in {times[-1]:.1f} s")
    proba = None if kind == "regression" else pd.DataFrame(rf.predict_proba(Te), columns=[str(c) for c in rf.classes_])
    write(rf.predict(Te), proba)


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
    kw = {"estimator_list": estimators, **PARAMS}
    automl.fit(Xf, y, task="regression" if kind == "regression" else "classification", metric=fl_metric,
               time_budget=max(3, int(remaining())), n_jobs=cores, seed=CONFIG["seed"], verbose=0, **kw)
    print(f"FLAML best: {automl.best_estimator} {automl.best_config} (validation loss {automl.best_loss:.4f})")
    proba = None
    if kind != "regression":
        proba = pd.DataFrame(automl.predict_proba(Tf), columns=[str(c) for c in automl.classes_])
    write(automl.predict(Tf), proba)


# ------------------------------------------------------------------ AutoGluon
def run_autogluon():
    if MULTIMODAL:
        run_autogluon_multimodal()
        return
    try:
        from autogluon.tabular import TabularPredictor
        from autogluon.tabular.version import __version__ as ag_version
    except ImportError:
        sys.exit("autogluon is not installed in the task environment: AMLB tasks build it (mlgym.families.amlb); "
                 "elsewhere pip install 'autogluon.tabular' there")
    ag_metric = {"auc": "roc_auc", "logloss": "log_loss", "acc": "accuracy", "balacc": "balanced_accuracy",
                 "rmse": "root_mean_squared_error", "mae": "mean_absolute_error", "r2": "r2",
                 "mse": "mean_squared_error", "f1": "f1_macro"}.get(metric)
    problem = {"binary": "binary", "multiclass": "multiclass", "regression": "regression"}[kind]
    data = X.assign(**{target: y})
    params = dict(PARAMS)
    limit = min(remaining(), float(params.pop("time_limit", remaining())))  # AutoGluon-Bench's time_limit may lower it
    if params.get("presets") in ("good_quality", "high_quality"):  # AMLB's exec.py: these presets get 90 % of the time
        limit *= 0.9
    predictor = TabularPredictor(label=target, problem_type=problem, eval_metric=ag_metric, path="AutogluonModels",
                                 verbosity=1)
    predictor.fit(data, time_limit=max(5, int(limit)), num_cpus=cores, **params)
    print(f"AutoGluon {ag_version}: best model {predictor.model_best} ({len(predictor.model_names())} models)")
    proba = None
    if kind != "regression":
        proba = predictor.predict_proba(test)
        proba.columns = [str(c) for c in proba.columns]
    write(predictor.predict(test).astype(str) if kind != "regression" else predictor.predict(test), proba)


def run_autogluon_multimodal():
    """AutoGluon-Bench's multimodal run: MultiModalPredictor(**predictor_args).fit(**fit_args) with the framework's
    params ({predictor_args: {presets...}, fit_args: {time_limit, hyperparameters...}}, as multimodal_frameworks.yaml
    gives them; legacy top-level presets / fit keys too); label, problem type, metric and data come from the task."""
    try:
        from autogluon.multimodal import MultiModalPredictor
    except ImportError:
        sys.exit("autogluon.multimodal is not installed in the task environment: pip install 'autogluon.multimodal' "
                 "(or add it to the task's environment requirements)")
    ag_metric = {"auc": "roc_auc", "logloss": "log_loss", "acc": "accuracy", "balacc": "balanced_accuracy",
                 "rmse": "root_mean_squared_error", "mae": "mean_absolute_error", "r2": "r2", "f1": "f1_macro"}.get(metric)
    types = {**{c: "image_path" for c in info["image_columns"]}, **{c: "text" for c in info["text_columns"]}}
    labelled = train.copy()
    if kind != "regression":
        labelled[target] = y
    n_train = len(pd.read_csv(info["files"]["train"], usecols=[target]))
    params = dict(PARAMS)
    predictor_args = {"presets": params.pop("presets", None), **(params.pop("predictor_args", None) or {})}
    seed = params.pop("seed", CONFIG["seed"])
    fit_args = {**(params.pop("fit_args", None) or {}), **params}  # AutoGluon-Bench: legacy top-level keys are fit's
    limit = min(remaining(), float(fit_args.pop("time_limit", remaining())))
    hyper = {"env.num_workers": cores, **(fit_args.pop("hyperparameters", None) or {})}
    print(f"MultiModalPredictor({predictor_args}).fit(time_limit={int(limit)}, hyperparameters={hyper}, {fit_args})")
    predictor = MultiModalPredictor(label=target, problem_type=kind, eval_metric=ag_metric, path="AutogluonModels", verbosity=2,
                                    **{k: v for k, v in predictor_args.items() if v is not None})
    try:
        predictor.fit(labelled.iloc[:n_train], tuning_data=labelled.iloc[n_train:], time_limit=max(30, int(limit)),
                      column_types=types, seed=seed, hyperparameters=hyper, **fit_args)
    except OSError as e:  # the pretrained backbones come from the Hugging Face hub / timm on first use
        text = str(e).splitlines()[0] if str(e) else type(e).__name__
        if any(w in str(e).lower() for w in ("connect", "resolve", "offline", "network", "huggingface", "hf.co", "url")):
            sys.exit(f"AutoGluon's MultiModalPredictor could not download its pretrained model (no network here?): {text}")
        raise
    proba = None
    if kind != "regression":
        proba = predictor.predict_proba(test, as_pandas=True)
        proba.columns = [str(c) for c in proba.columns]
    write(predictor.predict(test, as_pandas=False), proba)


{"sklearn": run_sklearn, "flaml": run_flaml, "autogluon": run_autogluon, "constantpredictor": run_constantpredictor,
 "randomforest": run_randomforest}[CONFIG["framework"]]()
