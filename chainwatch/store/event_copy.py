"""Events COPYed into PostgreSQL (binary), for ``chainwatch.store.writes.EventWriter``."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

import pyarrow as pa
from sqlalchemy import Connection
from sqlalchemy.dialects import postgresql

from chainwatch.store import pgcopy
from chainwatch.store.models import Event

#: Rows per part of a binary COPY encoded at a time (about 6 MB).
_COPY_PART = 16_384
#: A value the same for every event of a batch (``writes.Fixed``).
Fixed = None | int | dt.datetime


@functools.cache
def _pg_types() -> dict[str, str]:
    """Each event column's PostgreSQL type, as ``pgcopy.TYPES`` names it."""
    names = {"INTEGER": "integer", "BIGINT": "bigint", "FLOAT": "double precision"}
    kinds, dialect = {}, postgresql.dialect()  # type: ignore[no-untyped-call]
    for column in Event.__table__.columns:
        compiled = column.type.compile(dialect=dialect)
        if compiled.startswith("TIMESTAMP"):
            kinds[column.name] = "timestamp with time zone"
        else:
            kinds[column.name] = names.get(compiled, "text")  # VARCHAR, TEXT, JSON: their text
    return kinds


def copy_events(conn: Connection, events: pa.Table, fixed: Mapping[str, Fixed]) -> int:
    """COPY a batch into ``events`` (binary), the fixed values repeated on every row. Parts of
    it are encoded in a thread while the previous part goes to the server (Arrow and the
    driver both let go of the GIL), so the server, the floor, is kept busy."""
    n, types = int(events.num_rows), _pg_types()
    for name, value in fixed.items():
        kind = pgcopy.TYPES[types[name]][0]
        events = events.append_column(
            name, pa.nulls(n, kind) if value is None else pa.repeat(pa.scalar(value, kind), n)
        )

    def encode(start: int) -> tuple[pa.Array, memoryview]:
        rows = pgcopy.copy_rows(events.slice(start, _COPY_PART), types)
        return rows, pgcopy.stream(rows)  # the array owns the bytes: kept until written

    driver = conn.connection.driver_connection
    assert driver is not None
    statement = f"COPY events ({', '.join(events.column_names)}) FROM STDIN (FORMAT binary)"
    starts = list(range(0, n, _COPY_PART))
    with (
        ThreadPoolExecutor(1, thread_name_prefix="pgcopy") as pool,
        driver.cursor() as cursor,
        cursor.copy(statement) as copy,
    ):
        copy.write(pgcopy.HEADER)
        part = pool.submit(encode, starts[0])
        for following in [*starts[1:], None]:
            _, data = part.result()
            if following is not None:
                part = pool.submit(encode, following)
            copy.write(data)
        copy.write(pgcopy.TRAILER)
    return n
