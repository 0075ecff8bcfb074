"""The package layers of zsbench.harness's docstring, enforced: every module's imports (deferred
and TYPE_CHECKING ones included) go to its own layer or a lower one, and nothing imports the CLI."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

from zsbench.harness import LAYERS

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIRS = {"harness/_zsbench": "zsbench", "harness": "zsbench.harness", "methods": "zsbench.methods",
                "datasets": "zsbench.datasets"}


def module_name(path: Path) -> tuple[str, bool]:
    """(dotted module name, is a package __init__) of a source file of the repository."""
    rel = path.relative_to(ROOT).with_suffix("").as_posix()
    for folder in sorted(PACKAGE_DIRS, key=len, reverse=True):
        if rel == folder or rel.startswith(folder + "/"):
            rest = rel[len(folder):].strip("/").replace("/", ".")
            name = PACKAGE_DIRS[folder] + ("." + rest if rest else "")
            is_package = path.name == "__init__.py"
            return (name.removesuffix(".__init__") if is_package else name), is_package
    raise ValueError(path)


def imported_modules(source: str, name: str, is_package: bool) -> list[tuple[int, str]]:
    """(line, absolute module) of every zsbench import in ``source``; ``from pkg import x`` yields
    ``pkg.x`` (x may be a submodule)."""
    package = name if is_package else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
    return [(line, mod) for line, mod in found if mod == "zsbench" or mod.startswith("zsbench.")]


def layer_of(module: str) -> tuple[str, int]:
    for prefix, layer in LAYERS:
        if module == prefix or module.startswith(prefix + "."):
            return prefix, layer
    raise ValueError(module)


def violations(source: str, name: str, is_package: bool) -> list[str]:
    own_prefix, own = layer_of(name)
    out = []
    for line, target in imported_modules(source, name, is_package):
        prefix, layer = layer_of(target)
        if prefix == "zsbench.harness.cli" and own_prefix != prefix:
            out.append(f"{name}:{line} imports {target}: nothing imports the CLI")
        elif layer > own:
            out.append(f"{name}:{line} imports {target}: layer {own} ({own_prefix}) may not import layer {layer} ({prefix})")
    return out


def source_files() -> list[Path]:
    return sorted(p for d in ("harness", "methods", "datasets") for p in (ROOT / d).rglob("*.py"))


def test_every_module_imports_only_its_own_layer_or_lower():
    found = [v for path in source_files() for v in violations(path.read_text(), *module_name(path))]
    assert found == []


def test_the_layers_cover_every_module():
    for path in source_files():
        name, _ = module_name(path)
        layer_of(name)  # raises for a module outside every layer


@pytest.mark.parametrize("module,source,expected", [
    ("zsbench.methods.abs.method", "from zsbench.harness.evaluation.runner import RunError\n", "may not import layer 6"),
    ("zsbench.harness.models.loading", "def f():\n    from zsbench.datasets.toy import model\n", "may not import layer 2"),
    ("zsbench.harness.core.config", "from ..results import store\n", "may not import layer 5"),
    ("zsbench.datasets.catalog", "import zsbench.methods.zpe\n", "may not import layer 3"),
    ("zsbench.harness.evaluation.runner", "from zsbench.harness.cli import app\n", "nothing imports the CLI"),
])
def test_a_forbidden_import_is_reported(module, source, expected):
    found = violations(source, module, False)
    assert len(found) == 1 and expected in found[0]


def test_allowed_imports_pass():
    assert violations("from zsbench.harness.core.errors import UserError\nfrom . import base\n", "zsbench.methods.gda", False) == []
