"""Method adapters: one module per method (family), each registering its classes with
``@register_method("name")``. Importing the package registers nothing; the method registry finds
the built-in methods with :func:`builtin_methods` and imports a module when one of its names is
asked for, so a new method is one file here and no list to edit."""
from __future__ import annotations

import re
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
_DECORATOR = re.compile(r"""^@register_method\(["']([^"']+)["']\)\s*$""", re.M)


@cache
def builtin_methods() -> dict[str, str]:
    """``{method name: module that registers it}``, read from the sources' ``@register_method("x")``
    decorators without importing them (so that naming a method, or mistyping one, costs no torch)."""
    found: dict[str, str] = {}
    for path in sorted(HERE.rglob("*.py")):
        module = ".".join(("zsbench.methods", *path.relative_to(HERE).with_suffix("").parts)).removesuffix(".__init__")
        for name in _DECORATOR.findall(path.read_text(encoding="utf-8")):
            found[name] = module
    return found
