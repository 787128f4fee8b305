"""The package's layers point one way: no import cycles between its modules, no imports hidden
inside functions (the usual way a cycle is papered over), the lower layers import nothing from
the layers that use them (the tables of latency know no space; the spaces know no search-time
hardware; hardware, where tables meet spaces, knows neither data nor pictures; strategies know
no config), and nothing but the apps imports the apps."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "supernet"
# module prefix -> what it must not import (by module prefix)
ABOVE_SPACES = ("supernet.strategies", "supernet.config", "supernet.search", "supernet.retrain", "supernet.derive",
                "supernet.apps")
FORBIDDEN = {
    "supernet.genotype_json": ("supernet.spaces", "supernet.strategies", "supernet.latency", "supernet.hardware",
                          "supernet.config"),
    "supernet.latency": ("supernet.spaces", "supernet.hardware", "supernet.plots", "supernet.data") + ABOVE_SPACES,
    "supernet.spaces": ("supernet.hardware",) + ABOVE_SPACES,
    "supernet.hardware": ("supernet.plots", "supernet.data") + ABOVE_SPACES,
    "supernet.strategies": ("supernet.config", "supernet.search", "supernet.retrain", "supernet.derive",
                            "supernet.apps"),
}


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_module(p): p for p in PACKAGE.rglob("*.py")}


def _target(module: str, path: Path, node: ast.ImportFrom | ast.Import) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    base = package.split(".")[:len(package.split(".")) - node.level + 1] if node.level else []
    name = ".".join(base + ([node.module] if node.module else []))
    # `from . import x` imports the module x where there is one
    return [f"{name}.{a.name}" if f"{name}.{a.name}" in MODULES else name for a in node.names]


def _imports(module: str, path: Path) -> tuple[set[str], list[str]]:
    """(supernet modules imported at module level, supernet imports inside functions)."""
    tree = ast.parse(path.read_text())
    top, hidden = set(), []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            if isinstance(child, (ast.Import, ast.ImportFrom)):
                names = [n for n in _target(module, path, child) if n.startswith("supernet")]
                if in_function:
                    hidden.extend(f"{module}:{child.lineno} {n}" for n in names)
                top.update(n for n in names if not in_function)
            visit(child, in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)))

    visit(tree, False)
    return top, hidden


GRAPH = {m: _imports(m, p) for m, p in MODULES.items()}


def test_no_imports_hidden_in_functions():
    assert [h for _, hidden in GRAPH.values() for h in hidden] == []


def test_no_import_cycles():
    edges = {m: {t for t in top if t in MODULES and t != m} for m, (top, _) in GRAPH.items()}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for t in sorted(edges[m]):
            if state.get(t) == 1:
                pytest.fail("import cycle: " + " -> ".join(stack[stack.index(t):] + [t]))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(edges):
        if m not in state:
            visit(m)


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_lower_layers_do_not_import_the_layers_above(layer):
    bad = [(m, t) for m, (top, _) in GRAPH.items() if m == layer or m.startswith(layer + ".")
           for t in top if any(t == f or t.startswith(f + ".") for f in FORBIDDEN[layer])]
    assert bad == []


def test_only_the_apps_import_the_apps():
    bad = [(m, t) for m, (top, _) in GRAPH.items() if not m.startswith("supernet.apps")
           for t in top if t.startswith("supernet.apps")]
    assert bad == [] and any(m.startswith("supernet.apps.") for m in GRAPH)
