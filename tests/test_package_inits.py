"""Every package ``__init__`` has one shape: a docstring saying what it holds and, when the package has a
public API, its ``if TYPE_CHECKING:`` imports re-exported lazily (devcurriculum.utils.lazy)."""

from __future__ import annotations

import ast
import importlib
import subprocess
import sys
from pathlib import Path

import pytest

from devcurriculum.utils.lazy import lazy_exports, type_checking_imports

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGES = sorted(
    ".".join(p.parent.relative_to(SRC).parts) for p in (SRC / "devcurriculum").rglob("__init__.py")
)
#: packages with a public API (``from devcurriculum.<package> import name``)
EXPORTING = ["devcurriculum.config", "devcurriculum.curriculum", "devcurriculum.demo", "devcurriculum.difficulty",
             "devcurriculum.evalsets.labelled"]


def _init_file(package: str) -> Path:
    return SRC.joinpath(*package.split("."), "__init__.py")


def test_the_package_list_is_complete() -> None:
    assert len(PACKAGES) == 14
    assert {p for p in PACKAGES if type_checking_imports(str(_init_file(p)), p)} == set(EXPORTING)


@pytest.mark.parametrize("package", PACKAGES)
def test_every_package_says_what_it_holds(package: str) -> None:
    doc = ast.get_docstring(ast.parse(_init_file(package).read_text()))
    assert doc, f"{package} has no docstring"
    first = doc.splitlines()[0]
    assert not first.endswith(" package.") and len(first.split()) >= 5, first


@pytest.mark.parametrize("package", PACKAGES)
def test_an_init_holds_a_docstring_and_lazy_exports_only(package: str) -> None:
    tree = ast.parse(_init_file(package).read_text())
    kinds = [type(node).__name__ for node in tree.body[1:]]
    if package == "devcurriculum":
        assert kinds == ["Assign"]  # __version__
    elif package in EXPORTING:
        assert kinds == ["ImportFrom", "ImportFrom", "If", "Assign"], kinds
        (branch,) = (node for node in tree.body if isinstance(node, ast.If))
        assert ast.unparse(branch.orelse) == "__getattr__, __dir__ = lazy_exports(__name__, __file__)"
    else:
        assert kinds == [], kinds


@pytest.mark.parametrize("package", EXPORTING)
def test_every_export_is_the_object_of_the_module_it_is_imported_from(package: str) -> None:
    module = importlib.import_module(package)
    homes = type_checking_imports(str(_init_file(package)), package)
    assert sorted(homes) == sorted(module.__all__)
    for name, (home, attribute) in homes.items():
        assert getattr(module, name) is getattr(importlib.import_module(home), attribute), name
    assert set(module.__all__) <= set(dir(module))


@pytest.mark.parametrize("package", EXPORTING)
def test_importing_a_package_loads_none_of_its_modules(package: str) -> None:
    code = (
        f"import sys; import {package}; "
        f"print(sorted(m for m in sys.modules if m.startswith('{package}.')), 'torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[] False"


def test_the_public_api_imports_by_name() -> None:
    from devcurriculum.curriculum import (
        CurriculumSampler,
        PrototypeSchedule,
        blur_schedule,
        effective_fraction,
        lerac_learning_rates,
    )
    from devcurriculum.difficulty import score_difficulty

    assert score_difficulty.__module__ == "devcurriculum.difficulty.scoring"
    assert PrototypeSchedule.__module__ == "devcurriculum.curriculum.prototype"
    assert effective_fraction.__module__ == "devcurriculum.curriculum.prototype"
    assert CurriculumSampler.__module__ == "devcurriculum.curriculum.sampler"
    assert lerac_learning_rates.__module__ == "devcurriculum.curriculum.lerac"
    assert blur_schedule.__module__ == "devcurriculum.curriculum.blur"


def test_an_unknown_name_is_an_attribute_error_naming_it() -> None:
    import devcurriculum.difficulty as difficulty

    with pytest.raises(AttributeError, match=r"^module 'devcurriculum.difficulty' has no attribute 'nope'$"):
        difficulty.nope  # noqa: B018
    with pytest.raises(ImportError, match="cannot import name 'nope'"):
        from devcurriculum.difficulty import nope  # type: ignore[attr-defined]  # noqa: F401


def test_only_from_imports_belong_under_type_checking(tmp_path: Path) -> None:
    init = tmp_path / "__init__.py"
    init.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import numpy\n")
    with pytest.raises(ImportError, match=r"__init__.py: only `from \.\.\. import \.\.\.` lines belong under"):
        lazy_exports("somepkg", str(init))


def test_relative_and_aliased_imports_resolve_against_the_package(tmp_path: Path) -> None:
    init = tmp_path / "__init__.py"
    init.write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .sub import thing as other\n")
    assert type_checking_imports(str(init), "pkg.inner") == {"other": ("pkg.inner.sub", "thing")}
