"""Shared fixtures: real SQLite and PostgreSQL stores, the CLI runner, and daemon checks.

Every storage test takes ``db_url`` and so runs twice: on a fresh SQLite file and on a fresh
PostgreSQL database. Each pytest run creates its own PostgreSQL databases (named after the
process id and a random token) and drops them at the end, so concurrent runs cannot collide.
With ``CI=true``, a missing PostgreSQL or daemon fails the test instead of skipping it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from chainwatch.cli import main

PG_ADMIN_URL = os.environ.get(
    "CHAINWATCH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}
REPO = Path(__file__).resolve().parent.parent


def missing(what: str) -> None:
    """Fail under CI, skip elsewhere: a test that needs ``what`` cannot run."""
    if IN_CI:
        pytest.fail(f"{what} is required when CI=true (.ci/run installs it)")
    pytest.skip(f"{what} is not available")


def require_binary(name: str) -> str:
    """Path of an executable the test needs (nfdump, monerod, litecoind, chromium)."""
    path = shutil.which(name) or (
        name if os.path.isabs(name) and os.access(name, os.X_OK) else None
    )
    if path is None:
        missing(f"the program {name}")
    assert path is not None
    return path


class PgDatabases:
    """Creates throw-away PostgreSQL databases on the local server."""

    def __init__(self) -> None:
        self.prefix = f"cw_test_{os.getpid()}_{secrets.token_hex(3)}"
        self.count = 0
        self.created: list[str] = []
        self.error: str | None = None
        try:
            self.admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
            with self.admin.connect() as conn:
                conn.execute(text("SELECT 1"))
        except Exception as exc:  # any failure to connect means "PostgreSQL not available"
            self.error = f"PostgreSQL at {PG_ADMIN_URL} ({type(exc).__name__})"

    def new(self) -> str:
        if self.error:
            missing(self.error)
        self.count += 1
        name = f"{self.prefix}_{self.count}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.created.append(name)
        return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"

    def drop_all(self) -> None:
        if self.error:
            return
        with self.admin.connect() as conn:
            for name in self.created:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def pg_databases() -> Iterator[PgDatabases]:
    databases = PgDatabases()
    yield databases
    databases.drop_all()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path, pg_databases: PgDatabases) -> str:
    """A fresh, empty database on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'chainwatch.db'}"
    return pg_databases.new()


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> object:
    """Run the real entry point (``chainwatch.cli.main``) in-process: ``cli("scan", ...)``.

    Environment twins of the global options are cleared so a developer's shell cannot leak in.
    """
    for var in (
        "CHAINWATCH_DB",
        "CHAINWATCH_CONFIG",
        "CHAINWATCH_WATCHLISTS",
        "CHAINWATCH_TRACEBACK",
        "CHAINWATCH_CLUSTER",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CHAINWATCH_RESOLVE_HOSTS", "0")  # tests never query DNS

    def run(*args: str, input: str | None = None) -> Result:
        capsys.readouterr()
        if input is not None:
            import io

            monkeypatch.setattr(
                sys, "stdin", io.TextIOWrapper(io.BytesIO(input.encode()), encoding="utf-8")
            )
        try:
            main([str(a) for a in args])
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        out, err = capsys.readouterr()
        return Result(code, out, err)

    return run
