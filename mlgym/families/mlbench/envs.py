"""What an ML-Bench repository needs, read from what it declares at the pinned commit.

Nothing of the repository is run: :func:`declared` reads, in a tree extracted at the pin,

* ``setup.py`` ``install_requires`` through :mod:`ast` (a list literal, a name bound to one,
  ``a + b``, or a helper reading a ``requirements*.txt`` the file names; never executed),
* ``setup.cfg`` ``[options] install_requires``, ``pyproject.toml`` ``[project] dependencies``
  (and dynamic ones read from ``[tool.setuptools.dynamic] dependencies.file``),
* ``requirements.txt`` (``-r`` includes inside the tree; options, editables and URLs are
  skipped, each with a note),
* ``environment.yml``'s ``pip:`` part (conda packages are skipped, with a note).

:func:`plan` adds the shipped per-repository extras (``envs.yaml``: ``add``, ``drop``,
``replace``, ``local``) and maps the PyTorch family to the CPU build: a pinned ``torch``,
``torchvision`` or ``torchaudio`` loses its version, the constraint ``torch==<the lock's CPU
build>`` decides.  Every change from the declarations is one note line.
"""

from __future__ import annotations

import ast
import configparser
import dataclasses
import functools
import re
import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

__all__ = ["Declared", "Plan", "declared", "extras_for", "plan", "torch_constraint"]

TORCH_FAMILY = {"torch", "torchvision", "torchaudio"}


@dataclasses.dataclass
class Declared:
    requirements: list[str] = dataclasses.field(default_factory=list)  # pip requirement strings, in order
    sources: list[str] = dataclasses.field(default_factory=list)  # files that contributed
    skipped: list[str] = dataclasses.field(default_factory=list)  # "<file>: <line> (why)"

    def add(self, req: str, source: str) -> None:
        req = req.strip()
        if not req:
            return
        try:
            Requirement(req)
        except InvalidRequirement:
            self.skipped.append(f"{source}: {req} (not a pip requirement)")
            return
        self.requirements.append(req)


def _read(path: Path) -> str:
    return path.read_text(errors="replace")


def _requirements_txt(path: Path, root: Path, out: Declared, seen: set[Path]) -> None:
    path = path.resolve()
    if path in seen or not path.is_file() or root.resolve() not in path.parents:
        return
    seen.add(path)
    rel = str(path.relative_to(root.resolve()))
    out.sources.append(rel)
    for raw in _read(path).splitlines():
        line = raw.split(" #", 1)[0].split("\t#", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ")):
            _requirements_txt(path.parent / line.split(None, 1)[1].strip(), root, out, seen)
        elif line.startswith("-"):
            out.skipped.append(f"{rel}: {line} (pip option or editable install)")
        elif "://" in line or line.startswith("git+"):
            out.skipped.append(f"{rel}: {line} (a URL: not from the package index)")
        else:
            out.add(line, rel)


def _literal_strings(node: ast.AST, bindings: dict[str, ast.AST], depth: int = 0) -> list[str] | None:
    """The strings of a list/tuple literal (through a name bound to one, and ``a + b``)."""
    if depth > 20:
        return None
    if isinstance(node, ast.Name) and node.id in bindings:
        return _literal_strings(bindings[node.id], bindings, depth + 1)
    if isinstance(node, (ast.List, ast.Tuple)):
        vals = []
        for elt in node.elts:
            if isinstance(elt, ast.Constant) and isinstance(elt.value, str):
                vals.append(elt.value)
            else:
                return None
        return vals
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        a, b = _literal_strings(node.left, bindings, depth + 1), _literal_strings(node.right, bindings, depth + 1)
        return None if a is None or b is None else a + b
    return None


def _setup_py(path: Path, root: Path, out: Declared, seen: set[Path]) -> None:
    try:
        tree = ast.parse(_read(path))
    except SyntaxError as e:
        out.skipped.append(f"setup.py: not parseable ({e.msg})")
        return
    bindings: dict[str, ast.AST] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            bindings[node.targets[0].id] = node.value
    txt_names = {n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)
                 and re.fullmatch(r"[\w./-]*requirements[\w.-]*\.txt", n.value)}
    for node in ast.walk(tree):
        func = node.func if isinstance(node, ast.Call) else None
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if not isinstance(node, ast.Call) or name != "setup":
            continue
        out.sources.append("setup.py")
        for kw in node.keywords:
            if kw.arg != "install_requires":
                continue
            vals = _literal_strings(kw.value, bindings)
            if vals is not None:
                for v in vals:
                    out.add(v, "setup.py")
            elif txt_names:  # install_requires=read("requirements.txt") and the like
                for txt in sorted(txt_names):
                    if not any(w in txt for w in ("dev", "test", "doc")):
                        _requirements_txt(path.parent / txt, root, out, seen)
            else:
                out.skipped.append(f"setup.py: install_requires={ast.unparse(kw.value)[:80]} (computed; not evaluated)")


def _setup_cfg(path: Path, out: Declared) -> None:
    cfg = configparser.ConfigParser()
    try:
        cfg.read_string(_read(path))
    except configparser.Error as e:
        out.skipped.append(f"setup.cfg: unreadable ({' '.join(str(e).split())[:120]})")
        return
    value = cfg.get("options", "install_requires", fallback="")
    if value.strip():
        out.sources.append("setup.cfg")
        for line in value.splitlines():
            out.add(line.split("#", 1)[0], "setup.cfg")


def _pyproject(path: Path, root: Path, out: Declared, seen: set[Path]) -> None:
    try:
        data = tomllib.loads(_read(path))
    except tomllib.TOMLDecodeError as e:
        out.skipped.append(f"pyproject.toml: unreadable ({e})")
        return
    project = data.get("project") or {}
    deps = project.get("dependencies")
    if isinstance(deps, list) and deps:
        out.sources.append("pyproject.toml")
        for d in deps:
            out.add(str(d), "pyproject.toml")
    elif "dependencies" in (project.get("dynamic") or []):
        dyn = ((data.get("tool") or {}).get("setuptools") or {}).get("dynamic") or {}
        files = (dyn.get("dependencies") or {}).get("file", []) if isinstance(dyn.get("dependencies"), dict) else []
        for f in [files] if isinstance(files, str) else files:
            _requirements_txt(path.parent / str(f), root, out, seen)


def _environment_yml(path: Path, out: Declared) -> None:
    try:
        data = yaml.safe_load(_read(path)) or {}
    except yaml.YAMLError:
        out.skipped.append(f"{path.name}: unreadable YAML")
        return
    if not isinstance(data, dict):
        return
    out.sources.append(path.name)
    for dep in data.get("dependencies") or []:
        if isinstance(dep, dict) and "pip" in dep:
            for p in dep["pip"] or []:
                text = str(p)
                if "://" in text or text.startswith("git+"):
                    out.skipped.append(f"{path.name}: {text} (a URL: not from the package index)")
                else:
                    out.add(text, path.name)
        elif isinstance(dep, str):
            out.skipped.append(f"{path.name}: {dep} (a conda package; only the pip part is read)")


def declared(tree: Path, folder: str = "") -> Declared:
    """What the repository at ``tree`` declares (``folder``: a sub-project read instead of the root)."""
    root = tree / folder if folder else tree
    out = Declared()
    seen: set[Path] = set()
    # setup.py/setup.cfg/pyproject first: the package's own list; requirements.txt (often exact pins) after it
    if (root / "setup.py").is_file():
        _setup_py(root / "setup.py", tree, out, seen)
    if (root / "setup.cfg").is_file():
        _setup_cfg(root / "setup.cfg", out)
    if (root / "pyproject.toml").is_file():
        _pyproject(root / "pyproject.toml", tree, out, seen)
    if (root / "requirements.txt").is_file():
        _requirements_txt(root / "requirements.txt", tree, out, seen)
    for name in ("environment.yml", "environment.yaml"):
        if (root / name).is_file():
            _environment_yml(root / name, out)
    out.requirements = list(dict.fromkeys(out.requirements))
    return out


@dataclasses.dataclass
class Plan:
    requirements: list[str]  # what pip is asked for (torch family unpinned)
    notes: list[str]  # one line per change from what the repository declares
    declared: Declared
    local: list[str]  # folders of the tree installed as packages (--no-deps, after the requirements)


@functools.lru_cache(maxsize=1)
def _shipped() -> dict[str, Any]:
    text = resources.files("mlgym.families.mlbench").joinpath("envs.yaml").read_text()
    data = yaml.safe_load(text) or {}
    repos = data.get("repositories") if isinstance(data, dict) else None
    return dict(repos) if isinstance(repos, dict) else {}


def extras_for(repo: str, github_id: int | None = None) -> dict[str, Any]:
    """The shipped extras of a repository (by ML-Bench's folder or GitHub name, or ``github_id``)."""
    shipped = _shipped()
    if repo in shipped:
        return dict(shipped[repo])
    for name, entry in shipped.items():
        if not isinstance(entry, dict):
            continue
        if str(entry.get("github", "")).rstrip("/").rsplit("/", 1)[-1].lower() == repo.lower() or name.lower() == repo.lower():
            return dict(entry)
        if github_id is not None and entry.get("github_id") == github_id and github_id != 12:
            return dict(entry)
    return {}


def plan(tree: Path, extras: dict[str, Any] | None = None) -> Plan:
    """The requirement list of a repository's environment: declared + extras, torch -> CPU build.

    ``extras`` (one entry of ``envs.yaml``): ``folder`` (read a sub-project instead of the root),
    ``add`` (requirements), ``drop`` (project names never installed: CUDA-only, conda-only, demo
    tools), ``replace`` ({name: requirement}), ``local`` (folders of the tree installed as
    packages, e.g. ``.`` for the package the rows import)."""
    extras = extras or {}
    dec = declared(tree, str(extras.get("folder") or ""))
    drop = {canonicalize_name(str(n)) for n in extras.get("drop") or []}
    why = {canonicalize_name(str(k)): str(v) for k, v in (extras.get("why") or {}).items()} if isinstance(extras.get("why"), dict) else {}
    replace = {canonicalize_name(str(k)): str(v) for k, v in (extras.get("replace") or {}).items()}
    reqs: dict[str, str] = {}
    notes = [f"skipped {s}" for s in dec.skipped]
    for raw in [*dec.requirements, *(str(a) for a in extras.get("add") or [])]:
        r = Requirement(raw)
        if r.marker is not None and not r.marker.evaluate():
            continue
        name = canonicalize_name(r.name)
        if name in drop:
            notes.append(f"dropped {raw} ({why.get(name, 'not installable here')}; envs.yaml)")
            continue
        if name in replace:
            if replace[name] != raw:
                notes.append(f"replaced {raw} by {replace[name]} (envs.yaml)")
            raw = replace[name]
            r = Requirement(raw)
        if name in TORCH_FAMILY and (r.specifier or r.url):
            notes.append(f"{raw} -> {r.name} (PyTorch's CPU build)")
            raw = r.name + (f"[{','.join(sorted(r.extras))}]" if r.extras else "")
        if name in reqs and reqs[name] != raw:
            notes.append(f"{reqs[name]} and {raw}: using {raw}")  # the later source is the more specific one
        reqs[name] = raw
    local = [str(x) for x in extras.get("local") or [] if ".." not in Path(str(x)).parts]
    return Plan(list(reqs.values()), notes, dec, local)


def torch_constraint(lock: list[str]) -> list[str]:
    """The pins of a repository environment: the lock's torch (PyTorch's CPU build) only;
    repositories pin their own numpy, pandas and the rest."""
    return [c for c in lock if canonicalize_name(c.split("==")[0]) == "torch"]
