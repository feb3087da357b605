"""Every third-party package that ``chainwatch/`` imports is declared in pyproject.toml's
``[project] dependencies``, and every declared dependency is imported somewhere (a leftover
is dead weight in every install). Imports are read from the source with ``ast``, so an import
inside a function (a lazily loaded reader) counts as much as one at the top of a module."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from tests.conftest import REPO

#: Declared for what they bring without being imported by name: the PostgreSQL driver that
#: SQLAlchemy loads from a ``postgresql+psycopg`` URL.
LOADED_BY_NAME = {"psycopg": "SQLAlchemy loads it for postgresql+psycopg:// URLs"}


def normalise(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def declared() -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return {
        normalise(re.split(r"[\s\[<>=!~;]", spec, maxsplit=1)[0])
        for spec in project["dependencies"]
    }


def fallbacks(tree: ast.AST) -> set[ast.AST]:
    """Imports inside ``except ImportError`` handlers: a fallback for older releases of a
    declared package (typer's vendored click, else click), not a dependency of their own."""
    out: set[ast.AST] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ExceptHandler) and ast.unparse(node.type or ast.Name("")) in {
            "ImportError",
            "ModuleNotFoundError",
        }:
            out.update(ast.walk(node))
    return out


def imported_modules(root: Path) -> dict[str, str]:
    """Top-level names of absolute imports under ``root``, each with one place it is imported."""
    found: dict[str, str] = {}
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        skip = fallbacks(tree)
        for node in ast.walk(tree):
            if node in skip:
                continue
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                found.setdefault(name.split(".")[0], f"{path.relative_to(root)}:{node.lineno}")
    return found


def third_party(modules: dict[str, str]) -> dict[str, str]:
    return {
        name: where
        for name, where in modules.items()
        if name not in sys.stdlib_module_names and name not in {"chainwatch", "__future__"}
    }


def distributions_of(modules: dict[str, str]) -> dict[str, set[str]]:
    """Each imported module's installed distributions (``yaml`` -> ``PyYAML``)."""
    installed = packages_distributions()
    return {name: {normalise(d) for d in installed.get(name, [])} for name in modules}


def test_every_imported_package_is_declared() -> None:
    modules = third_party(imported_modules(REPO / "chainwatch"))
    assert "numpy" in modules and "sqlalchemy" in modules  # the scan sees real imports
    wanted = declared()
    distributions = distributions_of(modules)
    undeclared = {
        f"{name} ({where})" for name, where in modules.items() if not distributions[name] & wanted
    }
    assert not undeclared, f"imported but not in [project] dependencies: {sorted(undeclared)}"


def test_every_declared_package_is_imported() -> None:
    modules = third_party(imported_modules(REPO / "chainwatch"))
    used = set().union(*distributions_of(modules).values())
    unused = declared() - used - set(LOADED_BY_NAME)
    assert not unused, f"declared in [project] dependencies but never imported: {sorted(unused)}"


def test_the_check_sees_a_missing_declaration(tmp_path: Path) -> None:
    """The check can fail: a package nobody declared is caught, in a function too; a fallback
    under ``except ImportError`` is not counted."""
    (tmp_path / "mod.py").write_text(
        "def f():\n    import yaml\n    from numpy import array\n"
        "try:\n    import tomllib\nexcept ImportError:\n    import tomli\n"
    )
    modules = third_party(imported_modules(tmp_path))
    assert set(modules) == {"yaml", "numpy"}
    assert modules["yaml"] == "mod.py:2"
    distributions = distributions_of(modules)
    assert not distributions["yaml"] & declared() and distributions["numpy"] & declared()
