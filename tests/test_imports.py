"""The package's modules import one another without a circle: each layer imports only the
layers below it (ui -> assistant -> extraction -> retrieval -> index -> store -> corpus)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "qa"


def imports(path: Path, module_level: bool) -> set[str]:
    """The qa modules ``path`` imports (relative imports), at module level or anywhere."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if module_level else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:  # from . import a, b
                found |= {alias.name for alias in node.names}
    return {name for name in found if (PACKAGE / f"{name}.py").exists()}


def cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One circle of the graph, or None."""
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for other in sorted(graph.get(node, ())):
            if state.get(other) == 1:
                return path[path.index(other) :] + [other]
            if other not in state and (found := visit(other, path + [other])):
                return found
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node, [node])):
            return found
    return None


@pytest.mark.parametrize("module_level", [True, False], ids=["module-level", "any"])
def test_no_module_imports_another_that_imports_it_back(module_level):
    graph = {
        path.stem: imports(path, module_level) - {path.stem}
        for path in PACKAGE.glob("*.py")
        if path.stem not in ("__init__", "__main__")
    }
    assert graph["store"] and graph["milvus"]  # the check sees imports at all
    assert cycle(graph) is None, cycle(graph)


def test_the_cycle_finder_finds_one():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None
