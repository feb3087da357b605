"""SIGINT and SIGTERM during a real ``chainwatch scan`` process, on SQLite and PostgreSQL.

A scan of several flow files is stopped at points found from what the process shows (its scan
row, its stderr, the inputs it has committed), never after a guessed sleep. Each stop must end
with exit status 130 (SIGINT) or 143 (SIGTERM), one line saying so, the scan recorded as
``interrupted``, and the input in hand rolled back: a rescan then stores exactly what one clean
scan stores. The reference run and the points here are shared with ``test_kill.py``; the
process scaffolding is ``tests.sources.process``.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sqlalchemy import select

from chainwatch.store.models import Scan
from tests.conftest import PgDatabases
from tests.sources.process import (
    Stderr,
    inputs_stored,
    poll,
    scalar,
    scan_started,
    spawn,
    stored,
    writing,
)

HEADER = "ts,src_ip,dst_ip,src_port,dst_port,proto,bytes,packets\n"
FILES = 3
#: Rows per file: enough that reading one takes a good fraction of a second, so a stop sent
#: when its first line appears lands while it is read.
ROWS = 30_000


def write_inputs(directory: Path) -> Path:
    """Flow files as a NetFlow exporter's CSV would give them, a third of the records from a
    watched range; each file ends with connections whose reply direction opens the next file,
    so pairing across files is part of what must come out the same."""
    (directory / "watchlists").mkdir(parents=True)
    (directory / "watchlists" / "kp.txt").write_text("175.45.176.0/22\n")
    flows = directory / "flows"
    flows.mkdir()
    rng = np.random.default_rng(7)
    start = 1557100800
    carried: list[str] = []
    for f in range(FILES):
        t = start + f * ROWS
        watched = rng.random(ROWS) < 0.3
        local = rng.integers(1, 255, ROWS)
        remote = rng.integers(1, 255, ROWS)
        sport = rng.integers(1024, 65535, ROWS)
        dport = np.array([8333, 18080, 443, 3333])[rng.integers(0, 4, ROWS)]
        lines = list(carried)
        for i in range(ROWS):
            src = f"175.45.176.{local[i]}" if watched[i] else f"192.0.2.{local[i]}"
            lines.append(
                f"{t + i // 4},{src},198.51.100.{remote[i]},{sport[i]},{dport[i]},tcp,{100 + i},2\n"
            )
        carried = []
        last = t + (ROWS - 1) // 4
        for j in range(20):  # the replies of these come first in the next file
            lines.append(f"{last},175.45.177.{j + 1},198.51.100.9,{40000 + j},8333,tcp,60,1\n")
            carried.append(
                f"{last + 1},198.51.100.9,175.45.177.{j + 1},8333,{40000 + j},tcp,80,1\n"
            )
        (flows / f"flows-{f}.csv").write_text(HEADER + "".join(lines))
    return directory


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_inputs(tmp_path_factory.mktemp("inputs"))


def scan(db_url: str, work: Path) -> subprocess.Popen[str]:
    return spawn(db_url, work, *SCAN)


_REFERENCE: dict[tuple[str, ...], dict[str, list[tuple[Any, ...]]]] = {}
#: The one-shot command whose clean run is the reference (a scan of the directory).
SCAN = ("scan", "--flows", "flows")


def reference(
    db_url: str, work: Path, pg_databases: PgDatabases, command: tuple[str, ...] = SCAN
) -> dict[str, Any]:
    """What one clean run of ``command`` stores, on the same backend as ``db_url``."""
    backend = "sqlite" if db_url.startswith("sqlite") else "postgresql"
    key = (backend, str(work), *command)  # inputs are stored by their absolute paths
    if key not in _REFERENCE:
        url = (
            f"sqlite:///{work / f'reference-{len(_REFERENCE)}.db'}"
            if backend == "sqlite"
            else pg_databases.new()
        )
        proc = spawn(url, work, *command)
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        _REFERENCE[key] = stored(url)
        assert len(_REFERENCE[key]["inputs"]) == FILES
        assert _REFERENCE[key]["events"]
    return _REFERENCE[key]


def rescan_equals_clean(
    db_url: str, work: Path, pg_databases: PgDatabases, command: tuple[str, ...] = SCAN
) -> None:
    """Run ``command`` again to finish: the store then holds what one clean run stores."""
    proc = spawn(db_url, work, *command)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert stored(db_url) == reference(db_url, work, pg_databases, command)


#: Where the stop lands, found from what the process shows.
POINTS = {
    # its scan row exists, nothing of it is committed
    "started": lambda db_url, proc, err: poll(proc, scan_started(db_url)),
    # it says it is on the second file: the first is committed, the second being read
    "mid-input": lambda db_url, proc, err: err.wait_for("flows-1.csv: detected"),
    # one input committed: the stop falls between inputs or early in the second
    "after-one": lambda db_url, proc, err: poll(proc, lambda: inputs_stored(db_url) >= 1),
}


@pytest.mark.parametrize(
    ("signum", "point"),
    [
        (signal.SIGINT, "started"),
        (signal.SIGINT, "mid-input"),
        (signal.SIGTERM, "mid-input"),
        (signal.SIGTERM, "after-one"),
    ],
)
def test_signal_interrupts_scan_then_rescan_equals_clean(
    db_url: str, work: Path, pg_databases: PgDatabases, signum: int, point: str
) -> None:
    proc = scan(db_url, work)
    err = Stderr(proc)
    POINTS[point](db_url, proc, err)
    proc.send_signal(signum)
    proc.wait(timeout=60)
    lines = err.rest()
    name = signal.Signals(signum).name
    assert proc.returncode == 128 + signum, lines
    said = [line for line in lines if "interrupted" in line]
    assert len(said) == 1, lines
    assert said[0].startswith("chainwatch: scan 1 interrupted by " + name), said
    assert not [line for line in lines if "Traceback" in line or "error" in line], lines
    assert scalar(db_url, select(Scan.status).where(Scan.id == 1)) == "interrupted"
    committed = inputs_stored(db_url)
    assert f"after storing {committed} input" in said[0]
    assert committed == {"started": 0, "mid-input": 1, "after-one": 1}[point]
    # Every committed input is whole: its rows match a clean scan's for the same file.
    clean = reference(db_url, work, pg_databases)
    assert set(stored(db_url)["inputs"]) <= set(clean["inputs"])
    rescan_equals_clean(db_url, work, pg_databases)


def run_config(work: Path) -> str:
    """A flows watcher on the inputs' directory, for ``chainwatch run``."""
    path = work / "run.toml"
    path.write_text(
        f'[[watchers]]\nname = "border"\nkind = "flows"\npath = "{work / "flows"}"\n'
        'interval = "1h"\n'
    )
    return str(path)


@pytest.mark.parametrize("once", [False, True], ids=["service", "once"])
def test_sigterm_mid_round_logs_the_round_interrupted(
    db_url: str, work: Path, pg_databases: PgDatabases, once: bool
) -> None:
    extra = ["--once"] if once else []
    cfg = run_config(work)
    proc = spawn(db_url, work, "--config", cfg, "run", "--log-format", "json", *extra)
    err = Stderr(proc)
    # the round's scan row exists and a write is open: the first input's, two more to go
    started, wrote = scan_started(db_url), writing(db_url)
    poll(proc, lambda: started() and wrote())
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=60)
    lines = [json.loads(line) for line in err.rest() if line.startswith("{")]
    rounds = [line for line in lines if line["message"].startswith("round")]
    assert [line["message"] for line in rounds] == ["round interrupted"], lines
    assert rounds[0]["status"] == "interrupted"
    assert rounds[0]["signal"] == "SIGTERM"
    assert rounds[0]["inputs"] == inputs_stored(db_url) < FILES
    # The service's clean stop is 0 (a service manager calls anything else a failure); a
    # one-shot round from cron is cut short like a scan: 143.
    assert proc.returncode == (143 if once else 0), lines
    assert scalar(db_url, select(Scan.status)) == "interrupted"
    if not once:  # the next round finishes the job: the same as one clean round
        rescan_equals_clean(db_url, work, pg_databases, ("--config", cfg, "run", "--once"))
