"""A package's public API, imported on first use: ``__getattr__`` and ``__dir__`` from its ``if TYPE_CHECKING:`` imports.

Every package ``__init__`` of devcurriculum has the same shape (docs/architecture.md)::

    from typing import TYPE_CHECKING

    from devcurriculum.utils.lazy import lazy_exports

    if TYPE_CHECKING:
        from devcurriculum.curriculum.prototype import PrototypeSchedule, effective_fraction
    else:
        __getattr__, __dir__ = lazy_exports(__name__, __file__)

    __all__ = ["PrototypeSchedule", "effective_fraction"]

The imports are the one list of what the package offers: readers and type checkers see them (and only
them: mypy never sees the ``__getattr__``, so a misspelt name is still an error), ruff holds ``__all__``
to them (F401 / F822), and at run time each name is imported from the module named there when first
asked for, so ``import devcurriculum.curriculum`` does not load torch. The same idea as scientific
Python's SPEC 1 (``lazy_loader``), with the imports in the ``__init__`` instead of a stub.
"""

from __future__ import annotations

import ast
import importlib
import sys
from collections.abc import Callable
from importlib.util import resolve_name
from pathlib import Path
from typing import Any


def type_checking_imports(init_file: str, package: str) -> dict[str, tuple[str, str]]:
    """``{exported name: (module, name there)}`` of the ``from ... import ...`` lines under ``if TYPE_CHECKING:``."""
    homes: dict[str, tuple[str, str]] = {}
    for node in ast.parse(Path(init_file).read_text(encoding="utf-8")).body:
        if not (isinstance(node, ast.If) and isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING"):
            continue
        for stmt in node.body:
            if not isinstance(stmt, ast.ImportFrom):
                raise ImportError(f"{init_file}: only `from ... import ...` lines belong under `if TYPE_CHECKING:`")
            module = resolve_name("." * stmt.level + (stmt.module or ""), package)
            for alias in stmt.names:
                homes[alias.asname or alias.name] = (module, alias.name)
    return homes


def lazy_exports(package: str, init_file: str) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The module-level ``__getattr__`` and ``__dir__`` of ``package`` (PEP 562), from its ``__init__`` file."""
    homes = type_checking_imports(init_file, package)

    def __getattr__(name: str) -> Any:
        if name not in homes:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module, attribute = homes[name]
        value = getattr(importlib.import_module(module), attribute)
        setattr(sys.modules[package], name, value)  # the next lookup is a plain attribute
        return value

    def __dir__() -> list[str]:
        return sorted({*vars(sys.modules[package]), *homes})

    return __getattr__, __dir__
