"""The real pipeline: a pcap written here, turned into nfcapd files by the real nfpcapd, read by
chainwatch as nfcapd (through nfdump with the watch filter) and as ``nfdump -o csv`` output;
both must store what the pcap contains."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from chainwatch.store.models import Event, Rollup
from tests.conftest import require_binary
from tests.flows.conftest import rows, snapshot
from tests.flows.pcapgen import Conn, write_pcap

T0 = 1495015200.0  # 2017-05-17 10:00:00 UTC
CONNS = [
    Conn("175.45.176.5", "198.51.100.7", 40001, 8333, T0),  # btc p2p (port rule), both ways
    Conn("175.45.176.6", "203.0.113.10", 40002, 3333, T0 + 10),  # catalog pool
    Conn("175.45.176.6", "198.51.100.7", 40003, 18080, T0 + 20),  # xmr p2p
    Conn("198.51.100.99", "175.45.176.7", 50000, 443, T0 + 30),  # from a Tor relay (catalog)
    Conn("175.45.176.8", "192.0.2.50", 40004, 443, T0 + 40),  # watched, unclassified
    Conn("175.45.176.8", "192.0.2.53", 40005, 53, T0 + 45, proto="udp"),  # watched, unclassified
    Conn("192.0.2.1", "198.51.100.7", 40006, 8333, T0 + 50),  # unwatched btc
    Conn("192.0.2.1", "203.0.113.10", 40007, 3333, T0 + 55),  # unwatched pool
    Conn("2001:db8:1::5", "2001:db8:ff::9", 40008, 8333, T0 + 60),  # IPv6 btc
]
EXPECTED = [  # (local, remote, remote port, category, detector)
    ("175.45.176.5", "198.51.100.7", 8333, "btc-p2p", "port"),
    ("175.45.176.6", "203.0.113.10", 3333, "xmr-pool", "endpoint"),
    ("175.45.176.6", "198.51.100.7", 18080, "xmr-p2p", "port"),
    ("175.45.176.7", "198.51.100.99", 50000, "tor", "endpoint"),
    ("2001:db8:1::5", "2001:db8:ff::9", 8333, "btc-p2p", "port"),
]


@pytest.fixture
def nfcapd_dir(tmp_path: Path) -> Path:
    nfpcapd = require_binary("nfpcapd")
    pcap = write_pcap(tmp_path / "flows.pcap", CONNS)
    out = tmp_path / "nfcapd"
    out.mkdir()
    done = subprocess.run(
        [nfpcapd, "-r", str(pcap), "-w", str(out)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert list(out.rglob("nfcapd.*")), "nfpcapd wrote no files"
    return out


def stored(db_url: str) -> list[tuple[Any, ...]]:
    return sorted(
        (e.local_ip, e.remote_ip, e.remote_port, e.category, e.detector)
        for e in rows(db_url, Event)
    )


def rollups(db_url: str) -> dict[str, tuple[int, int]]:
    return {r.category: (r.records, r.events) for r in rows(db_url, Rollup)}


def test_nfcapd_directory(cli: Any, db_url: str, wl: Path, nfcapd_dir: Path) -> None:
    require_binary("nfdump")
    result = cli("--db", db_url, "--watchlists", wl, "scan", "--flows", nfcapd_dir)
    assert result.exit_code == 0, result.stderr
    assert "detected nfcapd" in result.stderr
    assert stored(db_url) == sorted(EXPECTED)
    # every record of a watched connection reached the rollups, both directions
    assert rollups(db_url) == {
        "btc-p2p": (2, 1),
        "xmr-pool": (2, 1),
        "xmr-p2p": (2, 1),
        "tor": (2, 1),
        "other": (4, 0),
    }
    events = rows(db_url, Event)
    assert all(
        e.source_ref.startswith(str(nfcapd_dir)) and e.detail["format"] == "nfcapd" for e in events
    )
    assert {e.direction for e in events if e.remote_ip == "198.51.100.99"} == {"inbound"}


def test_nfdump_csv_matches_nfcapd(
    cli: Any, db_url: str, wl: Path, nfcapd_dir: Path, tmp_path: Path
) -> None:
    nfdump = require_binary("nfdump")
    env = dict(os.environ, TZ="UTC")
    with_header = subprocess.run(
        [nfdump, "-R", str(nfcapd_dir), "-o", "csv"], capture_output=True, env=env, check=True
    ).stdout
    assert b"Summary" in with_header  # the trailing block the reader must ignore
    (tmp_path / "with_header.csv").write_bytes(with_header)
    result = cli(
        "--db", db_url, "--watchlists", wl, "scan", "--flows", tmp_path / "with_header.csv"
    )
    assert result.exit_code == 0, result.stderr
    assert "detected nfdump CSV" in result.stderr and "bad 0" in result.stdout
    assert stored(db_url) == sorted(EXPECTED)
    assert rollups(db_url)["other"] == (4, 0)

    quiet = subprocess.run(
        [nfdump, "-R", str(nfcapd_dir), "-q", "-o", "csv"], capture_output=True, env=env, check=True
    ).stdout
    (tmp_path / "quiet.csv").write_bytes(quiet)
    again = cli(
        "--db",
        db_url,
        "--watchlists",
        wl,
        "scan",
        "--format",
        "nfdump",
        "--flows",
        tmp_path / "quiet.csv",
    )
    assert again.exit_code == 0, again.stderr
    assert "stored 0" in again.stdout  # the same connections, already stored


def test_nfcapd_rescan_and_kill(db_url: str, wl: Path, nfcapd_dir: Path, tmp_path: Path) -> None:
    """Scans killed (SIGKILL) at several points, then one run to the end: the same data as one
    clean scan; a further scan stores nothing."""
    require_binary("nfdump")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHAINWATCH_")}
    env["CHAINWATCH_RESOLVE_HOSTS"] = "0"
    argv = [
        sys.executable,
        "-m",
        "chainwatch",
        "--db",
        db_url,
        "--watchlists",
        str(wl),
        "scan",
        "--flows",
        str(nfcapd_dir),
    ]
    for delay in (0.4, 0.7, 1.0, 1.3, 1.6):
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    again = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    assert stored(db_url) == sorted(EXPECTED)
    assert rollups(db_url) == {
        "btc-p2p": (2, 1),
        "xmr-pool": (2, 1),
        "xmr-p2p": (2, 1),
        "tor": (2, 1),
        "other": (4, 0),
    }
    first = snapshot(db_url)
    third = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120)
    assert third.returncode == 0 and "skipped 1" in third.stdout
    assert snapshot(db_url) == first


def test_damaged_nfcapd_fails_and_is_not_marked_read(
    cli: Any, db_url: str, wl: Path, nfcapd_dir: Path, tmp_path: Path
) -> None:
    """nfdump exits 0 on a truncated file and says so only on stderr: the input fails (the
    scan's only input, so exit 1), is not recorded as read, and a rescan of the repaired file
    reads it."""
    require_binary("nfdump")
    (whole,) = list(nfcapd_dir.rglob("nfcapd.*"))
    good = whole.read_bytes()
    damaged = tmp_path / "nfcapd.201705171000"
    damaged.write_bytes(good[: len(good) * 2 // 3])
    result = cli(
        "--db", db_url, "--watchlists", wl, "scan", "--flows", damaged, "--format", "nfcapd"
    )
    assert result.exit_code == 1, result.stderr
    assert f"{damaged}: nfdump could not read it:" in result.stderr
    assert "scan 1 failed:" in result.stdout
    assert rows(db_url, Event) == []
    damaged.write_bytes(good)  # repaired (e.g. copied again): read now, not skipped
    again = cli(
        "--db", db_url, "--watchlists", wl, "scan", "--flows", damaged, "--format", "nfcapd"
    )
    assert again.exit_code == 0, again.stderr
    assert stored(db_url) == sorted(EXPECTED)
