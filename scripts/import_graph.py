"""Import graph of the mlgym package: cycles, family leaks and layer violations.

Counts every import (module level, inside functions, under ``TYPE_CHECKING``) and every
``"package.module:attr"`` string. The layers (docs/design.md) are the table ``ALLOWED`` below;
``--write-ruff`` writes one ``ruff.toml`` per layer package banning the imports its layer may
not make, so ruff (run in CI by tests/integration/test_layers.py) flags them in an editor too.

Usage: ``python scripts/import_graph.py [--verbose] [--write-ruff]``; exit status 1 when
there is a cycle, a family leak or a layer violation.
"""
from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PKG_DIRS = {"mlgym": ROOT / "mlgym", "mlgym.agents": ROOT / "agents", "mlgym.benchmarks": ROOT / "benchmarks"}
FAMILIES = ("folder", "kaggle", "mlagentbench", "amlb", "multimodal", "mlbench")
MODSTR = re.compile(r"^(mlgym(?:\.[A-Za-z_][A-Za-z0-9_]*)+)(?::[A-Za-z_][A-Za-z0-9_.]*)?$")


def modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for prefix, d in PKG_DIRS.items():
        for p in sorted(d.rglob("*.py")):
            rel = p.relative_to(d).with_suffix("")
            parts = [x for x in rel.parts if x != "__init__"]
            out[".".join([prefix, *parts])] = p
    return out


def resolve(name: str, mods: dict[str, Path]) -> str | None:
    while name:
        if name in mods:
            return name
        name = name.rpartition(".")[0]
    return None


def edges(mods: dict[str, Path]) -> dict[str, set[str]]:
    g: dict[str, set[str]] = {m: set() for m in mods}
    for m, p in mods.items():
        tree = ast.parse(p.read_text(), str(p))
        is_pkg = p.name == "__init__.py"
        base = m if is_pkg else m.rpartition(".")[0]
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    b = base
                    for _ in range(node.level - 1):
                        b = b.rpartition(".")[0]
                    mod = f"{b}.{node.module}" if node.module else b
                else:
                    mod = node.module or ""
                targets = [f"{mod}.{a.name}" for a in node.names] + [mod]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                mm = MODSTR.match(node.value.strip())
                if mm:
                    targets = [mm.group(1)]
            for t in targets:
                r = resolve(t, mods)
                if r and r != m:
                    g[m].add(r)
    return g


def sccs(g: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]
    sys.setrecursionlimit(10000)

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in g[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in g:
        if v not in index:
            visit(v)
    return out


def leaks(mods: dict[str, Path], g: dict[str, set[str]]) -> list[str]:
    found = []
    for m, p in mods.items():
        if m.startswith(("mlgym.families", "mlgym.agents", "mlgym.benchmarks")):
            continue
        for t in sorted(g[m]):
            if t.startswith("mlgym.families.") and t.split(".")[2].split("_")[0] in FAMILIES:
                found.append(f"{m} imports {t}")
        tree = ast.parse(p.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                for c in [node.left, *node.comparators]:
                    if isinstance(c, ast.Constant) and c.value in FAMILIES:
                        found.append(f"{m}:{node.lineno} compares with {c.value!r}")
                    if isinstance(c, (ast.Tuple, ast.List, ast.Set)):
                        for e in c.elts:
                            if isinstance(e, ast.Constant) and e.value in FAMILIES:
                                found.append(f"{m}:{node.lineno} compares with {e.value!r}")
    return found


# layer -> the layers it may import (besides itself). Modules map to a layer by package prefix.
LAYERS = ("core", "runlog", "llm", "sandbox", "tasks", "grading", "families", "env", "analysis", "runs", "integrations", "cli", "agents", "benchmarks")
ALLOWED: dict[str, set[str]] = {
    "core": set(),
    "runlog": {"core"},
    "llm": {"core", "runlog"},
    "sandbox": {"core"},
    "tasks": {"core", "sandbox"},
    "grading": {"core", "sandbox", "tasks"},
    "families": {"core", "runlog", "llm", "sandbox", "tasks", "grading"},
    "env": {"core", "runlog", "llm", "sandbox", "tasks", "grading", "families"},
    "analysis": {"core", "runlog", "llm", "sandbox", "tasks", "grading"},
    "runs": {"core", "runlog", "llm", "sandbox", "tasks", "grading", "families", "env", "analysis", "agents"},
    "integrations": {"core", "runlog", "llm", "sandbox", "tasks", "grading", "families", "env", "analysis", "runs", "agents"},
    "cli": {"core", "runlog", "llm", "sandbox", "tasks", "grading", "families", "env", "analysis", "runs", "integrations", "agents"},
    "agents": {"core", "runlog", "llm", "tasks", "grading", "env"},
    "benchmarks": {"core", "families"},
}
# The root package and the public facades import anything; nothing imports them.
TOP = {"mlgym", "mlgym.runner", "mlgym.rollout", "mlgym.__main__", "mlgym.sdk"}


# A family package may hold run-level code (its grid/bench adapter, its CLI commands): such a
# module, mlgym.families.<family>.<one of these>, is in the runs layer, reached only through
# entry points / the catalog, never imported by the family's own lower-layer modules.
FAMILY_RUNS_MODULES = ("bench", "commands", "oneshot")


def layer(mod: str) -> str | None:
    if mod in TOP:
        return None
    parts = mod.split(".")
    if len(parts) == 4 and parts[1] == "families" and parts[3] in FAMILY_RUNS_MODULES:
        return "runs"
    if len(parts) >= 2 and parts[1] in LAYERS:
        return parts[1]
    return None


def violations(g: dict[str, set[str]]) -> list[str]:
    out = []
    for m, targets in g.items():
        src = layer(m)
        for t in sorted(targets):
            if t in TOP and m not in TOP:
                out.append(f"{m} imports {t} (the top-level package and facades are imported by nobody)")
                continue
            dst = layer(t)
            if src is None or dst is None or dst == src:
                continue
            if dst not in ALLOWED[src]:
                out.append(f"{m} ({src}) imports {t} ({dst})")
    return out


RUFF_HEADER = "# Generated by scripts/import_graph.py --write-ruff from its ALLOWED table: do not edit.\n"


def ruff_files() -> dict[Path, str]:
    files = {}
    for lay in LAYERS:
        d = PKG_DIRS["mlgym." + lay] if ("mlgym." + lay) in PKG_DIRS else ROOT / "mlgym" / lay
        banned = [x for x in LAYERS if x != lay and x not in ALLOWED[lay]]
        rel = "/".join([".."] * len(d.relative_to(ROOT).parts)) + "/pyproject.toml"
        body = RUFF_HEADER + f'extend = "{rel}"\n\n[lint.flake8-tidy-imports.banned-api]\n'
        for b in [*banned, "mlgym.runner", "mlgym.rollout", "mlgym.sdk"]:
            name = b if b.startswith("mlgym.") else "mlgym." + b
            body += f'"{name}".msg = "layer {lay} may not import {name} (docs/design.md, scripts/import_graph.py)"\n'
        if lay == "families":  # a family's run-level modules are in the runs layer: violations() checks them, ruff cannot
            body += "\n[lint.extend-per-file-ignores]\n"
            body += "".join(f'"*/{m}.py" = ["TID251"]\n' for m in FAMILY_RUNS_MODULES)
        files[d / "ruff.toml"] = body
    return files


def main() -> int:
    mods = modules()
    g = edges(mods)
    cyc = sccs(g)
    lk = leaks(mods, g)
    lv = violations(g)
    verbose = "--verbose" in sys.argv
    if "--write-ruff" in sys.argv:
        for path, body in ruff_files().items():
            path.write_text(body)
    print(f"modules: {len(mods)}  cycles (strongly connected groups): {len(cyc)}  family leaks: {len(lk)}  layer violations: {len(lv)}")
    if verbose:
        for c in cyc:
            print(f"cycle of {len(c)}: {' '.join(c)}")
        for line in lk:
            print("leak:", line)
        for line in lv:
            print("layer:", line)
    return 1 if cyc or lk or lv else 0


if __name__ == "__main__":
    raise SystemExit(main())
