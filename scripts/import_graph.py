"""Import graph of the mlgym package: cycles and family leaks.

Counts every import (module level and inside functions) and every ``"package.module:attr"``
string, as the issue's outside checks do. Usage: ``python scripts/import_graph.py [--verbose]``.
Exit status 1 when there is a cycle or a family leak.
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
                if r and r != m and not (m.startswith(r + ".") and r in mods and mods[r].name == "__init__.py" and t == r):
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


def main() -> int:
    mods = modules()
    g = edges(mods)
    cyc = sccs(g)
    lk = leaks(mods, g)
    verbose = "--verbose" in sys.argv
    print(f"modules: {len(mods)}  cycles (strongly connected groups): {len(cyc)}  family leaks: {len(lk)}")
    if verbose:
        for c in cyc:
            print(f"cycle of {len(c)}: {' '.join(c)}")
        for line in lk:
            print("leak:", line)
    return 1 if cyc or lk else 0


if __name__ == "__main__":
    raise SystemExit(main())
