"""Running chainwatch as a user runs it, in its own process, and watching it from outside:
its stderr line by line, its scan row and open write transaction in the database, and what
it stored. The one scaffolding of every test that stops or kills a scan (the source contract,
the reliability battery, the sensors' kill tests)."""

from __future__ import annotations

import json
import os
import queue
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from chainwatch.store.models import (
    Event,
    HostResolution,
    Input,
    Rollup,
    RollupAddress,
    Scan,
)

#: Columns that say when or under which id something was stored, not what was stored.
NOT_DATA = {"id", "recorded_at", "read_at", "input_id", "scan_id"}


def _default_sigint() -> None:
    # A shell starts background jobs with SIGINT ignored, and chainwatch (as Python) leaves an
    # ignored SIGINT ignored; a test that sends SIGINT must give the child the default back.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def spawn(db_url: str, work: Path, *command: str) -> subprocess.Popen[str]:
    """``chainwatch`` as a user runs it, in its own process."""
    env = dict(os.environ, CHAINWATCH_RESOLVE_HOSTS="0")
    for var in ("CHAINWATCH_DB", "CHAINWATCH_CONFIG", "CHAINWATCH_WATCHLISTS"):
        env.pop(var, None)
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "chainwatch",
            "--db",
            db_url,
            "--watchlists",
            "watchlists",
            *command,
        ],
        cwd=work,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )


class Stderr:
    """The child's stderr, read line by line in a thread so the test can wait for a line."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.lines: list[str] = []
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, text: str, seconds: float = 60.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.05)
            except queue.Empty:
                continue
            if line is None:
                break
            self.lines.append(line)
            if text in line:
                return
        raise AssertionError(f"no line with {text!r}; stderr so far: {self.lines}")

    def rest(self) -> list[str]:
        self._thread.join(timeout=60)
        while True:
            line = self._queue.get()
            if line is None:
                return self.lines
            self.lines.append(line)


def scalar(db_url: str, query: Any) -> Any:
    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            return session.scalar(query)
    finally:
        engine.dispose()


def inputs_stored(db_url: str) -> int:
    return int(scalar(db_url, select(func.count()).select_from(Input)) or 0)


def poll(proc: subprocess.Popen[str], predicate: Callable[[], bool], seconds: float = 60) -> None:
    """Wait for ``predicate`` (a look at the database) while ``proc`` runs."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if predicate():
                return
        except Exception:  # the database or its tables may not exist yet
            pass
        time.sleep(0.02)
    raise AssertionError(f"condition not reached (process exit status {proc.poll()})")


def scan_started(db_url: str) -> Callable[[], bool]:
    running = select(func.count()).select_from(Scan).where(Scan.status == "running")
    return lambda: bool(scalar(db_url, running))


def writing(db_url: str) -> Callable[[], bool]:
    """True while another connection holds a write transaction open on the database."""
    if db_url.startswith("sqlite"):
        path = db_url.removeprefix("sqlite:///")

        def sqlite_writing() -> bool:
            probe = sqlite3.connect(path, timeout=0, isolation_level=None)
            try:
                probe.execute("BEGIN IMMEDIATE")  # refused at once while a writer holds it
                probe.execute("ROLLBACK")
                return False
            except sqlite3.OperationalError as exc:
                return "locked" in str(exc)
            finally:
                probe.close()

        return sqlite_writing
    wrote = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND pid <> pg_backend_pid() AND backend_xid IS NOT NULL"
    )

    return lambda: bool(scalar(db_url, wrote))


def _value(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        return value.replace(tzinfo=None).isoformat()  # SQLite gives naive UTC, PostgreSQL aware
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    if isinstance(value, float):
        return round(value, 9)
    return value


def stored(db_url: str) -> dict[str, list[tuple[Any, ...]]]:
    """What the scans stored, without ids and storing times: events, rollups, the distinct
    addresses behind them, and the inputs."""
    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            out = {}
            for model in (Event, Rollup, RollupAddress, Input):
                columns = [c for c in model.__table__.columns if c.name not in NOT_DATA]
                rows = session.execute(select(*columns)).all()
                out[model.__tablename__] = sorted(tuple(map(_value, row)) for row in rows)
            return out
    finally:
        engine.dispose()


def everything(db_url: str) -> dict[str, Any]:
    """``stored`` and the DNS answers kept from the inputs (captures, dns.log, eve dns)."""
    out: dict[str, Any] = stored(db_url)
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            answers = conn.execute(
                select(HostResolution.host, HostResolution.address, HostResolution.seen_in)
            ).all()
    finally:
        engine.dispose()
    out["answers"] = sorted(tuple(a) for a in answers)
    return out


def run_to_end(db_url: str, work: Path, *command: str, timeout: float = 300) -> str:
    """Run ``command`` to its end; it must succeed. Its stderr."""
    proc = spawn(db_url, work, *command)
    _, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, err
    return err


def kill_mid_input(
    db_url: str, work: Path, *command: str, inputs: int, after_one: bool = True
) -> int:
    """Start ``command`` (a scan of ``inputs`` inputs) and ``kill -9`` it while a write
    transaction is open before every input is committed; with ``after_one``, only once an
    input was committed (the kill then lands inside the second or a later input, never between
    two). Without it, for readers that may store several inputs in one transaction (nfcapd
    groups), any open transaction will do. How many inputs were committed."""
    proc = spawn(db_url, work, *command)
    err = Stderr(proc)
    wrote = writing(db_url)
    least = 1 if after_one else 0
    poll(proc, lambda: least <= inputs_stored(db_url) < inputs and wrote(), seconds=300)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    err.rest()
    assert proc.returncode == -signal.SIGKILL, err.lines
    committed = inputs_stored(db_url)
    assert least <= committed < inputs
    return committed
