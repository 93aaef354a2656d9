"""The product's import graph (models/, worker/, scheduler/) read with `ast`: every import counts, at module level
or inside a function, absolute or relative, under `TYPE_CHECKING` or not. Dependencies point one way: no cycle
(a strongly connected component of more than one module), and no package reaches into another's private names
(`_x`) or private modules (`_x.py`)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("models", "worker", "scheduler")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.relative_to(ROOT).parts:
                continue  # alembic loads these by path; they are not imported by name
            found[_module_name(path)] = path
    return found


def _resolve(importer: str, is_package: bool, level: int, module: str | None) -> str:
    if level == 0:
        return module or ""
    base = importer.split(".")
    if not is_package:
        base = base[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join(base + ([module] if module else []))


def _imports(name: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, str | None, int]]:
    """(target module, imported name or None, line) for every import in the file, targets limited to product modules."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    is_package = path.name == "__init__.py"
    found: list[tuple[str, str | None, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((alias.name, None, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, is_package, node.level, node.module)
            for alias in node.names:
                submodule = f"{base}.{alias.name}" if base else alias.name
                if submodule in modules:
                    found.append((submodule, None, node.lineno))
                else:
                    found.append((base, alias.name, node.lineno))
    product = []
    for target, imported, line in found:
        # `import a.b.c` names a module; keep the longest product module it names
        while target and target not in modules:
            target = target.rpartition(".")[0]
        if target and target.split(".")[0] in PACKAGES:
            product.append((target, imported, line))
    return product


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {
        name: {target for target, _, _ in _imports(name, path, modules) if target != name}
        for name, path in modules.items()
    }


def _strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (the graph is a few hundred modules deep at most)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, edges = work[-1]
            advanced = False
            for target in edges:
                if target not in graph:
                    continue
                if target not in index:
                    index[target] = low[target] = counter
                    counter += 1
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    advanced = True
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                components.append(sorted(component))
    return components


def _package_of(module: str, modules: dict[str, Path]) -> str:
    return module if modules[module].name == "__init__.py" else module.rpartition(".")[0]


def _private_attributes(name: str, path: Path, modules: dict[str, Path]) -> list[str]:
    """`alias._x` where `alias` names a module of another package (`import worker.ratelimit.limiter as rl`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    home = _package_of(name, modules)
    aliases: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname and alias.name in modules:
                    aliases[alias.asname] = alias.name
        elif isinstance(node, ast.ImportFrom):
            base = _resolve(name, path.name == "__init__.py", node.level, node.module)
            for alias in node.names:
                if f"{base}.{alias.name}" in modules:
                    aliases[alias.asname or alias.name] = f"{base}.{alias.name}"
    found = []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id in aliases
                and node.attr.startswith("_") and not node.attr.startswith("__")
                and _package_of(aliases[node.value.id], modules) != home):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} uses {aliases[node.value.id]}.{node.attr}")
    return found


def test_the_graph_sees_relative_absolute_and_function_level_imports():
    graph = _graph()
    assert "models.migrate" in graph["models.db"] or "models.db" in graph["models.migrate"]
    assert "worker.settings" in graph["worker.tasks.app"]
    assert len(graph) > 150


def test_no_import_cycle_among_product_modules():
    graph = _graph()
    cycles = [component for component in _strongly_connected(graph) if len(component) > 1]
    assert not cycles, "import cycles:\n" + "\n".join(" <-> ".join(c) for c in cycles)


def test_no_private_name_or_module_imported_from_another_package():
    modules = _modules()
    crossings = []
    for name, path in modules.items():
        home = _package_of(name, modules)
        for target, imported, line in _imports(name, path, modules):
            target_package = _package_of(target, modules)
            if target_package == home:
                continue
            private_module = target.rpartition(".")[2].startswith("_") and not target.endswith("__init__")
            private_name = imported is not None and imported.startswith("_") and not imported.startswith("__")
            if private_module or private_name:
                shown = f"{target}.{imported}" if imported else target
                crossings.append(f"{path.relative_to(ROOT)}:{line} imports {shown}")
        crossings += _private_attributes(name, path, modules)
    assert not crossings, "private names imported across packages:\n" + "\n".join(crossings)
