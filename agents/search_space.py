"""Edits of a training script found in its syntax tree, for ``--agent search``.

Three edit types, each a pure function ``(source, rng) -> Edit | None``:

``numeric``  change a number passed as a keyword argument (``max_depth=6`` -> ``max_depth=12``),
             within the known range of that hyperparameter, else by a factor of 0.5-2;
``add``      pass a hyperparameter of a known model that the call leaves at its default;
``model``    swap a known scikit-learn estimator for another of the same kind (classifier or
             regressor), keeping the keyword arguments the new one accepts and importing it.

Keywords that fix the experiment rather than the model (``random_state``, ``test_size``, ...)
are never touched.  Comments do not survive (the tree is unparsed); the first line of an
edited script names the edit (``# search edit: [model] DecisionTreeClassifier -> SVC``), so
the trace shows what each candidate tried.
"""

from __future__ import annotations

import ast
import dataclasses
import math
import random
from collections.abc import Callable

EDIT_TYPES = ("numeric", "add", "model")
FIXED = frozenset({"random_state", "seed", "test_size", "train_size", "n_jobs", "verbose", "shuffle", "stratify", "cv"})
MARK = "# search edit: "


@dataclasses.dataclass(frozen=True)
class Param:
    low: float
    high: float
    integer: bool = True
    log: bool = False

    def sample(self, rng: random.Random) -> int | float:
        if self.log:
            v = math.exp(rng.uniform(math.log(self.low), math.log(self.high)))
        else:
            v = rng.uniform(self.low, self.high)
        return round(v) if self.integer else float(f"{v:.3g}")

    def clip(self, v: float) -> int | float:
        v = min(max(v, self.low), self.high)
        return round(v) if self.integer else float(f"{v:.3g}")


@dataclasses.dataclass(frozen=True)
class Model:
    module: str
    kind: str  # "classifier" or "regressor"
    params: dict[str, Param]
    accepts: frozenset[str] = frozenset({"random_state"})  # besides params, kept on a swap


_TREE = {"max_depth": Param(2, 40), "min_samples_leaf": Param(1, 20)}
_FOREST = {"n_estimators": Param(20, 400, log=True), "max_depth": Param(4, 40), "min_samples_leaf": Param(1, 10)}
_HGB = {"max_iter": Param(50, 400, log=True), "learning_rate": Param(0.02, 0.5, integer=False, log=True),
        "max_leaf_nodes": Param(8, 64)}
_KNN = {"n_neighbors": Param(1, 30)}
_SVM = {"C": Param(0.1, 100, integer=False, log=True)}
_NONE: frozenset[str] = frozenset()

MODELS: dict[str, Model] = {
    "DecisionTreeClassifier": Model("sklearn.tree", "classifier", _TREE),
    "RandomForestClassifier": Model("sklearn.ensemble", "classifier", _FOREST, frozenset({"random_state", "n_jobs"})),
    "ExtraTreesClassifier": Model("sklearn.ensemble", "classifier", _FOREST, frozenset({"random_state", "n_jobs"})),
    "HistGradientBoostingClassifier": Model("sklearn.ensemble", "classifier", _HGB),
    "KNeighborsClassifier": Model("sklearn.neighbors", "classifier", _KNN, frozenset({"n_jobs"})),
    "SVC": Model("sklearn.svm", "classifier", _SVM),
    "LogisticRegression": Model("sklearn.linear_model", "classifier",
                                {"C": Param(0.01, 100, integer=False, log=True), "max_iter": Param(200, 5000, log=True)},
                                frozenset({"random_state", "n_jobs"})),
    "DecisionTreeRegressor": Model("sklearn.tree", "regressor", _TREE),
    "RandomForestRegressor": Model("sklearn.ensemble", "regressor", _FOREST, frozenset({"random_state", "n_jobs"})),
    "ExtraTreesRegressor": Model("sklearn.ensemble", "regressor", _FOREST, frozenset({"random_state", "n_jobs"})),
    "HistGradientBoostingRegressor": Model("sklearn.ensemble", "regressor", _HGB),
    "KNeighborsRegressor": Model("sklearn.neighbors", "regressor", _KNN, frozenset({"n_jobs"})),
    "SVR": Model("sklearn.svm", "regressor", _SVM, _NONE),
    "Ridge": Model("sklearn.linear_model", "regressor", {"alpha": Param(0.01, 100, integer=False, log=True)}),
}


@dataclasses.dataclass(frozen=True)
class Edit:
    kind: str  # one of EDIT_TYPES
    what: str  # e.g. "DecisionTreeClassifier max_depth 6 -> 12"
    source: str  # the whole edited script, first line MARK + [kind] what


def _name(func: ast.expr) -> str | None:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return None


def _number(node: ast.expr) -> int | float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return node.value
    return None


def _calls(tree: ast.AST) -> list[ast.Call]:
    return [n for n in ast.walk(tree) if isinstance(n, ast.Call)]


def _emit(tree: ast.Module, kind: str, what: str) -> Edit:
    body = ast.unparse(ast.fix_missing_locations(tree))
    return Edit(kind, what, f"{MARK}[{kind}] {what}\n{body}\n")


def marked_kind(source: str) -> str | None:
    """The edit type a script's first line names (see :func:`_emit`); None for a script not made here."""
    head = source.split("\n", 1)[0]
    if not head.startswith(MARK + "["):
        return None
    kind = head[len(MARK) + 1:].split("]", 1)[0]
    return kind if kind in EDIT_TYPES else None


def _strip_mark(source: str) -> str:
    return source.split("\n", 1)[1] if source.startswith(MARK) else source


def numeric(source: str, rng: random.Random) -> Edit | None:
    tree = ast.parse(_strip_mark(source))
    sites = [(c, k) for c in _calls(tree) for k in c.keywords
             if k.arg and k.arg not in FIXED and _number(k.value) is not None]
    if not sites:
        return None
    call, kw = rng.choice(sites)
    old = _number(kw.value)
    assert old is not None and kw.arg is not None
    model = MODELS.get(_name(call.func) or "")
    param = model.params.get(kw.arg) if model else None
    new: int | float = old
    for _ in range(20):
        factor = rng.choice((0.5, 0.7, 1.5, 2.0))
        if param is not None:
            new = param.clip(old * factor) if rng.random() < 0.7 else param.sample(rng)
        elif isinstance(old, int):
            new = max(1, round(old * factor))
        else:
            new = float(f"{old * factor:.3g}")
            if 0 < old < 1:
                new = min(new, 0.99)
        if new != old:
            break
    if new == old:
        return None
    kw.value = ast.Constant(new)
    return _emit(tree, "numeric", f"{_name(call.func)} {kw.arg} {old} -> {new}")


def add(source: str, rng: random.Random) -> Edit | None:
    tree = ast.parse(_strip_mark(source))
    sites = []
    for call in _calls(tree):
        name = _name(call.func) or ""
        if name in MODELS:
            given = {k.arg for k in call.keywords}
            sites += [(call, name, p) for p in MODELS[name].params if p not in given]
    if not sites:
        return None
    call, name, p = rng.choice(sites)
    value = MODELS[name].params[p].sample(rng)
    call.keywords.append(ast.keyword(arg=p, value=ast.Constant(value)))
    return _emit(tree, "add", f"{name} {p}={value}")


def model(source: str, rng: random.Random) -> Edit | None:
    tree = ast.parse(_strip_mark(source))
    sites = [c for c in _calls(tree) if (_name(c.func) or "") in MODELS]
    if not sites:
        return None
    call = rng.choice(sites)
    old = _name(call.func) or ""
    choices = [m for m, spec in MODELS.items() if spec.kind == MODELS[old].kind and m != old]
    new = rng.choice(choices)
    spec = MODELS[new]
    call.func = ast.Name(id=new, ctx=ast.Load())
    call.keywords = [k for k in call.keywords if k.arg in spec.params or k.arg in spec.accepts]
    if new not in _imported(tree):
        last = max((i for i, n in enumerate(tree.body) if isinstance(n, (ast.Import, ast.ImportFrom))), default=-1)
        tree.body.insert(last + 1, ast.ImportFrom(module=spec.module, names=[ast.alias(name=new)], level=0))
    return _emit(tree, "model", f"{old} -> {new}")


def _imported(tree: ast.Module) -> set[str]:
    return {a.asname or a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}


EDITS: dict[str, Callable[[str, random.Random], Edit | None]] = {"numeric": numeric, "add": add, "model": model}


def propose(source: str, rng: random.Random, weights: dict[str, float] | None = None, tries: int = 20) -> Edit | None:
    """One edit of ``source``: an edit type drawn by ``weights`` (uniform by default), then a site and a value."""
    kinds = [k for k in EDIT_TYPES if (weights or {}).get(k, 1.0) > 0]
    w = [(weights or {}).get(k, 1.0) for k in kinds]
    try:
        ast.parse(_strip_mark(source))
    except (SyntaxError, ValueError):
        return None  # not Python we can read (e.g. a file shown only in part)
    for _ in range(tries if kinds else 0):
        edit = EDITS[rng.choices(kinds, weights=w)[0]](source, rng)
        if edit is not None and edit.source != source:
            return edit
    return None
