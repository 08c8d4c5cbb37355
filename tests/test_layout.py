"""The package layout (docs/ARCHITECTURE.md): each layer a subpackage, dependencies
pointing one way, no import circles, no module importing another's private names."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import pytest_artifact_store

PACKAGE = Path(pytest_artifact_store.__file__).parent
# lower layers never import higher ones; a layer may import its own and lower ones
LAYERS = {
    "errors": 0,
    "naming": 0,
    "timestamps": 0,
    "pytestini": 0,
    "git": 1,
    "scan": 1,
    "metadata": 1,
    "backtest": 1,
    "remote": 2,
    "events": 2,
    "store": 3,
    "compare": 4,
    "capsule": 4,
    "cli": 5,
    "pytest_plugin": 5,
    "hooks": 5,
    "__init__": 6,
}


def _sources() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        found[".".join(("pytest_artifact_store", *parts)).removesuffix(".__init__")] = path
    return found


_SOURCES = _sources()


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def _imports(tree: ast.Module) -> list[tuple[str, list[str]]]:
    """(module, names) of every pytest_artifact_store import, lazy ones included."""
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module.startswith("pytest_artifact_store"):
                names = []
                for alias in node.names:  # `from pkg import module` imports that module
                    sub = f"{node.module}.{alias.name}"
                    if sub in _SOURCES:
                        out.append((sub, []))
                    else:
                        names.append(alias.name)
                if names:
                    out.append((node.module, names))
        elif isinstance(node, ast.Import):
            out += [(a.name, []) for a in node.names if a.name.startswith("pytest_artifact_store")]
    return out


MODULES = {name: ast.parse(path.read_text(), str(path)) for name, path in _SOURCES.items()}


def test_every_layer_is_a_subpackage_or_a_base_module() -> None:
    assert {_layer(m) for m in MODULES} == set(LAYERS)
    layers = ("git", "scan", "metadata", "backtest", "remote", "events", "store", "compare")
    layers = (*layers, "capsule", "cli")
    for layer in (*layers, "pytest_plugin", "hooks"):
        assert (PACKAGE / layer / "__init__.py").is_file()


@pytest.mark.parametrize("module", sorted(MODULES))
def test_dependencies_point_down_and_names_are_public(module: str) -> None:
    mine = LAYERS[_layer(module)]
    for target, names in _imports(MODULES[module]):
        theirs = LAYERS[_layer(target)]
        assert theirs <= mine, f"{module} imports {target}: an upward arrow"
        if _layer(target) != _layer(module):
            private = [n for n in names if n.startswith("_")]
            assert not private, f"{module} imports private {private} from {target}"


def test_no_import_circles() -> None:
    graph = {m: {t for t, _ in _imports(tree) if t in MODULES} for m, tree in MODULES.items()}
    state: dict[str, int] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if nxt in (node, "pytest_artifact_store"):
                continue  # a package re-exporting its own modules; the lazy top-level API
            if state.get(nxt) == 1:
                pytest.fail("import circle: " + " -> ".join([*path, node, nxt]))
            if nxt not in state:
                visit(nxt, [*path, node])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
