"""The package's shape: layers that only point down, and no import cycle anywhere.

Read from the source (every `import` and `from ... import`, including those inside functions
and `if TYPE_CHECKING:` blocks, and the submodules of every `lazy_loader.attach` table), so a
cycle cannot hide behind a lazy import.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "deepfake_detect"

LAYERS: dict[str, list[set[str]]] = {
    # Each layer is a list of levels, lowest first; a package imports only packages at a lower
    # level (never a peer in its own level, never anything above), so the order inside a layer
    # is checked as strictly as the order between layers.
    "core": [
        {"errors", "progress", "builtin_detectors"},
        {"runtime", "registry"},
        {"backbones", "classify"},
        {"generators", "reduce"},
        {"data"},
        {"transforms", "evaluate", "inference", "provenance"},
    ],
    # artifacts, each with one owner: the feature cache, the run folder, the detector folder
    "artifacts": [
        {"features", "runs"},
        {"detector"},
    ],
    "workflows": [
        {"scoring", "fakes", "convert"},
        {"grid", "finetune", "engines"},
        {"train"},
        {"calibrate", "adapt"},
        {"ensemble"},
    ],
    # presentation (only `cli` and its `console` print; the rest of the library logs)
    "presentation": [
        {"report", "serve", "console"},
        {"cli"},
        {"__main__"},
    ],
}
LEVELS: list[tuple[str, set[str]]] = [(layer, level) for layer, levels in LAYERS.items() for level in levels]


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
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "attach":
            targets = [f"{package}.{key.value}" for key in lazy_submodules(node)]  # lazy_loader.attach
        else:
            continue
        found |= {t for t in targets if t.split(".")[0] == "deepfake_detect" and t != here}
    return found


def lazy_submodules(call: ast.Call) -> list[ast.Constant]:
    """The submodules a `lazy.attach(__name__, submod_attrs={...})` table names: imports too."""
    tables = [k.value for k in call.keywords if k.arg == "submod_attrs"] + call.args[2:3]
    return [key for table in tables if isinstance(table, ast.Dict) for key in table.keys if isinstance(key, ast.Constant)]


@cache
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


@cache
def package_graph() -> dict[str, set[str]]:
    packages: dict[str, set[str]] = defaultdict(set)
    for module, targets in graph().items():
        for target in targets:
            if top_package(module) and top_package(target) and top_package(module) != top_package(target):
                packages[top_package(module)].add(top_package(target))
    return packages


def test_every_import_names_a_real_module():
    """A lazy import left behind by a move fails only when its function runs; catch it here."""
    missing = sorted(f"{module} -> {target}" for module, targets in graph().items() for target in targets
                     if not is_module(target))
    assert missing == []


def test_no_import_cycle_between_modules():
    assert cycles(graph()) == []


def test_no_import_cycle_between_packages():
    assert cycles(package_graph()) == []


def level_of(package: str) -> int:
    for number, (_, members) in enumerate(LEVELS):
        if package in members:
            return number
    pytest.fail(f"package '{package}' is in no level: add it to LAYERS in {Path(__file__).name}")


def describe(package: str) -> str:
    layer, _ = LEVELS[level_of(package)]
    return f"{package} ({layer}, level {level_of(package)})"


def test_every_package_has_one_level():
    listed = [package for _, members in LEVELS for package in members]
    assert len(listed) == len(set(listed)), "a package is listed twice in LAYERS"


@pytest.mark.parametrize("package", sorted({top_package(m) for m in graph()} - {""}))
def test_packages_point_down_only(package):
    """Down means a strictly lower level: between layers and inside each layer (core included)."""
    wrong = sorted(describe(t) for t in package_graph().get(package, ()) if level_of(t) >= level_of(package))
    assert wrong == [], f"{describe(package)} imports from its own level or above: {wrong}"


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
