"""The layers of docs/design.md hold: no import cycle, no family named outside its package,
no import that points up a layer, and ruff (the lint rule enforcing the layers) passes.

The graph counts module-level, function-level and TYPE_CHECKING imports and "module:attr"
strings (scripts/import_graph.py), as the outside checks of issue 20 do.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("import_graph", ROOT / "scripts" / "import_graph.py")
assert _spec is not None and _spec.loader is not None
ig = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(ig)


def _graph() -> tuple[dict[str, Path], dict[str, set[str]]]:
    mods = ig.modules()
    return mods, ig.edges(mods)


def test_no_import_cycles() -> None:
    _, g = _graph()
    assert ig.sccs(g) == []


def test_no_family_leaks() -> None:
    mods, g = _graph()
    assert ig.leaks(mods, g) == []


def test_imports_point_down() -> None:
    _, g = _graph()
    assert ig.violations(g) == []


def test_the_graph_sees_what_outside_checks_count(tmp_path: Path) -> None:
    """A cycle closed only by a function-level import, or only by a "module:attr" string, is found."""
    pkg = tmp_path / "mlgym"
    (pkg / "core").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "core" / "__init__.py").write_text("")
    (pkg / "core" / "a.py").write_text("from mlgym.core.b import x\n")
    (pkg / "core" / "b.py").write_text("def f():\n    from mlgym.core import a\nx = 1\n")
    (pkg / "core" / "c.py").write_text("ENTRY = 'mlgym.core.d:D'\n")
    (pkg / "core" / "d.py").write_text("import mlgym.core.c\nclass D: ...\n")
    old = dict(ig.PKG_DIRS)
    try:
        ig.PKG_DIRS.clear()
        ig.PKG_DIRS["mlgym"] = pkg
        cycles = ig.sccs(ig.edges(ig.modules()))
    finally:
        ig.PKG_DIRS.clear()
        ig.PKG_DIRS.update(old)
    assert sorted(cycles) == [["mlgym.core.a", "mlgym.core.b"], ["mlgym.core.c", "mlgym.core.d"]]


def test_ruff_layer_files_are_current() -> None:
    for path, body in ig.ruff_files().items():
        assert path.read_text() == body, f"{path} is stale: run python3 scripts/import_graph.py --write-ruff"


def test_ruff_passes() -> None:
    ruff = Path(sys.executable).with_name("ruff")
    r = subprocess.run([str(ruff), "check", "--no-cache", "--output-format", "concise", "."], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
