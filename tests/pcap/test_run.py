"""``chainwatch run`` with a pcap watcher on a directory a capture ring buffer rotates into:
each finished capture is read once, its payload events stored, later rounds read nothing."""

from __future__ import annotations

import signal
from pathlib import Path

from sqlalchemy import func, select

from chainwatch.store.models import Event, Input
from tests.pcap.capgen import Talk, frames, write_pcap
from tests.pcap.cases import CASES
from tests.runner.test_run import count, spawn, wait_for, wait_for_rounds

T0 = 1558000000.0


def test_rotated_captures_read_once_each(db_url: str, tmp_path: Path) -> None:
    (tmp_path / "watchlists").mkdir()
    (tmp_path / "watchlists" / "kp.txt").write_text("175.45.176.0/22\n")  # spawn adds doc.txt
    ring = tmp_path / "ring"
    ring.mkdir()
    config = tmp_path / "cw.toml"
    config.write_text(
        f'[[watchers]]\nname = "span"\nkind = "pcap"\npath = "{ring}"\ninterval = "1s"\n'
    )
    stratum = CASES[0].messages
    write_pcap(
        ring / "ring_00001.pcap",
        frames(Talk("175.45.176.5", "198.51.100.20", 40001, 3333, T0, stratum)),
    )
    proc = spawn(db_url, config, tmp_path)
    try:
        wait_for(proc, lambda: count(db_url, select(func.count()).select_from(Event)) == 1)
        write_pcap(
            ring / "ring_00002.pcap",
            frames(Talk("175.45.176.6", "198.51.100.20", 40002, 3333, T0 + 600, stratum)),
        )
        wait_for(proc, lambda: count(db_url, select(func.count()).select_from(Event)) == 2)
        wait_for_rounds(proc, db_url, 2)
        assert count(db_url, select(func.count()).select_from(Input)) == 2
        found = count(
            db_url,
            select(func.count()).where(Event.source == "span", Event.category == "btc-pool"),
        )
        assert found == 2
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0
