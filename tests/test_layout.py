"""The house's shape: the folder list is the loop, no import circles, no package reaching into another's internals.

The import graph is read from the source with ast (module-level, function-level and TYPE_CHECKING imports alike),
the way ../shared/tools/import_cycles.py reads it, so a circle hidden inside a function still counts."""

from __future__ import annotations

import ast
from pathlib import Path

PKG = Path(__file__).resolve().parent.parent / "evalharness"
SHARED_VOCABULARY = {"errors", "models", "project", "textnorm"}  # config is a package (project, engine, base)


def _modules() -> dict[str, Path]:
    mods = {}
    for f in PKG.rglob("*.py"):
        parts = list(f.relative_to(PKG.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = f
    return mods


def import_graph() -> dict[str, set[str]]:
    """Module -> the package's modules it imports (resolved to the longest existing module name)."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for m, f in mods.items():
        is_pkg = f.name == "__init__.py"
        for node in ast.walk(ast.parse(f.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = m.split(".") if is_pkg else m.split(".")[:-1]
                mod = ".".join(base[: len(base) - (node.level - 1)] + ([node.module] if node.module else [])) if node.level else node.module or ""
                targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
            else:
                continue
            for t in targets:
                while t and t not in mods:
                    t = t.rpartition(".")[0]
                if t.startswith("evalharness") and t != m:
                    graph[m].add(t)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(graph[w]))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
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
    return out


def test_no_import_cycles() -> None:
    graph = import_graph()
    assert len(graph) > 100
    assert cycles(graph) == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_root_holds_only_the_shared_vocabulary() -> None:
    loose = {f.stem for f in PKG.glob("*.py")} - {"__init__", "__main__"}
    assert loose == SHARED_VOCABULARY
    assert len(loose) <= 5


def test_no_base_module_imports_its_implementations() -> None:
    graph = import_graph()
    for base in ("evalharness.backends.base", "evalharness.judges.base"):
        package = base.rpartition(".")[0]
        inside = {t for t in graph[base] if t.startswith(package + ".")}
        assert inside == set(), (base, inside)


def test_no_private_module_is_imported_from_another_package() -> None:
    graph = import_graph()
    for m, targets in graph.items():
        for t in targets:
            leaf = t.rpartition(".")[2]
            if leaf.startswith("_") and not leaf.startswith("__"):
                assert t.rpartition(".")[0] == m.rpartition(".")[0], (m, t)

