"""The package's shape: layers that only point down, and no import cycle anywhere.

Read from the source (every `import` and `from ... import`, including those inside functions
and `if TYPE_CHECKING:` blocks), so a cycle cannot hide behind a lazy import.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "deepfake_detect"

LAYERS: list[set[str]] = [
    # core: what every layer above uses
    {"errors", "runtime", "progress", "data", "transforms", "backbones", "generators", "reduce", "classify",
     "evaluate", "inference", "config", "provenance"},
    # artifacts, each with one owner: the feature cache, the run folder, the detector folder
    {"features", "runs", "detector"},
    # workflows
    {"grid", "finetune", "fakes", "engines", "adapt"},
    # presentation (only `cli` and its `console` print; the rest of the library logs)
    {"report", "serve", "cli", "console", "__main__"},
]


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def is_module(dotted: str) -> bool:
    path = PACKAGE.parent / dotted.replace(".", "/")
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def imports_of(path: Path) -> set[str]:
    """Modules of this package that `path` imports, resolved to the deepest real module."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            submodules = [f"{target}.{alias.name}" for alias in node.names if is_module(f"{target}.{alias.name}")]
            targets = submodules or [target]
        else:
            continue
        found |= {t for t in targets if t.split(".")[0] == "deepfake_detect" and t != here}
    return found


def graph() -> dict[str, set[str]]:
    return {module_name(path): imports_of(path) for path in PACKAGE.rglob("*.py")}


def top_package(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one member (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in edges.get(node, ()):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in list(edges):
        if node not in index:
            visit(node)
    return found


def package_graph() -> dict[str, set[str]]:
    packages: dict[str, set[str]] = defaultdict(set)
    for module, targets in graph().items():
        for target in targets:
            if top_package(module) and top_package(target) and top_package(module) != top_package(target):
                packages[top_package(module)].add(top_package(target))
    return packages


def test_no_import_cycle_between_modules():
    assert cycles(graph()) == []


def test_no_import_cycle_between_packages():
    assert cycles(package_graph()) == []


def layer_of(package: str) -> int:
    for number, members in enumerate(LAYERS):
        if package in members:
            return number
    pytest.fail(f"package '{package}' is in no layer: add it to LAYERS in {Path(__file__).name}")


@pytest.mark.parametrize("package", sorted({top_package(m) for m in graph()} - {""}))
def test_layers_point_down_only(package):
    upward = sorted(t for t in package_graph().get(package, ()) if layer_of(t) > layer_of(package))
    assert upward == [], f"{package} (layer {layer_of(package)}) imports from a higher layer: {upward}"


PRINTING_MODULES = {"cli", "console", "__main__"}


def test_only_the_command_line_prints():
    """The library logs (`logging`) and reports progress through `deepfake_detect.progress`;
    `print` and the rich console belong to the command line (issue 18)."""
    printing = sorted(
        module_name(path)
        for path in PACKAGE.rglob("*.py")
        if top_package(module_name(path)) not in PRINTING_MODULES
        and any(isinstance(node, ast.Call) and getattr(node.func, "id", None) == "print"
                for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))))
    )
    users = sorted(m for m, targets in graph().items()
                   if "deepfake_detect.console" in targets and top_package(m) not in PRINTING_MODULES)
    assert printing == [] and users == [], f"print() in {printing}; the console imported by {users}"
