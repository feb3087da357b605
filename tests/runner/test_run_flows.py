"""``chainwatch run`` with a flows watcher on a directory: Zeek conn.log files dropped between rounds are read
once each; SIGTERM in the middle of a large file leaves the store as if that file had never
been started (or, if it finished first, fully read)."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select

from chainwatch.store.models import Event, Input, Rollup, Scan
from tests.runner.test_run import count, spawn, wait_for, wait_for_rounds

ZEEK_HEADER = (
    "#separator \\x09\n#path\tconn\n"
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\torig_bytes\torig_pkts\n"
    "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tcount\tcount\n"
)
HEADER = "ts,src_ip,dst_ip,src_port,dst_port,proto,bytes,packets\n"


def flows_config(tmp_path: Path, directory: Path) -> Path:
    path = tmp_path / "cw.toml"
    path.write_text(
        f'[[watchers]]\nname = "drop"\nkind = "flows"\npath = "{directory}"\ninterval = "1s"\n'
    )
    return path


def watchlists(tmp_path: Path) -> None:
    directory = tmp_path / "watchlists"
    directory.mkdir(exist_ok=True)
    (directory / "kp.txt").write_text("175.45.176.0/22\n")


def rows_of(db_url: str, model: Any) -> int:
    return count(db_url, select(func.count()).select_from(model))


def records(n: int, seed: int) -> list[tuple[int, str, str, int, int]]:
    """(time, source, destination, source port, destination port); a fifth from watched."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        watched = rng.random() < 0.2
        src = f"175.45.176.{rng.integers(1, 255)}" if watched else f"192.0.2.{rng.integers(1, 255)}"
        dst = f"198.51.100.{rng.integers(1, 255)}"
        out.append(
            (1557100800 + i, src, dst, int(rng.integers(1024, 65535)), (8333, 18080, 443)[i % 3])
        )
    return out


def csv(n: int, seed: int) -> str:
    lines = [f"{t},{s},{d},{sp},{dp},tcp,100,1\n" for t, s, d, sp, dp in records(n, seed)]
    return HEADER + "".join(lines)


def zeek(n: int, seed: int) -> str:
    """A Zeek conn.log (TSV), as a rotating Zeek writes one per interval."""
    lines = [
        f"{t}.000000\tC{seed}x{i}\t{s}\t{sp}\t{d}\t{dp}\ttcp\t100\t1\n"
        for i, (t, s, d, sp, dp) in enumerate(records(n, seed))
    ]
    return ZEEK_HEADER + "".join(lines) + "#close\t2019-05-06-00-00-00\n"


def test_dropped_files_read_once_each(db_url: str, tmp_path: Path) -> None:
    watchlists(tmp_path)
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "conn.a.log").write_text(zeek(300, 1))
    proc = spawn(db_url, flows_config(tmp_path, drop), tmp_path)
    try:
        wait_for(proc, lambda: rows_of(db_url, Input) == 1)
        first_events = rows_of(db_url, Event)
        assert first_events > 0
        (drop / "conn.b.log.part").write_text(zeek(300, 2))  # still being written: not read
        time.sleep(2.5)
        assert rows_of(db_url, Input) == 1
        (drop / "conn.b.log.part").rename(drop / "conn.b.log")
        wait_for(proc, lambda: rows_of(db_url, Input) == 2)
        wait_for_rounds(proc, db_url, 2)
        assert rows_of(db_url, Input) == 2  # later rounds read nothing again
        assert rows_of(db_url, Event) > first_events
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_sigterm_during_a_large_file(db_url: str, tmp_path: Path, cli: Any) -> None:
    watchlists(tmp_path)
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "big.csv").write_text(csv(400_000, 3))
    reference = f"sqlite:///{tmp_path / 'reference.db'}"
    done = cli("--db", reference, "--watchlists", tmp_path / "watchlists", "scan", "--flows", drop)
    assert done.exit_code == 0, done.stderr
    full = (rows_of(reference, Event), rows_of(reference, Rollup))

    proc = spawn(db_url, flows_config(tmp_path, drop), tmp_path)
    try:
        wait_for(proc, lambda: count(db_url, select(func.count()).select_from(Scan)) >= 1)
        time.sleep(1.0)  # well into the file
    finally:
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err
    assert time.monotonic() - started < 15
    state = (rows_of(db_url, Input), rows_of(db_url, Event), rows_of(db_url, Rollup))
    assert state in {(0, 0, 0), (1, *full)}, (state, full)
    assert (
        count(db_url, select(func.count()).select_from(Scan).where(Scan.status == "running")) == 0
    )
