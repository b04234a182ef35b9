"""No import circles among the project's modules (issue 9, item 9).

Every module of ``stethodesk/`` and ``training/`` is parsed with ``ast``; every import counts, at
module level and inside functions (a function-level import that closes a circle still ties the two
modules together and breaks as soon as someone moves it up), as do ``importlib.import_module`` /
``__import__`` calls with a literal name. ``from pkg import name`` is an edge to ``pkg.name`` when
that is a module, else to ``pkg``; a module's implicit import of its parent packages is not an
edge (Python initialises the parent first, so re-exporting ``__init__`` files are no circle).
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

from stethodesk.paths import REPO_ROOT

PACKAGES = ("stethodesk", "training")


def project_modules(root: Path = REPO_ROOT) -> dict[str, tuple[Path, bool]]:
    """{dotted module name: (file, is_package)} for every .py file of the project packages."""
    out = {}
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            is_pkg = parts[-1] == "__init__"
            if is_pkg:
                parts = parts[:-1]
            out[".".join(parts)] = (path, is_pkg)
    return out


def _resolve(name: str, modules) -> str | None:
    """The project module ``name`` refers to: itself, or its longest module prefix."""
    while name:
        if name in modules:
            return name
        name = name.rpartition(".")[0]
    return None


def import_graph(modules=None) -> dict[str, dict[str, tuple[Path, int]]]:
    """{module: {imported project module: (file, line of the first such import)}}."""
    modules = modules or project_modules()
    graph: dict[str, dict[str, tuple[Path, int]]] = defaultdict(dict)
    for mod, (path, is_pkg) in modules.items():
        package = mod if is_pkg else mod.rpartition(".")[0]
        targets: list[tuple[str, int]] = []
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets += [(a.name, node.lineno) for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")
                    base = base[: len(base) - (node.level - 1)]
                    src = ".".join(base + ([node.module] if node.module else []))
                else:
                    src = node.module or ""
                for a in node.names:
                    sub = f"{src}.{a.name}"
                    targets.append((sub if sub in modules else src, node.lineno))
            elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant) \
                    and isinstance(node.args[0].value, str):
                fn = node.func
                name = fn.attr if isinstance(fn, ast.Attribute) else fn.id if isinstance(fn, ast.Name) else ""
                if name in ("import_module", "__import__"):
                    targets.append((node.args[0].value, node.lineno))
        for target, line in targets:
            dst = _resolve(target, modules)
            if dst is not None and dst != mod and dst not in graph[mod]:
                graph[mod][dst] = (path, line)
        graph.setdefault(mod, {})
    return dict(graph)


def strongly_connected(graph) -> list[list[str]]:
    """Tarjan's strongly connected components with more than one module (iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, {}))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, children = work[-1]
            for w in children:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(graph.get(w, {})))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def one_cycle(graph, component: list[str]) -> list[str]:
    """A shortest circle through the component's first module, as a list of modules."""
    start, members = component[0], set(component)
    prev = {start: None}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v]):
            if w == start:
                path, x = [], v
                while x is not None:
                    path.append(x)
                    x = prev[x]
                return path[::-1] + [start]
            if w in members and w not in prev:
                prev[w] = v
                queue.append(w)
    return component


def describe(graph, cycle: list[str]) -> str:
    lines = [" -> ".join(cycle)]
    for a, b in zip(cycle, cycle[1:]):
        path, line = graph[a][b]
        lines.append(f"    {a} imports {b} at {path.relative_to(REPO_ROOT)}:{line}")
    return "\n".join(lines)


@pytest.fixture(scope="module")
def graph():
    return import_graph()


@pytest.mark.parametrize("package", PACKAGES)
def test_no_import_cycles(graph, package):
    cycles = [c for c in strongly_connected(graph) if any(m.split(".")[0] == package for m in c)]
    text = "\n".join(describe(graph, one_cycle(graph, c)) for c in cycles)
    print(text)
    assert not cycles, f"import circles in {package}/:\n{text}"


def test_the_checker_finds_a_circle_and_ignores_parent_packages(tmp_path):
    """The graph sees function-level and relative imports; re-exporting packages are no circle."""
    pkg = tmp_path / "training"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from training import b\n")
    (pkg / "b.py").write_text("from .c import x\n")
    (pkg / "c.py").write_text("import importlib\nx = importlib.import_module('training.a')\n")
    (pkg / "sub" / "__init__.py").write_text("from .d import y\n")
    (pkg / "sub" / "d.py").write_text("y = 1\n")
    (tmp_path / "stethodesk").mkdir()
    mods = project_modules(tmp_path)
    g = import_graph(mods)
    assert g["training.a"].keys() == {"training.b"} and g["training.b"].keys() == {"training.c"}
    assert g["training.sub"].keys() == {"training.sub.d"} and not g["training.sub.d"]
    comps = strongly_connected(g)
    assert comps == [["training.a", "training.b", "training.c"]]
    assert one_cycle(g, comps[0]) == ["training.a", "training.b", "training.c", "training.a"]
