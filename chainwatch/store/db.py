"""Opening the store: engines for SQLite and PostgreSQL, and migration on first use.

SQLite runs in WAL mode with foreign keys on. It allows one writer at a time, so every write
transaction (``Store.write()``, ``Store.session()``) takes the write lock up front (BEGIN
IMMEDIATE) and waits for it as long as another writer holds it, saying so on stderr once it
has waited ``WAIT_NOTICE_SECONDS``: a one-shot ``chainwatch scan`` from cron waits for a
``chainwatch run`` reading a large file instead of failing with "database is locked". (A
transaction that read first and wrote later could not wait: SQLite refuses it the lock at once
when another writer got in between.) Read-only work (``Store.reading()``, reports) takes no
lock and never waits in WAL mode. A ``Store.write()`` connection has scratch files attached,
where its events are staged from Arrow (``store/scratch.py``); it takes the same write lock with
a first statement after a DEFERRED BEGIN, since IMMEDIATE would lock those files too. The schema
is changed only by Alembic (``migrations/``), and an empty database is created from the
models as the migrations would make it; ``open_store`` upgrades to the head revision under a
lock (an IMMEDIATE transaction on SQLite, an advisory lock on PostgreSQL) so two processes
starting at once do not both try to create it.
"""

from __future__ import annotations

import re
import sqlite3
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from chainwatch.errors import StoreError
from chainwatch.store import scratch

if TYPE_CHECKING:
    from alembic.config import Config

#: Fixed key for PostgreSQL's advisory lock around migrations ("chainwatch" in ASCII, trimmed).
_MIGRATION_LOCK = 0x636861696E77
SQLITE_BUSY_TIMEOUT_MS = 120_000
#: How long a writer waits for another writer's lock before it says so (once) on stderr.
WAIT_NOTICE_SECONDS = 3.0


def migrations_dir() -> Path:
    """Where the Alembic scripts are: the repository's ``migrations/`` (installed as
    ``chainwatch.migrations``)."""
    import chainwatch.migrations as package

    return Path(package.__file__).parent


def alembic_config(url: str | None = None) -> Config:
    from alembic.config import Config  # only to migrate: Alembic costs a tenth of a second

    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    if url is not None:
        # ConfigParser interpolation: a literal % in a password must be doubled.
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


_REVISION = re.compile(r'^(down_)?revision(?:: [^=]+)? = "?([^"\n]*?)"?$', re.M)


@cache
def head_revision() -> str:
    """The newest revision of ``migrations/``, read from the scripts' ``revision`` lines
    without importing Alembic (every command opens the store; few migrate it). The one no
    other script names as its ``down_revision``."""
    revisions: set[str] = set()
    downs: set[str] = set()
    for script in (migrations_dir() / "versions").glob("*.py"):
        for down, value in _REVISION.findall(script.read_text(encoding="utf-8")):
            (downs if down else revisions).add(value)
    heads = sorted(revisions - downs)
    assert len(heads) == 1, f"migrations/ has heads {heads}"
    return heads[0]


def redact(url: str) -> str:
    """The URL with any password replaced by ``***``, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the sqlite3 module, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        # Bulk inserts update five indexes on events in key order, not insertion order: with
        # SQLite's default 2 MiB page cache they spill pages all the time. 64 MiB, as needed.
        cursor.execute("PRAGMA cache_size = -65536")
        # A directory of flow files is one short transaction per file. Checkpointing the WAL
        # every 1,000 pages (the default) means an fsync every few files; every 64 MiB keeps
        # the same safety (synchronous=NORMAL) at a fraction of the fsyncs.
        cursor.execute("PRAGMA wal_autocheckpoint = 16384")
        cursor.close()

    @event.listens_for(engine, "close")
    def _on_close(_dbapi_connection: Any, record: Any) -> None:
        scratch.detach_files(record.info)

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Connection) -> None:
        # Writers ask for IMMEDIATE so they queue on the lock up front instead of failing
        # with SQLITE_BUSY when a read transaction later tries to become a write.
        mode = connection.get_execution_options().get("sqlite_begin", "BEGIN")
        info = connection.connection.info
        scratch.begun(info)
        if mode == "BEGIN":
            connection.exec_driver_sql(mode)
            return
        # With scratch files attached, IMMEDIATE would lock them too (store/scratch.py): the
        # same write lock on the main database is taken by a first statement instead.
        lock = scratch.LOCK_MAIN if scratch.attached(info) else mode
        if lock != mode:
            connection.exec_driver_sql("BEGIN")
        name = Path(engine.url.database or "").name or "the database"
        with waiting_notice(
            f"{name}: another writer holds its lock (SQLite has one writer at a time)"
        ):
            while True:  # each try waits SQLITE_BUSY_TIMEOUT_MS; a writer may hold it longer
                try:
                    connection.exec_driver_sql(lock)
                    return
                except OperationalError as exc:
                    if not _locked(exc):
                        if lock != mode:
                            connection.exec_driver_sql("ROLLBACK")
                        raise


def _locked(exc: OperationalError) -> bool:
    return isinstance(exc.orig, sqlite3.OperationalError) and "locked" in str(exc.orig)


@contextmanager
def waiting_notice(what: str, after: float = WAIT_NOTICE_SECONDS) -> Iterator[None]:
    """Around a wait for another writer's lock: one line on stderr if it lasts ``after``
    seconds, so that a scan waiting for minutes is not taken for one that hangs."""

    def say() -> None:
        print(f"chainwatch: waiting for {what}", file=sys.stderr, flush=True)

    timer = threading.Timer(after, say)
    timer.daemon = True
    timer.start()
    try:
        yield
    finally:
        timer.cancel()


def make_engine(url: str) -> Engine:
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StoreError(
            f"database URL {url!r} is not valid; expected e.g. sqlite:///chainwatch.db or "
            "postgresql+psycopg://user@host/dbname"
        ) from None
    backend = parsed.get_backend_name()
    if backend not in {"sqlite", "postgresql"}:
        raise StoreError(
            f"database {redact(url)}: backend {backend!r} is not supported; expected sqlite or "
            "postgresql+psycopg"
        )
    if backend == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            parent = Path(database).expanduser().resolve().parent
            if not parent.is_dir():
                raise StoreError(f"database {redact(url)}: directory {parent} does not exist")
        engine = create_engine(parsed)
        _configure_sqlite(engine)
        return engine
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    engine = create_engine(parsed, pool_pre_ping=True)
    _configure_postgresql(engine)
    return engine


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Reports bucket timestamptz values by day in SQL (date_trunc, ::date), which uses the
        # session's time zone: pin UTC whatever the server's or the client's (PGTZ) default.
        # Outside a transaction, so that the pool's rollback on return does not undo it.
        dbapi_connection.autocommit = True
        dbapi_connection.execute("SET TIME ZONE 'UTC'")
        if dbapi_connection.info.server_version >= 140000:
            # A scan killed while its statement waits for a lock: the server notices within a
            # second and ends its transaction, so its claims do not outlive it by the wait.
            dbapi_connection.execute("SET client_connection_check_interval = 1000")
        dbapi_connection.autocommit = False


@dataclass
class Store:
    """An open, migrated store. Use ``session()`` for ORM writes, ``reading()`` for ORM reads,
    ``write()`` for bulk SQL and ``engine`` for reads in SQL."""

    url: str
    engine: Engine

    def __post_init__(self) -> None:
        writer = self.engine.execution_options(sqlite_begin="BEGIN IMMEDIATE")
        self._sessions = sessionmaker(writer, expire_on_commit=False)
        self._readers = sessionmaker(self.engine, expire_on_commit=False)

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one write transaction (IMMEDIATE on SQLite): committed on success,
        rolled back on any error."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def reading(self) -> Iterator[Session]:
        """A session that only reads: it never waits for writers."""
        with self._readers() as session, session.begin():
            yield session

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A connection in one write transaction (its write lock taken up front on SQLite,
        with scratch files for ``EventWriter``), for bulk statements."""
        with self.engine.connect() as connection:
            if self.dialect == "sqlite":
                scratch.attach(connection)  # before the transaction: see store/scratch.py
            connection = connection.execution_options(sqlite_begin="BEGIN IMMEDIATE")
            with connection.begin():
                yield connection

    def close(self) -> None:
        self.engine.dispose()


def current_revision(engine: Engine) -> str | None:
    """The database's revision (Alembic's ``alembic_version`` row), None when it has none."""
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        version = connection.scalar(text("SELECT version_num FROM alembic_version"))
        return None if version is None else str(version)


def upgrade(engine: Engine, url: str, *, from_models: bool = True) -> None:
    """Upgrade the database to the head revision, under a cross-process lock. An empty one
    is created from the models and stamped with the head revision (``from_models``): the
    same schema as the migrations make (``tests/store/test_migrations.py`` compares them),
    in a tenth of the time (0.02 s against 0.2 s), without importing Alembic."""
    with engine.connect() as connection:
        connection = connection.execution_options(sqlite_begin="BEGIN IMMEDIATE")
        with connection.begin():
            if engine.dialect.name == "postgresql":
                connection.execute(
                    text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK}
                )
            if from_models and not inspect(connection).get_table_names():
                _create(connection)
                return
            from alembic import command

            config = alembic_config(url)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")


def _create(connection: Connection) -> None:
    from chainwatch.store.models import Base

    Base.metadata.create_all(connection)
    # Alembic's own version table, as ``alembic stamp`` makes it.
    connection.execute(
        text(
            "CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, "
            "CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num))"
        )
    )
    connection.execute(
        text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": head_revision()}
    )


@contextmanager
def reporting_errors(url: str) -> Iterator[None]:
    """Turn a database that cannot be reached into a one-line ``StoreError`` (password hidden)."""
    try:
        yield
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        raise StoreError(f"cannot open database {redact(url)}: {reason}") from None


def open_store(url: str, *, migrate: bool = True) -> Store:
    """Open the store at ``url``, creating and migrating it on first use."""
    engine = make_engine(url)
    try:
        with reporting_errors(url):
            revision = current_revision(engine)
            if revision != head_revision():
                if not migrate:
                    raise StoreError(
                        f"database {redact(url)} is at revision {revision or 'none'}, not "
                        f"{head_revision()}; run: chainwatch db upgrade"
                    )
                upgrade(engine, url)
    except BaseException:
        engine.dispose()
        raise
    return Store(url=url, engine=engine)
