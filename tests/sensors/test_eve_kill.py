"""``kill -9`` of a real ``chainwatch scan`` of eve.json files while the second file's write
transaction is open, on SQLite and PostgreSQL: a rescan stores exactly what one clean scan
stores (events, rollups, addresses, inputs and the passive DNS answers), with the sensors'
verdicts, borrowed verdicts and DNS answers carried across the files as in the clean run."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import PgDatabases
from tests.sensors.conftest import POOL_HOST, alert, event, flow, lines, tuple_of
from tests.sources.process import Stderr, everything, inputs_stored, poll, spawn, writing

FILES = 3
ROWS = 20_000
SCAN = ("scan", "--flows", "eve")


def write_inputs(directory: Path) -> Path:
    (directory / "watchlists" / "endpoints").mkdir(parents=True)
    (directory / "watchlists" / "kp.txt").write_text("175.45.176.0/22\n")
    (directory / "watchlists" / "endpoints" / "pools.toml").write_text(
        f'[[endpoints]]\nname = "supportxmr"\ncategory = "xmr-pool"\nhosts = ["{POOL_HOST}"]\n'
    )
    folder = directory / "eve"
    folder.mkdir()
    rng = np.random.default_rng(18)
    answer = {
        "version": 2,
        "type": "answer",
        "rrname": POOL_HOST,
        "rrtype": "A",
        "rcode": "NOERROR",
    }
    carried: list[Any] = []
    for f in range(FILES):
        records: list[Any] = [
            event(
                "dns",
                f * ROWS,
                None,
                dns={
                    **answer,
                    "answers": [
                        {
                            "rrname": POOL_HOST,
                            "rrtype": "A",
                            "ttl": 60,
                            "rdata": f"203.0.113.{f + 1}",
                        }
                    ],
                },
            ),
            *carried,
        ]
        carried = []
        for i in range(ROWS):
            n = f * ROWS + i
            local = (
                f"175.45.176.{rng.integers(1, 255)}"
                if rng.random() < 0.3
                else f"192.0.2.{rng.integers(1, 255)}"
            )
            remote = (
                f"203.0.113.{rng.integers(1, 4)}"
                if rng.random() < 0.1
                else f"198.51.100.{rng.integers(1, 255)}"
            )
            five = tuple_of(
                local, 30000 + i % 30000, remote, int(rng.choice([443, 3333, 8333])), "TCP"
            )
            record = flow(n + 30, 10**6 + n, n, five)
            if i % 50 == 0:  # an alert now, its connection's flow record in the next file
                records.append(
                    alert(
                        n + 1,
                        10**6 + n,
                        five,
                        2022886,
                        4,
                        "ET COINMINER Crypto Coin Miner Login",
                        "Crypto Currency Mining Activity Detected",
                    )
                )
                carried.append(record)
                continue
            if i % 50 == 1:  # a TLS record, its flow record further on in this file
                records.append(event("tls", n + 1, 10**6 + n, **five, tls={"sni": POOL_HOST}))
            records.append(record)
        (folder / f"eve-{f}.json").write_text(lines(records))
    return directory


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_inputs(tmp_path_factory.mktemp("eve-inputs"))


@pytest.mark.slow
def test_kill_9_mid_transaction_then_rescan_equals_clean(
    db_url: str, work: Path, pg_databases: PgDatabases
) -> None:
    clean = (
        f"sqlite:///{work / f'clean-{len(db_url)}.db'}"
        if db_url.startswith("sqlite")
        else pg_databases.new()
    )
    proc = spawn(clean, work, *SCAN)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    reference = everything(clean)
    assert reference["events"] and len(reference["answers"]) == FILES
    # Flow records that borrowed an alert's or a TLS record's verdict, some across files.
    assert any('"verdict_ref"' in str(row) for row in reference["events"])

    proc = spawn(db_url, work, *SCAN)
    err_lines = Stderr(proc)
    err_lines.wait_for("eve-0.json: detected", seconds=120)
    poll(proc, lambda: inputs_stored(db_url) >= 1, seconds=120)  # the first is committed
    poll(proc, writing(db_url), seconds=120)  # the second one's transaction writes
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    err_lines.rest()
    assert proc.returncode == -signal.SIGKILL
    assert 1 <= inputs_stored(db_url) < FILES

    again = spawn(db_url, work, *SCAN)
    _, err = again.communicate(timeout=300)
    assert again.returncode == 0, err
    assert "eve-0.json: skipped, already read" in err
    assert everything(db_url) == reference
