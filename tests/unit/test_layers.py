"""The layering of `traderagent/`, read from the source (ast; nothing is imported): no import cycles, and every
import points down the layers of docs/architecture.md. Function-level imports count like module-level ones.

When this fails it prints each offending import as `file:line: module -> module (why)`. The fix is never to hide
an import inside a function: move the shared piece down (see docs/architecture.md, "When an import points up").
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2] / "traderagent"

#: Layer of each package of traderagent/ (the package root and errors.py are the bottom). A module may import its
#: own package and packages of a lower layer, and sideways only where SIDEWAYS allows it.
LAYERS: dict[str, int] = {
    "_numba_cache": -1,  # run by the package's __init__ before anything else (no imports of its own)
    "": 0, "errors": 0,
    "data": 1,
    "config": 2, "indicators": 2,
    "core": 3,
    "strategies": 4,
    "backtest": 5, "persistence": 5,
    "optimize": 6, "report": 6, "live": 6,
    "notify": 7, "obs": 7,
    "service": 8,  # the composition root of `live run` (live + obs + notify + persistence)
    "cli": 9, "__main__": 10,
}
SIDEWAYS: set[tuple[str, str]] = {("optimize", "report")}  # a study run writes its report page


def module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def import_edges(root: Path) -> tuple[dict[str, list[tuple[str, int]]], dict[str, Path]]:
    """Every `traderagent` import in the tree: module -> [(imported module, line)], and module -> file."""
    files = {module_name(p, root): p for p in sorted(root.rglob("*.py"))}

    def resolve(name: str) -> str:
        while name and name not in files:
            name = name.rpartition(".")[0]
        return name

    top = root.name
    edges: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for mod, path in files.items():
        pkg = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.name == top or alias.name.startswith(top + "."):
                        edges[mod].append((resolve(alias.name), node.lineno))
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = pkg.split(".")[: len(pkg.split(".")) - (node.level - 1)]
                    target = ".".join(base + ([node.module] if node.module else []))
                else:
                    target = node.module or ""
                if target != top and not target.startswith(top + "."):
                    continue
                for alias in node.names:
                    sub = f"{target}.{alias.name}"
                    edges[mod].append((sub if sub in files else resolve(target), node.lineno))
    return edges, files


def cycles(edges: dict[str, list[tuple[str, int]]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w, _ in edges.get(v, ()):
            if w == v:
                continue
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

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def package(mod: str) -> str:
    parts = mod.split(".")
    return parts[1] if len(parts) > 1 else ""


def forbidden_edges(edges, files, root: Path) -> list[str]:
    """Imports that point up (or sideways without leave), as `file:line: a -> b (why)`."""
    bad = []
    for mod in sorted(edges):
        a = package(mod)
        for target, line in edges[mod]:
            b = package(target)
            if a == b or (a, b) in SIDEWAYS:
                continue
            la, lb = LAYERS.get(a), LAYERS.get(b)
            if la is None or lb is None:
                bad.append(f"{files[mod].relative_to(root.parent)}:{line}: {mod} -> {target} "
                           f"(package {a if la is None else b!r} has no layer in tests/unit/test_layers.py)")
            elif lb >= la:
                bad.append(f"{files[mod].relative_to(root.parent)}:{line}: {mod} -> {target} "
                           f"({b} is layer {lb}, not below {a}'s {la})")
    return bad


def cycle_lines(edges, files, root: Path) -> list[str]:
    out = []
    for comp in cycles(edges):
        members = set(comp)
        where = [f"{files[m].relative_to(root.parent)}:{line}: {m} -> {t}"
                 for m in comp for t, line in edges[m] if t in members]
        out.append("cycle " + " <-> ".join(comp) + "\n    " + "\n    ".join(where))
    return out


def test_no_import_cycles():
    edges, files = import_edges(ROOT)
    found = cycle_lines(edges, files, ROOT)
    print(f"import graph: {len(files)} modules, {sum(map(len, edges.values()))} imports, cycles {len(found)}")
    assert not found, "\n" + "\n".join(found)


def test_every_import_points_down_the_layers():
    edges, files = import_edges(ROOT)
    bad = forbidden_edges(edges, files, ROOT)
    print(f"forbidden edges {len(bad)}")
    assert not bad, "\n" + "\n".join(bad)


def test_every_package_has_a_layer():
    packages = {package(m) for m in import_edges(ROOT)[1]}
    assert packages <= set(LAYERS), f"add {sorted(packages - set(LAYERS))} to LAYERS (and docs/architecture.md)"


@pytest.fixture
def toy(tmp_path):
    """A small package with one cycle (data.a <-> data.b via a function-level import) and two upward imports."""
    pkg = tmp_path / "traderagent"
    files = {
        "__init__.py": "",
        "data/__init__.py": "",
        "data/a.py": "from traderagent.data import b\n",
        "data/b.py": "def f():\n    from traderagent.data.a import x\n",
        "strategies/__init__.py": "",
        "strategies/s.py": "import traderagent.backtest.e\n",
        "backtest/__init__.py": "",
        "backtest/e.py": "from traderagent.strategies import s\n\ndef g():\n    from ..report import r\n",
        "report/__init__.py": "",
        "report/r.py": "from traderagent.backtest.e import g\n",
    }
    for name, text in files.items():
        (pkg / name).parent.mkdir(parents=True, exist_ok=True)
        (pkg / name).write_text(text)
    return pkg


def test_the_checker_finds_cycles_and_upward_imports_in_a_toy_tree(toy):
    edges, files = import_edges(toy)
    comps = cycles(edges)
    assert ["traderagent.data.a", "traderagent.data.b"] in comps
    assert ["traderagent.backtest.e", "traderagent.report.r", "traderagent.strategies.s"] in comps
    bad = forbidden_edges(edges, files, toy)
    assert any(b.startswith("traderagent/strategies/s.py:1: traderagent.strategies.s -> traderagent.backtest.e")
               for b in bad), bad
    assert any(b.startswith("traderagent/backtest/e.py:4: traderagent.backtest.e -> traderagent.report.r")
               for b in bad), bad  # relative and function-level
    assert not any("report/r.py" in b for b in bad)  # report -> backtest points down
