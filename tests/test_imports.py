"""The shape of the code: no import circle anywhere in the tree (qa/, eval/, app.py), the runtime
never imports the reader's training, and the sizes docs/ARCHITECTURE.md promises."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("qa", "eval")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def tree_modules() -> dict[str, Path]:
    found = {module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    found["app"] = ROOT / "app.py"
    return found


def imports(path: Path, module_level: bool, known: set[str]) -> set[str]:
    """The modules of the tree that ``path`` imports, at module level or anywhere.

    ``from a.b import c`` counts as importing ``a.b.c`` when that is a module, else ``a.b``.
    Importing a package's module also runs the package's ``__init__``: counted too."""
    module = module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if module_level else list(ast.walk(tree))
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".")
                base = base if path.name == "__init__.py" else base[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            targets = [
                f"{target}.{alias.name}" if f"{target}.{alias.name}" in known else target
                for alias in node.names
            ]
        else:
            continue
        for target in targets:
            parts = target.split(".")
            for n in range(1, len(parts) + 1):  # the packages above it run first
                if ".".join(parts[:n]) in known:
                    found.add(".".join(parts[:n]))
    return found - {module}


def graph(module_level: bool) -> dict[str, set[str]]:
    modules = tree_modules()
    known = set(modules)
    edges = {name: imports(path, module_level, known) for name, path in modules.items()}
    # A package's __init__ importing its own modules is not a circle with them.
    return {
        name: {t for t in targets if not (name.startswith(f"{t}.") and t in PACKAGES)}
        for name, targets in edges.items()
    }


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
    edges = graph(module_level)
    assert "qa.search.lease" in edges["qa.search.milvus"]  # the check sees imports at all
    assert "qa.training.squad" in edges["eval.squad"]  # across packages too
    assert cycle(edges) is None, cycle(edges)


def test_the_cycle_finder_finds_one():
    assert cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert cycle({"a": {"b"}, "b": set()}) is None


def test_the_runtime_never_imports_training_or_eval():
    """Nothing under qa/ but qa.training imports qa.training or eval, anywhere in its code."""
    edges = graph(module_level=False)
    runtime = [name for name in edges if name.startswith("qa") and "training" not in name]
    assert len(runtime) > 30
    offenders = {
        name: sorted(t for t in edges[name] if t.startswith(("qa.training", "eval")))
        for name in runtime
    }
    assert not {name: found for name, found in offenders.items() if found}


def test_answering_in_a_fresh_process_loads_no_training_module():
    code = (
        "import sys; from qa import Assistant; import qa.cli, qa.web.server; "
        "print(sorted(m for m in sys.modules if m.startswith(('qa.training', 'eval'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_package_is_a_few_modules_and_packages_of_modest_size():
    top = sorted(p.name for p in (ROOT / "qa").glob("*.py"))
    assert len(top) <= 8, top
    sizes = {
        str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines())
        for p in (ROOT / "qa").rglob("*.py")
    }
    assert max(sizes.values()) <= 450, max(sizes.items(), key=lambda item: item[1])
    for package in (p for p in (ROOT / "qa").iterdir() if (p / "__init__.py").exists()):
        docstring = ast.get_docstring(ast.parse((package / "__init__.py").read_text()))
        assert docstring, f"{package.name} has no docstring saying what lives there"
