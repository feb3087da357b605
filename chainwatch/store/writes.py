"""Low-level writes of one transaction: events (from Arrow, at the floor), rollups, addresses.

The caller owns the transaction (``store/ingest.py``); nothing here commits.
Events are written by an ``EventWriter``: an input's events arrive batch by batch as Arrow
tables with the columns that vary per event; the columns the same for all of them
(``FIXED_EVENT_COLUMNS``: the input, the scan, when it was recorded) are given once.
``insert_events`` writes complete events (tests, demo, benchmarks).

Rollups are pre-aggregated by the caller (one row per hour, watchlist and category) and added
to what is stored with an upsert that adds (``records = records + excluded.records``), never
read and written back; distinct local addresses are kept as rows so that distinct counts over
several inputs stay exact. On PostgreSQL the transactions adding to the rollups take one lock
first (``ROLLUPS``) and so add one at a time: two inputs' upserts, each holding rows the other
wants, would otherwise deadlock when an input writes its addresses in more than one go.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql, sqlite

from chainwatch.store import pgcopy, scratch
from chainwatch.store.event_copy import Fixed as Fixed
from chainwatch.store.event_copy import copy_events
from chainwatch.store.locks import wait_for
from chainwatch.store.models import Event, Rollup

#: Event columns a caller provides (everything but the generated id), in table order.
EVENT_COLUMNS: tuple[str, ...] = tuple(c.name for c in Event.__table__.columns if c.name != "id")
#: Columns the same for all of an input's events: given once to ``EventWriter.add``.
FIXED_EVENT_COLUMNS = ("last_seen_at", "recorded_at", "input_id", "scan_id")
ROLLUP_COLUMNS = ("hour", "watchlist", "category", "records", "bytes", "packets", "events")
ROLLUP_ADDRESS_COLUMNS = ("hour", "watchlist", "category", "local_ip")
_CHUNK = 50_000
#: Events held (SQLite) before they are staged in a scratch file as one table.
STAGED_ROWS = 16_000
#: The lock (kind, name) a transaction takes before it adds to the rollups.
ROLLUPS = ("rollups", "all")


def _rows(
    table: pa.Table | Sequence[dict[str, Any]], columns: Sequence[str]
) -> list[dict[str, Any]]:
    if isinstance(table, pa.Table):
        missing = [c for c in columns if c not in table.column_names]
        if missing:
            raise ValueError(f"missing columns {missing}")
        rows: list[dict[str, Any]] = table.select(list(columns)).to_pylist()
        return rows
    return list(table)


def _chunks(rows: list[dict[str, Any]]) -> Iterable[list[dict[str, Any]]]:
    for start in range(0, len(rows), _CHUNK):
        yield rows[start : start + _CHUNK]


def _driver_value(value: Any, dialect: str) -> Any:
    """A value as the database driver takes it, as the models' types would store it."""
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: times must be UTC-aware")
        if dialect == "sqlite":  # SQLAlchemy's SQLite DateTime format, naive UTC
            return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        return value
    if isinstance(value, dict | list):
        return json.dumps(value)
    return value


def insert_events(conn: Connection, events: pa.Table | Sequence[dict[str, Any]]) -> int:
    """Insert events (pyarrow table or dicts with ``EVENT_COLUMNS``); returns how many."""
    return insert_event_rows(conn, event_rows(events, conn.dialect.name))


def event_rows(
    events: pa.Table | Sequence[dict[str, Any]], dialect: str, *, fixed: Iterable[str] = ()
) -> list[tuple[Any, ...]]:
    """Events as the database driver of ``dialect`` takes them, in ``EVENT_COLUMNS`` order
    without the ``fixed`` columns. Needs no connection, so callers may convert in one thread
    and insert in another."""
    given = set(fixed)
    columns = [c for c in EVENT_COLUMNS if c not in given]
    if isinstance(events, pa.Table):
        return _table_tuples(events.select(columns), dialect)
    return [tuple(_driver_value(row[c], dialect) for c in columns) for row in events]


def insert_event_rows(
    conn: Connection, rows: Sequence[tuple[Any, ...]], *, fixed: Mapping[str, Fixed] | None = None
) -> int:
    """Insert rows made by ``event_rows`` (with the same ``fixed`` columns, given here with
    their values); returns how many.

    Bulk data goes straight to the driver: ``executemany`` on SQLite, ``COPY`` on PostgreSQL;
    SQLAlchemy's per-row parameter processing would cost more than the insert itself. On
    SQLite fixed values are literals in the statement, so they are not bound again per row:
    only numbers, times and NULL, never text, so nothing needs quoting.
    """
    if not rows:
        return 0
    dialect = conn.dialect.name
    fixed = fixed or {}
    _check_fixed(fixed)
    values = {name: _driver_value(value, dialect) for name, value in fixed.items()}
    columns = [c for c in EVENT_COLUMNS if c not in values]
    if dialect == "postgresql":
        driver = conn.connection.driver_connection
        assert driver is not None
        names = ", ".join([*columns, *values])
        tail = tuple(values.values())
        with driver.cursor() as cursor, cursor.copy(f"COPY events ({names}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row + tail)
    else:
        marks = [_literal(fixed[c]) if c in fixed else "?" for c in EVENT_COLUMNS]
        conn.exec_driver_sql(
            f"INSERT INTO events ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join(marks)})",
            rows if isinstance(rows, list) else list(rows),
        )
    return len(rows)


def _literal(value: Fixed) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, dt.datetime):
        return f"'{_driver_value(value, 'sqlite')}'"  # digits and separators only
    return str(int(value))


def _table_tuples(table: pa.Table, dialect: str) -> list[tuple[Any, ...]]:
    """Rows of an Arrow table as driver values: times as SQLite's text form on SQLite; a
    ``detail`` column of strings is taken as JSON text already."""
    columns = []
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_timestamp(column.type):
            if column.type.tz is None:
                raise ValueError(f"column {name}: naive timestamps; times must be UTC")
            if dialect == "sqlite":  # naive microseconds print as "%Y-%m-%d %H:%M:%S.%f"
                column = column.cast(pa.timestamp("us")).cast(pa.string())
        if name == "detail" and not pa.types.is_string(column.type):
            columns.append([_driver_value(v, dialect) for v in column.to_pylist()])
            continue
        columns.append(column.to_pylist())
    return list(zip(*columns, strict=True))


class EventWriter:
    """One transaction's events, written from Arrow with no Python per value.

    ``add`` takes a batch of events (``EVENT_COLUMNS`` minus the keys of ``fixed``, typed as
    the match stage makes them: times UTC, integers, ``detail`` JSON text or null) and the
    values of the ``fixed`` columns (None, an int or a UTC datetime: the same for the whole
    batch). ``flush`` makes sure everything added is in ``events``: call it before the
    transaction commits, and before reading the events back in it.

    PostgreSQL: each batch is COPYed (binary, ``store/pgcopy.py``) on the transaction's own
    connection, so ``flush`` has nothing to do. SQLite: batches are held, with their fixed
    values as columns, and staged ``STAGED_ROWS`` at a time in a scratch file (ADBC,
    ``store/scratch.py``; each staged table changes the file's schema, which the transaction's
    connection reads again at its next statement, so they are few), then moved into
    ``events`` with one INSERT ... SELECT per staged table, in the order added (ids as one
    insert would give them): at once while another scratch file is free for what follows
    (the move overlaps the reading of the next rows), else by ``flush``. A transaction that
    flushes more often than it has scratch files, or a connection without them (not from
    ``Store.write()``), writes the rest through ``sqlite3`` as ``insert_event_rows`` does.
    """

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self._stage: scratch.Stage | None = None
        self._staged: list[tuple[str, Sequence[str], str]] = []  # (into, columns, from)
        self._held: list[pa.Table] = []  # added, not staged yet (all of one schema)
        self._rows = 0

    def add(self, events: pa.Table, fixed: Mapping[str, Fixed]) -> int:
        """Write (or hold) a batch of events; returns how many."""
        _check_fixed(fixed)
        given = [c for c in EVENT_COLUMNS if c not in fixed]
        present = set(events.column_names)  # a new list per call: asked once
        missing = [c for c in given if c not in present]
        if missing:
            raise ValueError(f"events lack columns {missing}")
        n = int(events.num_rows)
        if n == 0:
            return 0
        events = events.select(given)
        if self.conn.dialect.name == "postgresql":
            return copy_events(self.conn, events, fixed)
        if self._stage is None:
            self._stage = scratch.take(self.conn)
        if self._stage is None:
            rows = event_rows(events, "sqlite", fixed=fixed)
            return insert_event_rows(self.conn, rows, fixed=fixed)
        values = _sqlite_values(events)
        for name, value in fixed.items():  # a constant column: no Python per row
            text = _driver_value(value, "sqlite")
            kind = pa.int64() if value is None or isinstance(value, int) else pa.string()
            values = values.append_column(name, pa.repeat(pa.scalar(text, kind), n))
        values = values.select(list(EVENT_COLUMNS))
        if self._held and values.schema != self._held[0].schema:
            self._stage_held()
        self._held.append(values)
        self._rows += n
        if self._rows >= STAGED_ROWS:
            self._stage_held()
            if scratch.free(self.conn):  # a file left for the rest: these go in now
                self._move()
        return n

    def flush(self) -> None:
        """Everything added is in ``events`` (idempotent)."""
        self._stage_held()
        self._move()

    def add_new(self, name: str, rows: pa.Table) -> bool:
        """Stage rows (SQLite values) to be inserted into table ``name`` by ``flush``, those
        not stored yet, in their order; False where there is no scratch file to stage them
        (the caller inserts them itself)."""
        if self.conn.dialect.name != "sqlite":
            return False
        if self._stage is None:
            self._stage = scratch.take(self.conn)
        if self._stage is None:
            return False
        self._staged.append((name, rows.column_names, self._stage.add(rows)))
        return True

    def _move(self) -> None:
        """The staged tables into theirs; their file, now read, is done with."""
        staged, self._staged, self._stage = self._staged, [], None
        for name, columns, table in staged:
            names = ", ".join(columns)
            verb = "INSERT" if name == "events" else "INSERT OR IGNORE"
            self.conn.exec_driver_sql(
                f"{verb} INTO {name} ({names}) SELECT {names} FROM {table} ORDER BY rowid"
            )

    def _stage_held(self) -> None:
        if self._held:
            assert self._stage is not None
            table = self._stage.add(pa.concat_tables(self._held))
            self._staged.append(("events", EVENT_COLUMNS, table))
        self._held, self._rows = [], 0


def _check_fixed(fixed: Mapping[str, Fixed]) -> None:
    for name, value in fixed.items():
        if name not in EVENT_COLUMNS:
            raise ValueError(f"fixed event column {name}: not a column of events")
        if not (value is None or isinstance(value, int | dt.datetime)):
            raise TypeError(f"fixed event column {name}: None, an int or a datetime, not text")


def _sqlite_values(events: pa.Table) -> pa.Table:
    """Events as SQLite stores them: times as SQLAlchemy's text, ``detail`` as JSON text."""
    columns = []
    for name in events.column_names:
        column = events.column(name)
        if pa.types.is_dictionary(column.type):
            column = column.cast(column.type.value_type)
        if pa.types.is_timestamp(column.type):
            if column.type.tz is None:
                raise ValueError(f"column {name}: naive timestamps; times must be UTC")
            column = column.cast(pa.timestamp("us")).cast(pa.string())
        elif name == "detail" and not pa.types.is_string(column.type):
            column = pa.array([_driver_value(v, "sqlite") for v in column.to_pylist()], pa.string())
        columns.append(column)
    return pa.table(columns, names=events.column_names)


def _upsert(conn: Connection) -> Any:
    return postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert


def _first_then(table: pa.Table, columns: Sequence[str]) -> pa.Table:
    """Sorted by the columns, after ``first`` if any (the first of the transaction's inputs
    holding the row: rows are created as one write per input would create them)."""
    keys = ["first", *columns] if "first" in table.column_names else list(columns)
    return table.sort_by([(c, "ascending") for c in keys])


def add_rollups(conn: Connection, rollups: pa.Table | Sequence[dict[str, Any]]) -> None:
    """Add per-hour totals to the stored rollups (insert, or increment an existing row)."""
    if isinstance(rollups, pa.Table):
        rollups = _first_then(rollups, ROLLUP_COLUMNS[:3])
    rows = _rows(rollups, ROLLUP_COLUMNS)
    if not rows:
        return
    wait_for(conn, *ROLLUPS, "which is adding to the rollups")
    if not isinstance(rollups, pa.Table):  # a stable order (one lock serialises writers)
        rows.sort(key=lambda r: (r["hour"], r["watchlist"], r["category"]))
    statement = _upsert(conn)(Rollup)
    excluded = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=["hour", "watchlist", "category"],
        set_={
            name: getattr(Rollup, name) + getattr(excluded, name)
            for name in ("records", "bytes", "packets", "events")
        },
    )
    for chunk in _chunks(rows):
        conn.execute(statement, chunk)


def add_rollup_addresses(
    conn: Connection,
    rows: pa.Table | Sequence[dict[str, Any]],
    writer: EventWriter | None = None,
) -> None:
    """Record distinct local addresses per hour, watchlist and category (duplicates ignored),
    and per UTC day; through the transaction's ``writer`` when given (staged, SQLite)."""
    if not isinstance(rows, pa.Table):
        rows = pa.Table.from_pylist([{c: r[c] for c in ROLLUP_ADDRESS_COLUMNS} for r in rows])
    if rows.num_rows == 0:
        return
    if "first" not in rows.column_names:
        rows = rows.append_column("first", pa.repeat(pa.scalar(0, pa.int64()), rows.num_rows))
    wait_for(conn, *ROLLUPS, "which is adding to the rollups")
    hourly = _first_then(rows, ROLLUP_ADDRESS_COLUMNS).select(list(ROLLUP_ADDRESS_COLUMNS))
    day = pc.cast(rows.column("hour"), pa.date32())  # UTC: the hours' zone
    days = (
        rows.select(["watchlist", "category", "local_ip", "first"])
        .append_column("day", day)
        .group_by(["day", "watchlist", "category", "local_ip"])
        .aggregate([("first", "min")])
        .rename_columns({"first_min": "first"})
    )
    days = _first_then(days, ["day", "watchlist", "category", "local_ip"])
    days = days.select(["day", "watchlist", "category", "local_ip"])
    for table, name, kinds in (
        (hourly, "rollup_addresses", _ADDRESS_TYPES),
        (days, "rollup_day_addresses", ("date", *_ADDRESS_TYPES[1:])),
    ):
        _insert_addresses(conn, name, table, kinds, writer)


def _insert_addresses(
    conn: Connection, name: str, table: pa.Table, kinds: Sequence[str], writer: EventWriter | None
) -> None:
    """Insert the rows not stored yet, in their order (days as SQLite's Date text there)."""
    if conn.dialect.name == "postgresql":
        _insert_new(conn, name, table, kinds)
        return
    if pa.types.is_date32(table.schema.field(0).type):
        table = table.set_column(0, table.field(0).name, pc.cast(table.column(0), pa.string()))
    table = _sqlite_values(table)
    if writer is not None and writer.add_new(name, table):
        return
    conn.exec_driver_sql(
        f"INSERT OR IGNORE INTO {name} ({', '.join(table.column_names)}) VALUES (?, ?, ?, ?)",
        _table_tuples(table, "sqlite"),
    )


_ADDRESS_TYPES = ("timestamp with time zone", "text", "text", "text")


def _insert_new(conn: Connection, table: str, rows: pa.Table, types: Sequence[str]) -> None:
    """Insert the rows (in their order) that are not stored yet, on PostgreSQL: COPYed
    (binary, from Arrow) into a temporary table, then one INSERT ... SELECT in that order.
    Sending the values as arrays took seconds for 85,000 addresses, each adapted in Python."""
    staging = f"cw_new_{table}"
    columns = ", ".join(rows.column_names)
    kinds = {name: kind for name, kind in zip(rows.column_names, types, strict=True)}
    kinds["n"] = "bigint"
    rows = rows.append_column("n", pa.array(range(rows.num_rows), pa.int64()))
    conn.exec_driver_sql(
        f"CREATE TEMP TABLE IF NOT EXISTS {staging} ON COMMIT DROP AS "
        f"SELECT {columns}, 0::bigint AS n FROM {table} WITH NO DATA"
    )
    conn.exec_driver_sql(f"TRUNCATE {staging}")
    driver = conn.connection.driver_connection
    assert driver is not None
    copy_rows = pgcopy.copy_rows(rows, kinds)
    with driver.cursor() as cursor:
        with cursor.copy(f"COPY {staging} ({columns}, n) FROM STDIN (FORMAT binary)") as copy:
            copy.write(pgcopy.HEADER)
            copy.write(pgcopy.stream(copy_rows))
            copy.write(pgcopy.TRAILER)
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {staging} ORDER BY n "
            "ON CONFLICT DO NOTHING"
        )
