"""A ``--cluster local:2`` scan into PostgreSQL that loses a worker, or is killed, ends
with what a one-process scan stores (issue 19).

A worker process killed (SIGKILL) while the scan runs: the scan still finishes, exit 0, and
the stored data equal the reference; the scan's own process killed (SIGKILL) after some
inputs were committed: its worker processes end too (none is left in its session), and the
same command run again finishes the inputs, with the same result.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from chainwatch.store.db import open_store
from tests.cluster.test_cluster_equal import (
    assert_same,
    connections,
    environment,
    scan,
    scan_argv,
    stored,
    write_csv_files,
    write_watchlists,
)
from tests.conftest import PgDatabases

pytestmark = pytest.mark.slow

FLOWS = 150_000  # connections (300,000 records): seconds of work for two workers
FILES = 16


@dataclass(frozen=True)
class Proc:
    pid: int
    ppid: int
    session: int
    state: str
    cmdline: str


def processes() -> dict[int, Proc]:
    """Every process of the machine, from /proc (the stat line's fields after the name)."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # it ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        pid = int(entry.name)
        found[pid] = Proc(pid, int(fields[1]), int(fields[3]), fields[0], cmdline)
    return found


def descendants(root: int) -> list[Proc]:
    table = processes()
    found, frontier = [], {root}
    while frontier:
        children = [p for p in table.values() if p.ppid in frontier and p.state != "Z"]
        found += children
        frontier = {p.pid for p in children}
    return found


def workers(scan_pid: int) -> list[Proc]:
    """The scan's Dask worker processes: started by multiprocessing's spawn (``spawn_main``)
    or forked by its fork server; not the resource tracker, not the fork server itself."""
    tree = descendants(scan_pid)
    servers = {p.pid for p in tree if "forkserver" in p.cmdline}
    return [
        p
        for p in tree
        if ("spawn_main" in p.cmdline or p.ppid in servers) and "resource_tracker" not in p.cmdline
    ]


def left_in_session(session: int) -> list[Proc]:
    return [p for p in processes().values() if p.session == session and p.state != "Z"]


def committed_inputs(db_url: str) -> int:
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(text("SELECT count(*) FROM inputs")) or 0)
    finally:
        engine.dispose()


@dataclass
class Big:
    watchlists: Path
    csv: Path
    reference: dict[str, list[object]]


@pytest.fixture(scope="module")
def big(tmp_path_factory: pytest.TempPathFactory, pg_databases: PgDatabases) -> Big:
    """Inputs that keep two workers busy for seconds, and what one process stores of them."""
    root = tmp_path_factory.mktemp("cluster-kill")
    watchlists = write_watchlists(root / "watchlists")
    csv = write_csv_files(root / "csv", connections(FLOWS, seed=11), FILES)[0].parent
    reference = pg_databases.new()
    scan(reference, watchlists, csv, cwd=root / "one")
    return Big(watchlists, csv, stored(reference))


@pytest.fixture
def session_reaper() -> Iterator[list[int]]:
    """Sessions (process groups) started by a test: whatever is left of them is killed after
    it, pass or fail, so no worker outlives the test run."""
    sessions: list[int] = []
    yield sessions
    for session in sessions:
        for proc in left_in_session(session):
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGKILL)


def start(db_url: str, big: Big, work: Path, sessions: list[int]) -> subprocess.Popen[bytes]:
    """The cluster scan in a session of its own (so it can be killed whole), on a migrated
    database (so that its inputs can be counted from the start)."""
    open_store(db_url).close()
    work.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        scan_argv(db_url, big.watchlists, big.csv, cluster="local:2"),
        cwd=work,
        env=environment(),
        stdout=(work / "stdout.txt").open("wb"),
        stderr=(work / "stderr.txt").open("wb"),
        start_new_session=True,
    )
    sessions.append(process.pid)
    return process


def wait_for_commits(db_url: str, process: subprocess.Popen[bytes], work: Path) -> int:
    """Until an input is committed and two workers run (at most 120 s): how many inputs are."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, (work / "stderr.txt").read_text()
        done = committed_inputs(db_url)
        if done >= 1 and len(workers(process.pid)) >= 2:
            return done
        time.sleep(0.05)
    raise AssertionError(f"no input committed in 120 s: {(work / 'stderr.txt').read_text()}")


def wait_gone(session: int, timeout: float = 30) -> list[Proc]:
    deadline = time.monotonic() + timeout
    while (left := left_in_session(session)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def test_a_worker_killed_mid_scan_changes_nothing_stored(
    big: Big, tmp_path: Path, pg_databases: PgDatabases, session_reaper: list[int]
) -> None:
    db_url = pg_databases.new()
    work = tmp_path / "scan"
    process = start(db_url, big, work, session_reaper)
    done = wait_for_commits(db_url, process, work)
    victim = workers(process.pid)[0]
    os.kill(victim.pid, signal.SIGKILL)
    assert done < FILES, "every input was stored before the worker was killed"
    code = process.wait(300)
    errors = (work / "stderr.txt").read_text()
    assert code == 0, errors
    assert "Traceback" not in errors, errors
    assert_same(stored(db_url), big.reference)
    assert wait_gone(process.pid) == []


def test_a_killed_scan_leaves_no_worker_and_runs_again_as_one_clean_scan(
    big: Big, tmp_path: Path, pg_databases: PgDatabases, session_reaper: list[int]
) -> None:
    db_url = pg_databases.new()
    first = start(db_url, big, tmp_path / "first", session_reaper)
    done = wait_for_commits(db_url, first, tmp_path / "first")
    os.kill(first.pid, signal.SIGKILL)  # the client alone: its workers must not linger
    assert first.wait(30) == -signal.SIGKILL
    assert done < FILES, "every input was stored before the scan was killed"
    assert wait_gone(first.pid) == [], "worker processes outlived their scan"

    again = start(db_url, big, tmp_path / "again", session_reaper)
    code = again.wait(300)
    errors = (tmp_path / "again" / "stderr.txt").read_text()
    assert code == 0, errors
    assert "Traceback" not in errors, errors
    assert_same(stored(db_url), big.reference)
    assert wait_gone(again.pid) == []
