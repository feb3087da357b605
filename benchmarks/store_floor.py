"""How fast today's event rows can be stored, per write path, on SQLite and PostgreSQL.

Groundwork for issue 16 ("storage at the floor"). In one process it builds N event rows shaped
as ``chainwatch/flows/pipeline.py`` builds them (an Arrow table, connection keys made by the
pipeline's own ``_Connections.of``), then writes them, each variant into a fresh database
migrated by chainwatch's own ``open_store`` (so the indexes are the real ones): SQLite in a
temp dir, PostgreSQL in a schema of its own (``floor_<pid>``, dropped at the end). Each
variant writes all N rows in one transaction and is checked afterwards: row count, and a
digest of every stored row that must equal the first variant's on the same database.

Columns: rows/s of the write alone (from what the variant starts with: Python tuples for the
tuple paths, Arrow for the others), rows/s from the Arrow table to committed rows (what
counts: it includes ``event_rows``' conversion to tuples), the ratio of the latter to variant
1 on the same database, and the peak RSS during the variant (VmHWM, reset before each).

    python benchmarks/store_floor.py            # 300,000 rows
    python benchmarks/store_floor.py -n 1000000
    python benchmarks/store_floor.py --only sqlite   # or postgresql

Needs ``adbc-driver-sqlite`` and ``adbc-driver-postgresql`` (PyPI) for the ADBC variants,
which are skipped without them; they are not chainwatch dependencies. Findings are in
``benchmarks/README.md`` (section "Storage at the floor").
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import re
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, insert, text

from chainwatch.flows.pipeline import _Connections
from chainwatch.store.db import Store, make_engine, open_store
from chainwatch.store.ingest import EVENT_COLUMNS, event_rows, insert_event_rows
from chainwatch.store.models import Input, Scan

PG_URL = os.environ.get("CHAINWATCH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SCHEMA = f"floor_{os.getpid()}"
BATCH = 65_536  # rows per insert call, as the pipeline writes batch by batch
T0 = 1557100800  # 2019-05-06 00:00:00 UTC
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
UNIQUE = "uq_events_source_connection_key"


def pipeline_events(n: int, seed: int = 7) -> pa.Table:
    """N classified flow records as ``InputPipeline.prepare`` turns them into events."""
    rng = np.random.default_rng(seed)
    seconds = np.sort(T0 + rng.integers(0, 86_400, n))
    ts = pa.array(seconds * 1_000_000, pa.timestamp("us", tz="UTC"))
    lip = pc.binary_join_element_wise(
        "175.45.176", pa.array(rng.integers(1, 255, n).astype(str)), "."
    )
    kind = rng.integers(0, 3, n)  # pool, bitcoin p2p, monero p2p
    pool = kind == 0
    rip_tail = pa.array(np.where(pool, "10", rng.integers(1, 255, n).astype(str)))
    rip = pc.binary_join_element_wise(
        pa.array(np.where(pool, "203.0.113", "198.51.100")), rip_tail, "."
    )
    lport = pa.array(rng.integers(1024, 65536, n))
    rport = pa.array(np.choose(kind, [3333, 8333, 18080]))
    proto = pa.array(["tcp"] * n)
    category = np.choose(kind, ["xmr-pool", "btc-p2p", "xmr-p2p"])
    uid = pa.nulls(n, pa.string())  # NetFlow records: no Zeek uid, keys from the 5-tuple
    conns = _Connections.of(proto, lip, lport, rip, rport, uid, seconds)
    lines = pa.array(np.arange(2, n + 2).astype(str))
    endpoint = pa.array(np.where(pool, ', "endpoint": "bench-pool"', ""))
    return pa.table(
        {
            "observed_at": ts,
            "watchlist": pa.array(["kp"] * n),
            "matched_cidr": pa.array(["175.45.176.0/22"] * n),
            "local_ip": lip,
            "local_port": lport,
            "remote_ip": rip,
            "remote_port": rport,
            "proto": proto,
            "direction": pa.array(np.where(rng.random(n) < 0.9, "outbound", "inbound")),
            "category": pa.array(category),
            "coin": pa.array(np.char.partition(category.astype(str), "-")[:, 0]),
            "detector": pa.array(np.where(pool, "endpoint", "port")),
            "confidence": pa.array(np.where(pool, 0.9, 0.5)),
            "source": pa.array(["bench"] * n),
            "source_ref": pc.binary_join_element_wise("flows.csv", lines, ":"),
            "bytes": pa.array(rng.integers(40, 10**7, n)),
            "packets": pa.array(rng.integers(1, 10**4, n)),
            "detail": pc.binary_join_element_wise('{"format": "csv"', endpoint, "}", ""),
            "evidence_sha256": pa.array([hashlib.sha256(b"%d" % i).hexdigest() for i in range(n)]),
            "connection_key": conns.key,
        }
    )


@dataclass
class Bench:
    """One fresh database for one variant, with the scan and input the events point at."""

    store: Store
    tmp: Path
    adbc_uri: str
    fixed: dict[str, Any]

    @property
    def dialect(self) -> str:
        return self.store.dialect


def full_table(
    events: pa.Table, fixed: dict[str, Any], dialect: str, types: dict[str, str]
) -> pa.Table:
    """Every ``EVENT_COLUMNS`` column as Arrow, typed as the database stores it: on SQLite
    times as SQLAlchemy's text form, on PostgreSQL integers of the columns' widths."""
    n = events.num_rows
    columns = {}
    for name in EVENT_COLUMNS:
        if name in fixed:
            value = fixed[name]
            kind = pa.int64() if isinstance(value, int) else pa.timestamp("us", tz="UTC")
            columns[name] = pa.array([value] * n, kind)
        else:
            columns[name] = events.column(name)
        column = columns[name]
        if pa.types.is_timestamp(column.type) and dialect == "sqlite":
            columns[name] = column.cast(pa.timestamp("us")).cast(pa.string())
        elif types.get(name) == "integer":
            columns[name] = column.cast(pa.int32())
    return pa.table(columns)


def peak_rss_reset() -> None:
    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (Linux)


def peak_rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def fresh(dialect: str, tmp: Path, k: int) -> Bench:
    if dialect == "sqlite":
        path = tmp / f"v{k}.db"
        url, adbc_uri = f"sqlite:///{path}", str(path)
    else:
        with make_engine(PG_URL).begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
            conn.exec_driver_sql(f"CREATE SCHEMA {SCHEMA}")
        url = f"{PG_URL}?options=-csearch_path%3D{SCHEMA}"
        adbc_uri = url.replace("postgresql+psycopg", "postgresql")
    store = open_store(url)
    with store.write() as conn:
        scan = conn.execute(
            insert(Scan).values(
                started_at=NOW, status="running", command="scan", counts={}, errors=[]
            )
        ).inserted_primary_key[0]
        values = dict(
            path="flows.csv", size=1, sha256="0" * 64, format="csv", scan_id=scan, read_at=NOW
        )
        input_id = conn.execute(insert(Input).values(**values)).inserted_primary_key[0]
    fixed = {"last_seen_at": None, "recorded_at": NOW, "input_id": input_id, "scan_id": scan}
    return Bench(store, tmp, adbc_uri, fixed)


def set_unique(b: Bench, mode: str) -> None:
    """The UNIQUE (source, connection_key) index as is, partial, or dropped. On SQLite it is a
    table constraint: the (empty) table is made again without it, its indexes with it."""
    if mode == "all":
        return
    with b.store.write() as conn:
        if b.dialect == "sqlite":
            sql = conn.exec_driver_sql(
                "SELECT type, sql FROM sqlite_master WHERE tbl_name = 'events' AND sql IS NOT NULL"
            ).all()
            table = next(s for t, s in sql if t == "table")
            without = re.sub(
                rf",\s*CONSTRAINT {UNIQUE} UNIQUE \(source, connection_key\)", "", table
            )
            assert without != table, table
            conn.exec_driver_sql("DROP TABLE events")
            conn.exec_driver_sql(without)
            for kind, statement in sql:
                if kind == "index":
                    conn.exec_driver_sql(statement)
        else:
            conn.exec_driver_sql(f"ALTER TABLE events DROP CONSTRAINT {UNIQUE}")
        if mode == "partial":
            conn.exec_driver_sql(
                f"CREATE UNIQUE INDEX {UNIQUE} ON events (source, connection_key) "
                "WHERE connection_key IS NOT NULL"
            )


def batches(table: pa.Table) -> Iterator[pa.Table]:
    for start in range(0, table.num_rows, BATCH):
        yield table.slice(start, BATCH)


def tuples(b: Bench, events: pa.Table) -> list[list[tuple[Any, ...]]]:
    return [event_rows(t, b.dialect, fixed=b.fixed) for t in batches(events)]


def columns_sql(names: tuple[str, ...] | list[str]) -> str:
    return ", ".join(names)


def literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, dt.datetime):
        return f"'{value.astimezone(dt.UTC).strftime('%Y-%m-%d %H:%M:%S.%f')}'"
    return str(int(value))


# Each writer: (prepare from the Arrow table, untimed for "write rows/s"; write in one
# transaction). Returns a breakdown note.
Prep = Callable[[Bench, pa.Table], Any]
Write = Callable[[Bench, Any], str]


def today_write(b: Bench, rows: list[list[tuple[Any, ...]]]) -> str:
    with b.store.write() as conn:
        for chunk in rows:
            insert_event_rows(conn, chunk, fixed=b.fixed)
    return ""


def moved(conn: Connection, b: Bench, source: str, given: list[str]) -> float:
    """INSERT INTO events SELECT from a staging table (fixed columns as literals); seconds."""
    start = time.perf_counter()
    fixed = {name: literal(v) for name, v in b.fixed.items() if name not in given}
    names = [*given, *fixed]
    select = [*given, *fixed.values()]
    conn.exec_driver_sql(
        f"INSERT INTO events ({columns_sql(names)}) SELECT {columns_sql(select)} FROM {source}"
    )
    return time.perf_counter() - start


def sqlite_staged_write(b: Bench, rows: list[list[tuple[Any, ...]]]) -> str:
    given = [c for c in EVENT_COLUMNS if c not in b.fixed]
    with b.store.write() as conn:
        start = time.perf_counter()
        conn.exec_driver_sql(
            f"CREATE TEMP TABLE staging AS SELECT {columns_sql(given)} FROM events WHERE 0"
        )
        marks = ", ".join("?" * len(given))
        for chunk in rows:
            conn.exec_driver_sql(f"INSERT INTO staging VALUES ({marks})", chunk)
        stage = time.perf_counter() - start
        move = moved(conn, b, "staging", given)
        conn.exec_driver_sql("DROP TABLE staging")
    return f"stage {stage:.2f}s + move {move:.2f}s"


def sqlite_adbc_write(b: Bench, table: pa.Table) -> str:
    """ADBC cannot use SQLAlchemy's sqlite3 connection, and a second writer on the same file
    would wait for the input's write lock: it ingests into a scratch file, which the input's
    own transaction ATTACHes (ATTACH is refused inside a transaction: before BEGIN)."""
    import adbc_driver_sqlite.dbapi as adbc

    scratch = b.tmp / f"staging-{id(table)}.db"
    start = time.perf_counter()
    with adbc.connect(str(scratch)) as adbc_conn, adbc_conn.cursor() as cursor:
        cursor.adbc_ingest("staging", table, mode="create")
        adbc_conn.commit()
    stage = time.perf_counter() - start
    with b.store.engine.connect() as conn:
        conn.connection.driver_connection.execute(f"ATTACH DATABASE '{scratch}' AS scratch")  # type: ignore[union-attr]
        with conn.execution_options(sqlite_begin="BEGIN IMMEDIATE").begin():
            move = moved(conn, b, "scratch.staging", table.column_names)
        conn.connection.driver_connection.execute("DETACH DATABASE scratch")  # type: ignore[union-attr]
    scratch.unlink()
    return f"stage {stage:.2f}s + move {move:.2f}s"


def adbc_direct_write(b: Bench, table: pa.Table) -> str:
    """ADBC into events itself, in ADBC's own transaction (not the input's)."""
    if b.dialect == "sqlite":
        import adbc_driver_sqlite.dbapi as adbc
    else:
        import adbc_driver_postgresql.dbapi as adbc  # type: ignore[no-redef]
    with adbc.connect(b.adbc_uri) as adbc_conn, adbc_conn.cursor() as cursor:
        cursor.adbc_ingest("events", table, mode="append")
        adbc_conn.commit()
    return "own transaction"


def pg_adbc_staged_write(b: Bench, table: pa.Table) -> str:
    """ADBC COPYs into an UNLOGGED staging table (committed: ADBC has its own connection,
    so a TEMP table would be invisible), which the input's transaction moves and drops."""
    import adbc_driver_postgresql.dbapi as adbc

    start = time.perf_counter()
    with adbc.connect(b.adbc_uri) as adbc_conn, adbc_conn.cursor() as cursor:
        names = columns_sql(table.column_names)
        cursor.execute(f"CREATE UNLOGGED TABLE staging AS SELECT {names} FROM events WITH NO DATA")
        cursor.adbc_ingest("staging", table, mode="append")
        adbc_conn.commit()
    stage = time.perf_counter() - start
    with b.store.write() as conn:
        move = moved(conn, b, "staging", table.column_names)
        conn.exec_driver_sql("DROP TABLE staging")
    return f"stage {stage:.2f}s + move {move:.2f}s"


def pg_copy(conn: Connection, target: str, names: list[str], chunks: Any, binary: bool) -> None:
    driver = conn.connection.driver_connection
    assert driver is not None
    how = " WITH (FORMAT binary)" if binary else ""
    with (
        driver.cursor() as cursor,
        cursor.copy(f"COPY {target} ({columns_sql(names)}) FROM STDIN{how}") as copy,
    ):
        for chunk in chunks:
            if binary:
                copy.write(chunk)
            else:
                for row in chunk:
                    copy.write_row(row)


def pg_staged(b: Bench, chunks: Any, names: list[str], binary: bool) -> str:
    with b.store.write() as conn:
        start = time.perf_counter()
        conn.exec_driver_sql(
            f"CREATE TEMP TABLE staging ON COMMIT DROP AS SELECT {columns_sql(names)} FROM events WITH NO DATA"
        )
        pg_copy(conn, "staging", names, chunks, binary)
        stage = time.perf_counter() - start
        move = moved(conn, b, "staging", names)
    return f"stage {stage:.2f}s + move {move:.2f}s"


def given_names(b: Bench) -> list[str]:
    return [c for c in EVENT_COLUMNS if c not in b.fixed]


_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01, PostgreSQL's binary time origin
_FIXED = {"int32": ">i4", "int64": ">i8", "double": ">f8"}


def pgcopy_binary(table: pa.Table, header: bool, trailer: bool) -> bytes:
    """Rows of an Arrow table in PostgreSQL's binary COPY format, built column by column with
    numpy (no Python work per value). Strings go as text, json included (json's binary form
    is its text); timestamps as microseconds since 2000."""
    n, width = table.num_rows, table.num_columns
    sizes = np.zeros((n, width), np.int64)
    columns = []
    for j, column in enumerate(table.columns):
        array = column.combine_chunks()
        valid = np.asarray(array.is_valid(), dtype=bool)
        if pa.types.is_timestamp(array.type):
            array = pc.cast(array, pa.int64())
            values = np.asarray(pc.fill_null(array, 0), np.int64) - _PG_EPOCH_US
            data = values.astype(">i8").view(np.uint8).reshape(n, 8)
        elif str(array.type) in _FIXED:
            values = np.asarray(pc.fill_null(array, 0).to_numpy(zero_copy_only=False))
            data = values.astype(_FIXED[str(array.type)]).view(np.uint8).reshape(n, -1)
        else:
            array = array.cast(pa.large_string())
            offsets = np.frombuffer(array.buffers()[1], np.int64)[
                array.offset : array.offset + n + 1
            ]
            data = (offsets, np.frombuffer(array.buffers()[2] or b"", np.uint8))
        lengths = (
            np.diff(data[0]) if isinstance(data, tuple) else np.full(n, data.shape[1])
        ) * valid
        sizes[:, j] = 4 + lengths
        columns.append((valid, lengths, data))
    row_start = np.cumsum(2 + sizes.sum(1)) - (2 + sizes.sum(1)) + (19 if header else 0)
    field = row_start[:, None] + 2 + np.cumsum(sizes, 1) - sizes
    out = np.zeros(int(row_start[-1] + 2 + sizes[-1].sum()) + (2 if trailer else 0), np.uint8)
    if header:
        out[:19] = np.frombuffer(b"PGCOPY\n\xff\r\n\x00" + bytes(8), np.uint8)
    out[row_start + 1] = width  # int16 field count, big-endian (< 256 columns)
    for j, (valid, lengths, data) in enumerate(columns):
        head = np.where(valid, lengths, -1).astype(">i4").view(np.uint8).reshape(n, 4)
        for k in range(4):
            out[field[:, j] + k] = head[:, k]
        if isinstance(data, tuple):
            offsets, blob = data
            total = int(lengths.sum())
            within = np.arange(total) - np.repeat(np.cumsum(lengths) - lengths, lengths)
            dest = np.repeat(field[:, j] + 4, lengths) + within
            out[dest] = blob[np.repeat(offsets[:-1], lengths) + within]
        else:
            rows = np.flatnonzero(valid)
            for k in range(data.shape[1]):
                out[field[rows, j] + 4 + k] = data[rows, k]
    if trailer:
        out[-2:] = 255
    return out.tobytes()


def binary_chunks(table: pa.Table) -> list[bytes]:
    parts = list(batches(table))
    return [pgcopy_binary(t, i == 0, i == len(parts) - 1) for i, t in enumerate(parts)]


def pg_binary_direct(b: Bench, chunks: list[bytes]) -> str:
    with b.store.write() as conn:
        pg_copy(conn, "events", list(EVENT_COLUMNS), chunks, binary=True)  # full_table's order
    return ""


@dataclass
class Variant:
    name: str
    dialect: str
    unique: str
    prep: Prep
    write: Write
    needs: str = ""


def arrow(b: Bench, events: pa.Table, *, staged: bool = False) -> pa.Table:
    table = full_table(events, b.fixed, b.dialect, pg_types(b))
    return table.drop_columns(list(b.fixed)) if staged else table


def pg_types(b: Bench) -> dict[str, str]:
    if b.dialect != "postgresql":
        return {}
    with b.store.engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = 'events'"
            )
        )
        return {name: kind for name, kind in rows}


def pg_fixed_tuples(b: Bench, events: pa.Table) -> list[list[tuple[Any, ...]]]:
    tail = tuple(b.fixed.values())
    return [[row + tail for row in chunk] for chunk in tuples(b, events)]


VARIANTS = [
    Variant("1 today: insert_event_rows", "sqlite", "all", tuples, today_write),
    Variant("2a partial unique index", "sqlite", "partial", tuples, today_write),
    Variant("2b no unique index", "sqlite", "none", tuples, today_write),
    Variant("3 TEMP staging + INSERT SELECT", "sqlite", "all", tuples, sqlite_staged_write),
    Variant("4 ADBC → scratch file + INSERT SELECT", "sqlite", "all", arrow, sqlite_adbc_write, "adbc_driver_sqlite"),
    Variant("4' ADBC → events (own txn)", "sqlite", "all", arrow, adbc_direct_write, "adbc_driver_sqlite"),
    Variant("1 today: insert_event_rows (COPY text)", "postgresql", "all", tuples, today_write),
    Variant("2a partial unique index", "postgresql", "partial", tuples, today_write),
    Variant("2b no unique index", "postgresql", "none", tuples, today_write),
    Variant("5a COPY write_row → TEMP staging + INSERT SELECT", "postgresql", "all", pg_fixed_tuples,
            lambda b, rows: pg_staged(b, rows, given_names(b) + list(b.fixed), binary=False)),
    Variant("5b COPY BINARY from Arrow → events", "postgresql", "all",
            lambda b, e: binary_chunks(arrow(b, e)), pg_binary_direct),
    Variant("5c COPY BINARY → TEMP staging + INSERT SELECT", "postgresql", "all",
            lambda b, e: binary_chunks(arrow(b, e, staged=True)),
            lambda b, chunks: pg_staged(b, chunks, given_names(b), binary=True)),
    Variant("5d ADBC → events (own txn)", "postgresql", "all", arrow, adbc_direct_write, "adbc_driver_postgresql"),
    Variant("5e ADBC → UNLOGGED staging + INSERT SELECT", "postgresql", "all",
            lambda b, e: arrow(b, e, staged=True), pg_adbc_staged_write, "adbc_driver_postgresql"),
]  # fmt: skip


def digest(b: Bench) -> tuple[int, str]:
    """Row count and a digest of every stored event (all columns but id, in id order)."""
    names = [c for c in EVENT_COLUMNS if c not in ("input_id", "scan_id")]
    hasher = hashlib.sha256()
    with b.store.engine.connect() as conn:
        count = conn.scalar(text("SELECT count(*) FROM events"))
        rows = conn.exec_driver_sql(f"SELECT {columns_sql(names)} FROM events ORDER BY id")
        while chunk := rows.fetchmany(50_000):
            hasher.update(repr([tuple(r) for r in chunk]).encode())
    return int(count or 0), hasher.hexdigest()[:12]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=300_000, help="event rows (default 300,000)")
    parser.add_argument("--only", choices=["sqlite", "postgresql"], help="one database only")
    args = parser.parse_args(argv)
    events = pipeline_events(args.n)
    nulls = events.column("connection_key").null_count
    print(
        f"{args.n:,} event rows, {nulls} with a NULL connection_key; baseline RSS {peak_rss_mib():.0f} MiB"
    )
    header = f"{'variant':<50} {'db':<10} {'write r/s':>10} {'Arrow→stored r/s':>17} {'× v1':>6} {'peak RSS':>9}  check / breakdown"
    print(header)
    print("-" * len(header))
    first: dict[str, tuple[float, str]] = {}
    with tempfile.TemporaryDirectory(prefix="store-floor-") as tmp:
        try:
            for k, v in enumerate(VARIANTS):
                if args.only and v.dialect != args.only:
                    continue
                if v.needs and not _importable(v.needs):
                    print(f"{v.name:<50} {v.dialect:<10} skipped: {v.needs} not installed")
                    continue
                b = fresh(v.dialect, Path(tmp), k)
                set_unique(b, v.unique)
                peak_rss_reset()
                start = time.perf_counter()
                data = v.prep(b, events)
                ready = time.perf_counter()
                note = v.write(b, data)
                end = time.perf_counter()
                peak = peak_rss_mib()
                del data
                count, fingerprint = digest(b)
                b.store.close()
                total = args.n / (end - start)
                base, same = first.setdefault(v.dialect, (total, fingerprint))
                ok = (
                    "ok"
                    if count == args.n and fingerprint == same
                    else f"BAD: {count:,} rows, {fingerprint}"
                )
                print(
                    f"{v.name:<50} {v.dialect:<10} {args.n / (end - ready):>10,.0f} {total:>17,.0f} {total / base:>6.2f} {peak:>6.0f} MiB  {ok} {note}",
                    flush=True,
                )
        finally:
            if not args.only or args.only == "postgresql":
                with make_engine(PG_URL).begin() as conn:
                    conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    return 0


def _importable(module: str) -> bool:
    try:
        __import__(module)
    except ImportError:
        return False
    return True


if __name__ == "__main__":
    sys.exit(main())
