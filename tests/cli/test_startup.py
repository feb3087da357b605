"""Start-up cost: a command imports only what it uses, and the registries the config check
reads are cheap to import (a fresh interpreter each, as the console script starts)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("sqlalchemy", "alembic", "numpy", "pyarrow", "rich", "matplotlib", "chainwatch.config")


def imported_by(code: str) -> set[str]:
    """The heavy modules in ``sys.modules`` after running ``code`` in a fresh interpreter."""
    probe = (
        f"import sys\ntry:\n    {code}\nexcept SystemExit:\n    pass\n"
        f"print(__import__('json').dumps(sorted(m for m in {HEAVY!r} if m in sys.modules)))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_version_imports_nothing_heavy() -> None:
    assert imported_by("from chainwatch.cli import main; main(['--version'])") == set()


@pytest.mark.parametrize("command", ["scan", "export", "report", "db", "run"])
def test_a_commands_help_imports_no_database_layer(command: str) -> None:
    found = imported_by(f"from chainwatch.cli import main; main([{command!r}, '--help'])")
    assert not found & {"sqlalchemy", "alembic", "matplotlib"}, found


def test_the_registries_import_no_library() -> None:
    code = "import chainwatch.sources, chainwatch.watchers, chainwatch.export, chainwatch.report"
    assert imported_by(code) == set()
