"""Concurrent writers through the command line: separate ``chainwatch scan`` processes on one
database, each input stored once, a connection's two directions paired once whatever process
reads them, and writers that wait for each other's locks instead of failing.

The flow files are generic CSV as a collector exports them: each connection is two records
(the watched side's and the remote side's), a few seconds apart, sometimes across a minute
boundary (adjacent pairing windows), and the second record of the last connections of a file
is in the next file, as when a collector rotates its file between them.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from chainwatch.store import db
from chainwatch.store.db import open_store
from chainwatch.store.scans import start_scan
from tests.conftest import PgDatabases

T0 = dt.datetime(2019, 5, 6, tzinfo=dt.UTC)
HEADER = "ts,src_ip,dst_ip,src_port,dst_port,proto,bytes,packets\n"
FILES = 10
CONNECTIONS = 40  # per file
SPLIT_FROM = 36  # connections from here on have their second record in the next file


@dataclass(frozen=True)
class Flow:
    ts: dt.datetime
    src: str
    dst: str
    sport: int
    dport: int
    size: int

    def line(self) -> str:
        stamp = self.ts.strftime("%Y-%m-%dT%H:%M:%SZ")
        return f"{stamp},{self.src},{self.dst},{self.sport},{self.dport},tcp,{self.size},3\n"


def connection(hour: int, j: int) -> tuple[Flow, Flow]:
    """The two records of connection ``j`` of ``hour``: the watched host's, then the reply
    ``delay`` seconds later (5..44 s: some cross into the next minute's pairing window)."""
    start = T0 + dt.timedelta(hours=hour, seconds=j * 80 + 17)
    delay = 5 + (j * 7) % 40
    local, remote = f"175.45.176.{1 + j % 50}", f"198.51.100.{1 + j % 200}"
    lport, rport = 20000 + hour * 100 + j, 443 if j % 3 == 2 else 8333
    out = Flow(start, local, remote, lport, rport, 400 + j)
    back = Flow(start + dt.timedelta(seconds=delay), remote, local, rport, lport, 1200 + j)
    return out, back


def classified_connections() -> set[tuple[str, int, str, int]]:
    """Every connection of the files that the port rules classify (8333: btc-p2p)."""
    found = set()
    for hour in range(FILES):
        for j in range(CONNECTIONS):
            out, _ = connection(hour, j)
            if out.dport == 8333:
                found.add((out.src, out.sport, out.dst, out.dport))
    return found


ZEEK_FIELDS = [
    "ts",
    "uid",
    "id.orig_h",
    "id.orig_p",
    "id.resp_h",
    "id.resp_p",
    "proto",
    "duration",
    "orig_bytes",
    "resp_bytes",
    "orig_pkts",
    "resp_pkts",
]
ZEEK_TYPES = [
    "time",
    "string",
    "addr",
    "port",
    "addr",
    "port",
    "enum",
    "interval",
    "count",
    "count",
    "count",
    "count",
]


def write_zeek_files(directory: Path) -> list[Path]:
    """Zeek conn logs of the same ten hours as ``write_files``, of other connections (other
    watched hosts, other remotes) classified into the same categories (8333: btc-p2p, 18080:
    xmr-p2p, 443: watched only), so their rollup rows are the CSV files' rollup rows."""
    directory.mkdir()
    header = "#separator \\x09\n#path\tconn\n"
    header += "#fields\t" + "\t".join(ZEEK_FIELDS) + "\n#types\t" + "\t".join(ZEEK_TYPES) + "\n"
    paths = []
    for hour in range(FILES):
        lines = [header]
        for j in range(CONNECTIONS):
            ts = (T0 + dt.timedelta(hours=hour, seconds=j * 85 + 29)).timestamp()
            local, remote = f"175.45.177.{1 + j % 60}", f"203.0.113.{1 + j % 100}"
            port = (8333, 18080, 443)[j % 3]
            fields = (f"{ts:.6f}", f"C{hour}x{j}", local, 40000 + j, remote, port, "tcp")
            lines.append("\t".join(map(str, (*fields, "1.5", 300 + j, 900, 4, 5))) + "\n")
        path = directory / f"conn-{hour:02d}.log"
        path.write_text("".join(lines) + "#close\t2019-05-07-00-00-00\n")
        paths.append(path)
    return paths


def write_files(directory: Path) -> list[Path]:
    """The ten hourly files, each with an unwatched line, in hour order."""
    directory.mkdir()
    paths = []
    for hour in range(FILES):
        lines: list[Flow] = []
        if hour > 0:  # the replies the previous file's rotation cut off
            lines += [connection(hour - 1, j)[1] for j in range(SPLIT_FROM, CONNECTIONS)]
        for j in range(CONNECTIONS):
            out, back = connection(hour, j)
            lines.append(out)
            if j < SPLIT_FROM or hour == FILES - 1:
                lines.append(back)
        noise = Flow(T0 + dt.timedelta(hours=hour), "192.0.2.7", "198.51.100.9", 5000, 8333, 99)
        lines.append(noise)
        path = directory / f"flows-{hour:02d}.csv"
        path.write_text(HEADER + "".join(f.line() for f in sorted(lines, key=lambda f: f.ts)))
        paths.append(path)
    return paths


@pytest.fixture
def watchlists(tmp_path: Path) -> Path:
    directory = tmp_path / "watchlists"
    directory.mkdir()
    (directory / "kp.toml").write_text('[[ranges]]\ncidr = "175.45.176.0/22"\n')
    return directory


def environment(db_url: str, watchlists: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINWATCH_")}
    env |= {
        "CHAINWATCH_DB": db_url,
        "CHAINWATCH_WATCHLISTS": str(watchlists),
        "CHAINWATCH_RESOLVE_HOSTS": "0",
    }
    return env


@dataclass
class Run:
    process: subprocess.Popen[bytes]
    stderr: Path
    stdout: Path

    def errors(self) -> str:
        return self.stderr.read_text()

    def scan_id(self) -> int:
        """The scan's id, from its summary line (``scan N ok: ...``)."""
        found = re.search(r"^scan (\d+) ", self.stdout.read_text(), re.MULTILINE)
        assert found is not None, self.errors()
        return int(found.group(1))


def spawn(db_url: str, watchlists: Path, work: Path, *args: str) -> Run:
    """``chainwatch ARGS`` as a separate process, its output in files (to watch it live)."""
    work.mkdir(parents=True, exist_ok=True)
    stamp = time.monotonic_ns()
    stderr, stdout = work / f"stderr-{stamp}.txt", work / f"stdout-{stamp}.txt"
    with stderr.open("wb") as errors, stdout.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "chainwatch", *args],
            cwd=work,
            env=environment(db_url, watchlists),
            stdout=output,
            stderr=errors,
        )
    return Run(process, stderr, stdout)


def finish(runs: Sequence[Run], timeout: float = 120) -> list[int]:
    deadline = time.monotonic() + timeout
    return [r.process.wait(max(deadline - time.monotonic(), 1)) for r in runs]


def other_database(db_url: str, tmp_path: Path, pg_databases: PgDatabases) -> str:
    """A second fresh database on the same backend, for a reference run."""
    if db_url.startswith("sqlite"):
        return f"sqlite:///{tmp_path / 'reference.db'}"
    return pg_databases.new()


def stored(db_url: str) -> dict[str, Any]:
    """What the scans stored, without what differs by who read it (paths, ids, times of
    storing, and which of a connection's two records stands for it)."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            events = Counter(
                tuple(row)
                for row in conn.execute(
                    text(
                        "SELECT local_ip, local_port, remote_ip, remote_port, category FROM events"
                    )
                )
            )
            rollups = sorted(
                tuple(row)
                for row in conn.execute(
                    text(
                        "SELECT hour, watchlist, category, records, bytes, packets, events "
                        "FROM rollups"
                    )
                )
            )
            addresses = sorted(
                tuple(row)
                for row in conn.execute(
                    text("SELECT hour, watchlist, category, local_ip FROM rollup_addresses")
                )
            )
            inputs = sorted(
                tuple(row)
                for row in conn.execute(text("SELECT sha256, records, watched, bad FROM inputs"))
            )
    finally:
        engine.dispose()
    return {"events": events, "rollups": rollups, "addresses": addresses, "inputs": inputs}


def reference_scans(reference_url: str, watchlists: Path, tmp_path: Path) -> list[Run]:
    """The one-process reference: the CSV files, then the Zeek logs, one scan after the
    other (each finished before the next starts)."""
    references = []
    for name in ("csv", "zeek"):
        references.append(
            spawn(
                reference_url,
                watchlists,
                tmp_path / f"ref-{name}",
                "scan",
                "--flows",
                str(tmp_path / name),
            )
        )
        finish(references[-1:])
    return references


def assert_clean(runs: Sequence[Run], codes: Sequence[int]) -> None:
    for run, code in zip(runs, codes, strict=True):
        errors = run.errors()
        assert code == 0, errors
        for word in ("internal error", "Traceback", "IntegrityError", "database is locked"):
            assert word not in errors, errors
        assert "deadlock" not in errors.lower(), errors


def test_concurrent_scans_of_overlapping_inputs_store_each_input_once(
    db_url: str, tmp_path: Path, watchlists: Path, pg_databases: PgDatabases
) -> None:
    files = write_files(tmp_path / "all")
    migrated(db_url)
    runs = []
    # Eight scans on PostgreSQL, four on SQLite (where writers take turns, one at a time):
    # each file is in several scans' inputs, and every other scan reads newest first.
    scans = 8 if db_url.startswith("postgresql") else 4
    for k in range(scans):
        directory = tmp_path / f"scan{k}"
        directory.mkdir()
        for m in range(5):
            order = m if k % 2 == 0 else 4 - m
            file = files[(k * FILES // scans + m) % FILES]
            shutil.copy(file, directory / f"{order}-{file.name}")
        runs.append(
            spawn(db_url, watchlists, tmp_path / f"work{k}", "scan", "--flows", str(directory))
        )
    codes = finish(runs)
    reference_url = other_database(db_url, tmp_path, pg_databases)
    reference = spawn(
        reference_url, watchlists, tmp_path / "ref", "scan", "--flows", str(tmp_path / "all")
    )
    assert_clean([*runs, reference], codes + finish([reference]))

    got, want = stored(db_url), stored(reference_url)
    expected = {(*c, "btc-p2p"): 1 for c in classified_connections()}
    assert want["events"] == expected  # the one-process scan: one event per connection
    assert got["events"] == expected
    assert len(got["inputs"]) == FILES
    assert got == want
    skipped = "".join(r.errors() for r in runs)
    assert "already read" in skipped or "being read by scan" in skipped


@pytest.mark.slow
def test_concurrent_scans_of_disjoint_inputs_of_two_formats_total_one_scan(
    db_url: str, tmp_path: Path, watchlists: Path, pg_databases: PgDatabases
) -> None:
    """Eight scans on PostgreSQL: four of disjoint CSV files (every fourth hour, oldest or
    newest first), four of overlapping windows of Zeek logs of the same hours; on SQLite two,
    all the CSV files and all the Zeek logs, which must take turns (wait, not fail). Each
    pair of formats upserts the same hourly rollup rows at once, in differing orders."""
    csv, zeek = write_files(tmp_path / "csv"), write_zeek_files(tmp_path / "zeek")
    migrated(db_url)
    if db_url.startswith("postgresql"):
        groups = [csv[k::4] for k in range(4)]
        groups += [[zeek[(3 * k + m) % FILES] for m in range(5)] for k in range(4)]
    else:
        groups = [csv, zeek]
    runs = []
    for k, group in enumerate(groups):
        directory = tmp_path / f"scan{k}"
        directory.mkdir()
        for m, file in enumerate(group):
            order = m if k % 2 == 0 else len(group) - 1 - m
            shutil.copy(file, directory / f"{order}-{file.name}")
        runs.append(
            spawn(db_url, watchlists, tmp_path / f"work{k}", "scan", "--flows", str(directory))
        )
    codes = finish(runs)
    reference_url = other_database(db_url, tmp_path, pg_databases)
    references = reference_scans(reference_url, watchlists, tmp_path)
    assert_clean([*runs, *references], [*codes, *(r.process.returncode for r in references)])

    got, want = stored(db_url), stored(reference_url)
    assert len(want["inputs"]) == 2 * FILES
    hashes = [row[0] for row in got["inputs"]]
    assert len(hashes) == len(set(hashes)) == 2 * FILES  # each input once
    zeek_events = FILES * (CONNECTIONS - CONNECTIONS // 3)  # 8333 and 18080 classify
    assert sum(want["events"].values()) == len(classified_connections()) + zeek_events
    assert sum(r[3] for r in got["rollups"]) == sum(r[3] for r in want["rollups"])
    assert got == want


@pytest.mark.slow
def test_concurrent_cluster_scans_total_one_scan(
    db_url: str, tmp_path: Path, watchlists: Path, pg_databases: PgDatabases
) -> None:
    """Two ``--cluster local:2`` scans of overlapping CSV files (one oldest first, one newest
    first) and a one-process scan of the Zeek logs of the same hours, at once: on PostgreSQL
    the clusters' workers write in transactions of their own, on SQLite each client writes and
    waits its turn. Together they store what one process stores of all the inputs."""
    csv, zeek = write_files(tmp_path / "csv"), write_zeek_files(tmp_path / "zeek")
    migrated(db_url)
    runs = []
    for k, (group, cluster) in enumerate(
        [(csv[:7], ["--cluster", "local:2"]), (csv[3:][::-1], ["--cluster", "local:2"]), (zeek, [])]
    ):
        directory = tmp_path / f"scan{k}"
        directory.mkdir()
        for m, file in enumerate(group):
            shutil.copy(file, directory / f"{m}-{file.name}")
        argv = ["scan", "--flows", str(directory), *cluster]
        runs.append(spawn(db_url, watchlists, tmp_path / f"work{k}", *argv))
    codes = finish(runs, timeout=300)
    reference_url = other_database(db_url, tmp_path, pg_databases)
    references = reference_scans(reference_url, watchlists, tmp_path)
    assert_clean([*runs, *references], [*codes, *(r.process.returncode for r in references)])

    got, want = stored(db_url), stored(reference_url)
    hashes = [row[0] for row in got["inputs"]]
    assert len(hashes) == len(set(hashes)) == 2 * FILES  # each input once
    assert got == want


@contextmanager
def writer_holding_lock(db_url: str) -> Iterator[None]:
    """Another writer in the middle of a transaction. On SQLite it holds the write lock; on
    PostgreSQL a lock on ``rollups`` (which a scan writes last in an input's transaction), so
    that scans get as far as storing their events and stay inside their transactions."""
    if db_url.startswith("sqlite"):
        holder = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.execute("COMMIT")
            holder.close()
        return
    engine = create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("LOCK TABLE rollups IN SHARE MODE"))
            yield
    finally:
        engine.dispose()


def notices(run: Run) -> list[str]:
    return [line for line in run.errors().splitlines() if "waiting for" in line]


def wait_until_waiting(
    db_url: str, runs: Sequence[Run], timeout: float, *, pg_notice: bool = True
) -> None:
    """Until every scan waits for the held lock and those that wait long have said so (on
    SQLite, each; on PostgreSQL, with ``pg_notice``, the one waiting for another's pairing
    lock), or at most ``timeout`` seconds after all are waiting."""
    sqlite = db_url.startswith("sqlite")
    engine = None if sqlite else create_engine(db_url)
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            assert all(r.process.poll() is None for r in runs), [r.errors() for r in runs]
            said = [bool(notices(r)) for r in runs]
            if engine is not None:
                with engine.connect() as conn:
                    waiting = conn.scalar(
                        text(
                            "SELECT count(*) FROM pg_stat_activity "
                            "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                        )
                    )
                if waiting < len(runs):
                    time.sleep(0.1)
                    continue
                deadline = min(deadline, time.monotonic() + timeout)
            elif deadline > time.monotonic() + timeout:
                deadline = time.monotonic() + timeout
            if all(said) if sqlite else (any(said) or not pg_notice):
                return
            time.sleep(0.1)
    finally:
        if engine is not None:
            engine.dispose()


def migrated(db_url: str) -> None:
    """Create the schema first (the scans under test then only read and write data)."""
    open_store(db_url).close()


def test_two_directions_in_two_files_read_at_once_pair_to_one_event(
    db_url: str, tmp_path: Path, watchlists: Path
) -> None:
    """200 connections, the watched side's records in one file and the replies in another,
    read by two scans at once while another writer holds a lock for seconds: the scans wait
    (and say so), then pair each connection once, as one scan of both files does. A third
    scan of the first file meanwhile skips it: being read by the first scan (PostgreSQL), or
    already read once it gets its turn (SQLite)."""
    outbound, inbound = [HEADER], [HEADER]
    for j in range(200):
        start = T0 + dt.timedelta(seconds=j * 90 + 13)
        delay = 2 + (j * 11) % 50  # a third of the replies fall in the next minute's window
        local, remote = f"175.45.176.{1 + j % 100}", f"198.51.100.{1 + j % 50}"
        outbound.append(Flow(start, local, remote, 30000 + j, 8333, 500).line())
        inbound.append(
            Flow(start + dt.timedelta(seconds=delay), remote, local, 8333, 30000 + j, 900).line()
        )
    (tmp_path / "a.csv").write_text("".join(outbound))
    (tmp_path / "b.csv").write_text("".join(inbound))
    migrated(db_url)
    with writer_holding_lock(db_url):
        runs = [
            spawn(db_url, watchlists, tmp_path / f"w{k}", "scan", "--flows", str(tmp_path / name))
            for k, name in ((1, "a.csv"), (2, "b.csv"))
        ]
        wait_until_waiting(db_url, runs, timeout=10)
        again = spawn(
            db_url, watchlists, tmp_path / "w3", "scan", "--flows", str(tmp_path / "a.csv")
        )
        if not db_url.startswith("sqlite"):  # it need not wait for the lock held here
            assert finish([again], timeout=60) == [0], again.errors()
        time.sleep(0.5)  # held a while past the notices
    assert_clean([*runs, again], finish([*runs, again]))
    said = [notices(run) for run in runs]
    skip = f"a.csv: skipped, being read by scan {runs[0].scan_id()}"
    if db_url.startswith("sqlite"):
        skip = "skipped, already read "
    assert skip in again.errors() + runs[0].errors(), again.errors()
    assert "skipped 1," in again.stdout.read_text() + runs[0].stdout.read_text()
    if db_url.startswith("sqlite"):  # both waited for the held write lock
        assert all(said), [r.errors() for r in runs]
        assert all("another writer holds its lock" in n[0] for n in said), said
    else:  # one waited for the lock held here, the other for the first's pairing lock
        assert sum(map(bool, said)) == 1, [r.errors() for r in runs]
        assert "which is storing records of 'flows'" in "".join(n for ns in said for n in ns)
    assert all(len(n) <= 2 for n in said), said  # a line per long wait, not one a second
    got = stored(db_url)
    assert sum(got["events"].values()) == 200
    assert len(got["events"]) == 200
    assert sum(r[3] for r in got["rollups"]) == 400  # records: both directions
    assert sum(r[6] for r in got["rollups"]) == 200  # events: one per connection


def test_sqlite_writer_waits_past_the_busy_timeout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A writer holding SQLite's lock longer than the busy timeout (120 s; 0.1 s here) makes
    the next writer wait on, not fail with "database is locked". SQLite only: PostgreSQL
    waits for locks without a timeout."""
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 100)
    path = tmp_path / "chainwatch.db"
    store = open_store(f"sqlite:///{path}")
    holder = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    holder.execute("BEGIN IMMEDIATE")
    release = threading.Timer(1.0, holder.execute, ["COMMIT"])
    release.start()
    try:
        started = time.monotonic()
        scan_id = start_scan(store, "scan", dt.datetime.now(dt.UTC))
        waited = time.monotonic() - started
    finally:
        release.join()
        holder.close()
        store.close()
    assert scan_id == 1
    assert waited >= 0.9  # it did wait for the holder, ten busy timeouts long


def test_a_killed_scan_does_not_keep_its_input(
    db_url: str, tmp_path: Path, watchlists: Path
) -> None:
    """A scan killed (SIGKILL) in the middle of its input's transaction, its claim on the input
    taken: the next scan reads the input in full, it is not "being read" by the dead one."""
    files = write_files(tmp_path / "all")
    migrated(db_url)
    with writer_holding_lock(db_url):
        victim = spawn(db_url, watchlists, tmp_path / "w1", "scan", "--flows", str(files[0]))
        wait_until_waiting(db_url, [victim], timeout=10, pg_notice=False)
        victim.process.kill()
        assert victim.process.wait(10) == -signal.SIGKILL
        if not db_url.startswith("sqlite"):  # its server process notices and ends it
            wait_until_no_waiting(db_url)
    again = spawn(db_url, watchlists, tmp_path / "w2", "scan", "--flows", str(files[0]))
    assert_clean([again], finish([again]))
    assert "skipped" not in again.errors()
    got = stored(db_url)
    assert len(got["inputs"]) == 1
    # Every btc connection of hour 0 (the replies of the last ones are in the next file).
    assert sum(got["events"].values()) == sum(
        1 for j in range(CONNECTIONS) if connection(0, j)[0].dport == 8333
    )


def wait_until_no_waiting(db_url: str, timeout: float = 20) -> None:
    engine = create_engine(db_url)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            with engine.connect() as conn:
                waiting = conn.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                )
            if waiting == 0:
                return
            time.sleep(0.1)
    finally:
        engine.dispose()
    raise AssertionError("the killed scan's server process still waits")
