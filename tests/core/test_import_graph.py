"""Imports run one way: no cycle among the modules of the core or of the built-in plugins,
counting the imports inside functions (an import moved into a function to dodge a cycle
still closes it here)."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx
import pytest

ROOT = Path(__file__).resolve().parents[2]


def module_name(path: Path, base: Path) -> str:
    """The dotted name of a module file below a package root."""
    parts = list(path.relative_to(base).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_names(tree: ast.Module, name: str, is_package: bool) -> set[str]:
    """Every module name an import statement of the module names, at any depth, except
    those under ``if TYPE_CHECKING:``, which never run."""
    skipped = {
        id(node)
        for statement in ast.walk(tree)
        if isinstance(statement, ast.If) and "TYPE_CHECKING" in ast.unparse(statement.test)
        for node in ast.walk(statement)
    }
    package = name if is_package else name.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph() -> nx.DiGraph:
    """Module → the project modules it imports, over ``framework/`` and ``plugins/``."""
    files = {}
    for root in ("framework", "plugins"):
        base = ROOT / root
        for path in base.rglob("*.py"):
            files[module_name(path, base)] = path
    graph = nx.DiGraph()
    graph.add_nodes_from(files)
    for name, path in files.items():
        # A top-level package's __init__ may import lazily for a fast `import clusterlab`;
        # its public functions sit above every layer.
        if "." not in name:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for target in imported_names(tree, name, path.name == "__init__.py"):
            if target in files and target != name:
                graph.add_edge(name, target)
    return graph


def test_the_import_graph_is_read_with_its_layers():
    graph = import_graph()
    # the layers this project documents, as edges the reader must find
    assert graph.has_edge("clusterlab.runner", "clusterlab.executors.select")
    assert graph.has_edge("clusterlab.executors.worker", "clusterlab.trial")
    assert graph.has_edge("clusterlab.trial", "clusterlab.tracking")
    # imports inside functions count: the CLI imports the runner only in its commands
    assert graph.has_edge("clusterlab.cli", "clusterlab.runner")


@pytest.mark.parametrize("root", ["clusterlab", "clusterlab_"])
def test_no_import_cycle(root):
    graph = import_graph()
    part = graph.subgraph(n for n in graph if n.startswith(root))
    cycles = [sorted(c) for c in nx.strongly_connected_components(part) if len(c) > 1]
    assert cycles == []


def test_results_import_nothing_of_the_project():
    assert list(import_graph().successors("clusterlab.results")) == []


def test_no_layer_imports_one_above_it():
    """cli → runner → executors → trial → tracking, data, registry → results."""
    order = ["cli", "runner", "executors", "trial", "tracking", "results"]
    graph = import_graph()

    def layer(name: str) -> int | None:
        parts = name.split(".")
        return order.index(parts[1]) if len(parts) > 1 and parts[1] in order else None

    upward = [
        (a, b)
        for a, b in graph.edges
        if layer(a) is not None and layer(b) is not None and layer(b) < layer(a)
    ]
    assert upward == []
