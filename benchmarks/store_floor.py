"""How fast event rows can be stored, per write path, on SQLite and PostgreSQL.

Issue 16. N event rows as the flow pipeline builds them (its Arrow table, keys by its
``Connections.of``) go per variant, in one transaction, into a fresh database migrated by
``open_store`` (PostgreSQL: schema ``floor_<pid>``, dropped at the end), its events indexes as
the variant says (``0008``: the UNIQUE (source, connection_key) over every event, as before
migration 0009; ``head``: 0009's, the key unique among live peers only; ``bare``: only the
primary key), then are counted and digested (= variant 1's). Shown: rows/s written, rows/s
from Arrow to committed (what counts), × v1 of that, peak RSS. Variant 5d needs
``adbc-driver-postgresql`` (not chainwatch's). Usage: ``python benchmarks/store_floor.py
[-n 300000] [-r 3] [--only sqlite|postgresql]``

Groundwork (before 0009, 300,000 rows, best of 3; 2 shared cores, ±30% run to run), Arrow→
stored vs today: SQLite no unique index 1.84×, ADBC scratch + INSERT SELECT 1.95× (3.10×
without the unique index); PostgreSQL no unique index 1.06×, binary COPY 1.09× (1.45× without
it), ADBC (own transaction) 1.36×. No event has a NULL connection_key, so a partial index WHERE
connection_key IS NOT NULL costs what the full one does: 0009 keys it on last_seen_at IS NOT
NULL (only node peers set it); pairing's look-up uses (source, observed_at) instead.

Built (``store/writes.py`` EventWriter), 300,000 rows, best of 3, same run, Arrow→committed:
SQLite  today (0008, executemany) 68,191 | 0009 indexes 89,353 (1.31×) | bare table 143,511
(2.10×) | TEMP staging 124,041 (1.82×) | ADBC scratch 184,769 (2.71×) | EventWriter 207,869
(3.05×; the move, INSERT SELECT, 0.61 s: the floor is index upkeep).
PostgreSQL today (0008, COPY write_row) 32,372 | 0009 indexes 46,577 (1.44×) | bare table
59,973 (1.85×) | binary COPY, numpy 47,649 (1.47×) | ADBC own txn 46,054 (1.42×) | EventWriter
45,670 (1.41×; 45-54k over runs). The server is the floor: it writes 60k rows/s with 0009's
indexes, 85k into the bare table; encoding (Arrow kernels, ~1 s per 300k rows) runs in a thread
beside the COPY. EventWriter picks: SQLite, ADBC into a scratch file attached before the
transaction, moved by INSERT SELECT in it (store/scratch.py: DEFERRED BEGIN + a write-lock
statement, as IMMEDIATE would lock the scratch files too; a file read once per transaction);
PostgreSQL, binary COPY on the input's own connection (store/pgcopy.py). Both one transaction.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import importlib.util
import os
import re
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection, insert

from chainwatch.flows.connection_keys import Connections
from chainwatch.store.db import Store, make_engine, open_store
from chainwatch.store.models import Input, Scan
from chainwatch.store.writes import EVENT_COLUMNS, EventWriter, event_rows, insert_event_rows

PG_URL = os.environ.get("CHAINWATCH_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SCHEMA = f"floor_{os.getpid()}"
BATCH = 65_536  # rows per insert call or COPY chunk: the pipeline writes batch by batch
NOW = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
UNIQUE = "uq_events_source_connection_key"
LIVE = "uq_events_live_connection"


def pipeline_events(n: int, seed: int = 7) -> pa.Table:
    """N classified NetFlow records (no Zeek uid) as ``InputPipeline.prepare`` makes events."""
    rng = np.random.default_rng(seed)
    seconds = np.sort(1557100800 + rng.integers(0, 86_400, n))  # 2019-05-06, earliest first
    digits = lambda lo, hi: pa.array(rng.integers(lo, hi, n).astype(str))  # noqa: E731
    kind = rng.integers(0, 3, n)  # pool, bitcoin p2p, monero p2p
    pool, category = kind == 0, np.choose(kind, ["xmr-pool", "btc-p2p", "xmr-p2p"])
    lip, rnet = pc.binary_join_element_wise("175.45.176", digits(1, 255), "."), pa.array(np.where(pool, "203.0.113", "198.51.100"))  # fmt: skip
    rip = pc.binary_join_element_wise(rnet, pc.if_else(pa.array(pool), "10", digits(1, 255)), ".")
    lport, rport, proto = pa.array(rng.integers(1024, 65536, n)), pa.array(np.choose(kind, [3333, 8333, 18080])), pa.array(["tcp"] * n)  # fmt: skip
    conns = Connections.of(proto, lip, lport, rip, rport, pa.nulls(n, pa.string()), seconds)
    endpoint = pa.array(np.where(pool, ', "endpoint": "bench-pool"', ""))
    table = pa.table({
        "observed_at": pa.array(seconds * 1_000_000, pa.timestamp("us", tz="UTC")),
        "watchlist": pa.array(["kp"] * n), "matched_cidr": pa.array(["175.45.176.0/22"] * n),
        "local_ip": lip, "local_port": lport, "remote_ip": rip, "remote_port": rport, "proto": proto,
        "direction": pa.array(np.where(rng.random(n) < 0.9, "outbound", "inbound")),
        "category": pa.array(category), "coin": pa.array(np.char.partition(category.astype(str), "-")[:, 0]),
        "detector": pa.array(np.where(pool, "endpoint", "port")), "confidence": pa.array(np.where(pool, 0.9, 0.5)),
        "source": pa.array(["bench"] * n), "source_ref": pc.binary_join_element_wise("flows.csv", digits(2, 10**7), ":"),
        "bytes": pa.array(rng.integers(40, 10**7, n)), "packets": pa.array(rng.integers(1, 10**4, n)),
        "detail": pc.binary_join_element_wise('{"format": "csv"', endpoint, "}", ""),
        "evidence_sha256": pa.array([hashlib.sha256(b"%d" % i).hexdigest() for i in range(n)]),
        "connection_key": conns.key,
    })  # fmt: skip
    _, first = np.unique(conns.key.to_numpy(zero_copy_only=False), return_index=True)
    return table.take(np.sort(first))  # a key that repeats (rare) is one event, as paired


@dataclass
class Bench:
    dialect: str
    store: Store
    tmp: Path
    adbc_uri: str
    fixed: dict[str, Any]  # columns the same for all of an input's events, as the pipeline's

    def given(self) -> list[str]:
        return [c for c in EVENT_COLUMNS if c not in self.fixed]


def fresh(dialect: str, tmp: Path, k: int) -> Bench:
    if dialect == "sqlite":
        adbc_uri = str(tmp / f"v{k}.db")
        url = f"sqlite:///{adbc_uri}"
    else:
        with make_engine(PG_URL).begin() as conn:
            conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE; CREATE SCHEMA {SCHEMA}")
        url = f"{PG_URL}?options=-csearch_path%3D{SCHEMA}"
        adbc_uri = url.replace("postgresql+psycopg", "postgresql")
    store = open_store(url)
    with store.write() as conn:
        scan = conn.execute(insert(Scan).values(started_at=NOW, status="running", command="scan", counts={})).inserted_primary_key[0]  # fmt: skip
        input_id = conn.execute(insert(Input).values(path="f", size=1, sha256="0" * 64, format="csv", read_at=NOW)).inserted_primary_key[0]  # fmt: skip
    fixed = {"last_seen_at": None, "recorded_at": NOW, "input_id": input_id, "scan_id": scan}
    return Bench(dialect, store, tmp, adbc_uri, fixed)


def set_indexes(b: Bench, mode: str) -> None:
    """The events indexes as migrated (``head``: 0009's partial unique index), as before 0009
    (``0008``: UNIQUE (source, connection_key) over every event), with neither (``none``) or
    with no index but the key (``bare``). On SQLite the old UNIQUE is a table constraint: the
    (empty) table is made again."""
    if mode == "head":
        return
    with b.store.write() as conn:
        sql = conn.exec_driver_sql
        sql(f"DROP INDEX {LIVE}")
        if mode == "0008" and b.dialect == "sqlite":
            schema = sql("SELECT type, sql FROM sqlite_master WHERE tbl_name = 'events'").all()
            table = next(s for t, s in schema if t == "table").rstrip().removesuffix(")")
            sql("DROP TABLE events")
            sql(f"{table}, CONSTRAINT {UNIQUE} UNIQUE (source, connection_key))")
            for statement in (s for t, s in schema if t == "index" and s):
                sql(statement)
        elif mode == "0008":
            sql(f"ALTER TABLE events ADD CONSTRAINT {UNIQUE} UNIQUE (source, connection_key)")
        if mode == "bare":
            for name in ("ix_events_input_id", "ix_events_observed_at", "ix_events_source", "ix_events_watchlist"):  # fmt: skip
                sql(f"DROP INDEX {name}")


def batches(table: pa.Table) -> list[pa.Table]:
    return [table.slice(start, BATCH) for start in range(0, table.num_rows, BATCH)]


def tuples(b: Bench, events: pa.Table) -> list[list[tuple[Any, ...]]]:
    return [event_rows(t, b.dialect, fixed=b.fixed) for t in batches(events)]


def arrow(b: Bench, events: pa.Table) -> pa.Table:
    """The pipeline's table typed as stored (SQLite: times as SQLAlchemy's text; PostgreSQL:
    int4 where it is), with the fixed columns."""
    n, columns = events.num_rows, {}
    for name in EVENT_COLUMNS:
        value = b.fixed.get(name)
        column = events.column(name) if name not in b.fixed else pa.array(
            [value] * n, pa.int64() if isinstance(value, int) else pa.timestamp("us", tz="UTC"))  # fmt: skip
        if pa.types.is_timestamp(column.type) and b.dialect == "sqlite":
            column = column.cast(pa.timestamp("us")).cast(pa.string())
        elif name.endswith("_port") and b.dialect == "postgresql":  # int4 columns
            column = column.cast(pa.int32())
        columns[name] = column
    return pa.table(columns)


def moved(conn: Connection, b: Bench, source: str, given: list[str]) -> float:
    """INSERT INTO events SELECT from a staging table (fixed columns as literals); seconds."""
    start = time.perf_counter()
    fixed = {  # as literals, as insert_event_rows writes them (NOW is UTC)
        name: f"'{v:%Y-%m-%d %H:%M:%S.%f}'" if isinstance(v, dt.datetime) else str(v or "NULL")
        for name, v in b.fixed.items()
        if name not in given
    }
    names, values = ", ".join([*given, *fixed]), ", ".join([*given, *fixed.values()])
    conn.exec_driver_sql(f"INSERT INTO events ({names}) SELECT {values} FROM {source}")
    return time.perf_counter() - start


def today(b: Bench, rows: list[list[tuple[Any, ...]]]) -> str:
    with b.store.write() as conn:
        for chunk in rows:
            insert_event_rows(conn, chunk, fixed=b.fixed)
    return ""


def sqlite_staged(b: Bench, rows: list[list[tuple[Any, ...]]]) -> str:
    given = b.given()
    with b.store.write() as conn:
        start = time.perf_counter()
        conn.exec_driver_sql(f"CREATE TEMP TABLE staging AS SELECT {', '.join(given)} FROM events WHERE 0")  # fmt: skip
        for chunk in rows:
            conn.exec_driver_sql(f"INSERT INTO staging VALUES ({', '.join('?' * len(given))})", chunk)  # fmt: skip
        note = f"stage {time.perf_counter() - start:.2f}s + move {moved(conn, b, 'staging', given):.2f}s"
        conn.exec_driver_sql("DROP TABLE staging")
    return note


def sqlite_adbc(b: Bench, table: pa.Table) -> str:
    """ADBC ingests into a scratch file, ATTACHed before the input's transaction (SQLite
    refuses ATTACH inside one), which moves the rows: see the findings above."""
    import adbc_driver_sqlite.dbapi as adbc

    scratch = b.tmp / "scratch.db"
    start = time.perf_counter()
    with adbc.connect(str(scratch)) as adbc_conn, adbc_conn.cursor() as cursor:
        cursor.adbc_ingest("staging", table, mode="replace")
        adbc_conn.commit()
    stage = time.perf_counter() - start
    with b.store.engine.connect() as conn:
        driver: Any = conn.connection.driver_connection
        driver.execute(f"ATTACH DATABASE '{scratch}' AS scratch")
        with conn.execution_options(sqlite_begin="BEGIN IMMEDIATE").begin():
            move = moved(conn, b, "scratch.staging", table.column_names)
        driver.execute("DETACH DATABASE scratch")
    return f"stage {stage:.2f}s + move {move:.2f}s"


def pg_adbc(b: Bench, table: pa.Table) -> str:
    """ADBC's own connection and transaction, into events (not the input's transaction)."""
    import adbc_driver_postgresql.dbapi as adbc

    with adbc.connect(b.adbc_uri) as adbc_conn, adbc_conn.cursor() as cursor:
        cursor.adbc_ingest("events", table, mode="append")
        adbc_conn.commit()
    return "own transaction"


def pg_copy(b: Bench, chunks: list[bytes], names: list[str]) -> str:
    """COPY binary chunks into events in the input's transaction."""
    with b.store.write() as conn:
        driver: Any = conn.connection.driver_connection
        with driver.cursor() as cur, cur.copy(f"COPY events ({', '.join(names)}) FROM STDIN WITH (FORMAT binary)") as copy:  # fmt: skip
            for chunk in chunks:
                copy.write(chunk)
    return ""


_PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01: the origin of PostgreSQL's binary times
_WIDTHS = {"int32": ">i4", "int64": ">i8", "double": ">f8"}


def pgcopy_binary(table: pa.Table, header: bool, trailer: bool) -> bytes:
    """An Arrow table as PostgreSQL's binary COPY rows, built column by column with numpy (no
    Python per value): per row an int16 field count, per field an int32 length (-1: NULL) and
    the bytes; strings as text (json's binary form is its text), times as µs since 2000."""
    n, width = table.num_rows, table.num_columns
    sizes, columns = np.zeros((n, width), np.int64), []
    for j, column in enumerate(table.columns):
        array = column.combine_chunks()
        valid = np.asarray(array.is_valid(), dtype=bool)
        if pa.types.is_timestamp(array.type) or str(array.type) in _WIDTHS:
            shift = _PG_EPOCH_US if pa.types.is_timestamp(array.type) else 0
            values = pc.fill_null(array.cast(pa.int64()) if shift else array, 0).to_numpy()
            blob = (values - shift).astype(_WIDTHS.get(str(array.type), ">i8")).view(np.uint8)
            offsets = np.arange(n + 1) * (len(blob) // n)  # fixed width, big-endian
        else:
            array = array.cast(pa.large_string())
            offsets = np.frombuffer(array.buffers()[1], np.int64)[array.offset : array.offset + n + 1]  # fmt: skip
            blob = np.frombuffer(array.buffers()[2] or b"", np.uint8)
        lengths = np.diff(offsets) * valid
        sizes[:, j] = 4 + lengths
        columns.append((valid, lengths, offsets, blob))
    row_size = 2 + sizes.sum(1)
    row_start = np.cumsum(row_size) - row_size + (19 if header else 0)
    field = row_start[:, None] + 2 + np.cumsum(sizes, 1) - sizes
    out = np.zeros(int(row_start[-1] + row_size[-1]) + (2 if trailer else 0), np.uint8)
    if header:
        out[:19] = np.frombuffer(b"PGCOPY\n\xff\r\n\x00" + bytes(8), np.uint8)
    out[row_start + 1] = width  # big-endian int16, fewer than 256 columns
    for j, (valid, lengths, offsets, blob) in enumerate(columns):
        head = np.where(valid, lengths, -1).astype(">i4").view(np.uint8).reshape(n, 4)
        for k in range(4):
            out[field[:, j] + k] = head[:, k]
        # each value's bytes to its field: one gather and one scatter per column
        within = np.arange(lengths.sum()) - np.repeat(np.cumsum(lengths) - lengths, lengths)
        out[np.repeat(field[:, j] + 4, lengths) + within] = blob[np.repeat(offsets[:-1], lengths) + within]  # fmt: skip
    if trailer:
        out[-2:] = 255
    return out.tobytes()


def binary(b: Bench, events: pa.Table) -> list[bytes]:
    parts = list(batches(arrow(b, events)))
    return [pgcopy_binary(t, i == 0, i == len(parts) - 1) for i, t in enumerate(parts)]


def event_writer(b: Bench, parts: list[pa.Table]) -> str:
    """``chainwatch.store.writes.EventWriter``: what the ingest path uses, Arrow to committed."""
    with b.store.write() as conn:
        writer = EventWriter(conn)
        for part in parts:
            writer.add(part, b.fixed)
        start = time.perf_counter()
        writer.flush()
        flush = time.perf_counter() - start
    return f"flush {flush:.2f}s" if b.dialect == "sqlite" else ""


#: (name, database, indexes, prep from the Arrow table, write in one transaction, needs)
SQ, PG, ADBC_SQ, ADBC_PG = "sqlite", "postgresql", "adbc_driver_sqlite", "adbc_driver_postgresql"
VARIANTS: list[tuple[Any, ...]] = [
    ("1 today: insert_event_rows (executemany), 0008", SQ, "0008", tuples, today, ""),
    ("2 insert_event_rows, 0009 indexes", SQ, "head", tuples, today, ""),
    ("2c no index but the key (floor of the table)", SQ, "bare", tuples, today, ""),
    ("3 TEMP staging + INSERT SELECT", SQ, "head", tuples, sqlite_staged, ""),
    ("4 ADBC → scratch file, ATTACH + INSERT SELECT", SQ, "head", arrow, sqlite_adbc, ADBC_SQ),
    ("6 EventWriter (ADBC scratch), 0009", SQ, "head", lambda b, e: batches(e), event_writer, ADBC_SQ),
    ("1 today: insert_event_rows (COPY write_row), 0008", PG, "0008", tuples, today, ""),
    ("2 insert_event_rows, 0009 indexes", PG, "head", tuples, today, ""),
    ("2c no index but the key (floor of the table)", PG, "bare", tuples, today, ""),
    ("5b COPY BINARY (numpy) from Arrow → events", PG, "head", binary,
        lambda b, chunks: pg_copy(b, chunks, list(EVENT_COLUMNS)), ""),
    ("5d ADBC → events (own txn)", PG, "head", arrow, pg_adbc, ADBC_PG),
    ("6 EventWriter (COPY BINARY, Arrow kernels), 0009", PG, "head", lambda b, e: batches(e), event_writer, ""),
]  # fmt: skip


def digest(b: Bench) -> tuple[int, str]:
    """Row count and a digest of every stored event (all columns but id, in id order)."""
    hasher, count = hashlib.sha256(), 0
    with b.store.engine.connect() as conn:
        rows = conn.exec_driver_sql(f"SELECT {', '.join(EVENT_COLUMNS)} FROM events ORDER BY id")
        while chunk := rows.fetchmany(50_000):
            count += len(chunk)
            hasher.update(repr([tuple(r) for r in chunk]).encode())
    return count, hasher.hexdigest()[:12]


def memory(field: str) -> float:  # VmHWM: peak RSS, VmRSS: now; in MiB
    return int(re.findall(rf"{field}:\s+(\d+)", Path("/proc/self/status").read_text())[0]) / 1024


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", type=int, default=300_000, help="event rows (default 300,000)")
    parser.add_argument("--only", choices=[SQ, PG], help="one database only")
    parser.add_argument("-r", "--repeat", type=int, default=1, help="runs per variant (best)")
    args = parser.parse_args(argv)
    events = pipeline_events(args.n)
    n = events.num_rows
    print(f"{n:,} event rows ({events.column('connection_key').null_count} with a NULL connection_key), "
          f"RSS {memory('VmRSS'):.0f} MiB, best of {args.repeat}")  # fmt: skip
    print(f"{'variant':<50} {'db':<10} {'write r/s':>9} {'Arrow→stored':>12} {'× v1':>5} {'peak RSS':>9}  check, breakdown")  # fmt: skip
    first: dict[str, tuple[float, str]] = {}
    with tempfile.TemporaryDirectory(prefix="store-floor-") as tmp:
        try:
            for k, (name, dialect, indexes, prep, write, needs) in enumerate(VARIANTS):
                if args.only and dialect != args.only:
                    continue
                if needs and importlib.util.find_spec(needs) is None:
                    print(f"{name:<50} {dialect:<10} skipped: {needs} is not installed")
                    continue
                runs = []
                for r in range(args.repeat):  # the best of several: the machine is shared
                    b = fresh(dialect, Path(tmp), k * 100 + r)
                    set_indexes(b, indexes)
                    Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM (Linux)
                    start = time.perf_counter()
                    data = prep(b, events)
                    ready = time.perf_counter()
                    note = write(b, data)
                    end, peak = time.perf_counter(), memory("VmHWM")
                    del data
                    runs.append((n / (end - start), n / (end - ready), peak, note, *digest(b)))  # fmt: skip
                    b.store.close()
                total, alone, peak, note, _, _ = max(runs)
                base, same = first.setdefault(dialect, (total, runs[0][-1]))
                bad = [f"BAD {c:,} {f}" for *_, c, f in runs if (c, f) != (n, same)]
                print(f"{name:<50} {dialect:<10} {alone:>9,.0f} {total:>12,.0f} {total / base:>5.2f} "
                      f"{peak:>5.0f} MiB  {' '.join(bad) or 'ok'}, {note}", flush=True)  # fmt: skip
        finally:
            if args.only != SQ:
                with make_engine(PG_URL).begin() as conn:
                    conn.exec_driver_sql(f"DROP SCHEMA IF EXISTS {SCHEMA} CASCADE")
    return 0


if __name__ == "__main__":
    sys.exit(main())
