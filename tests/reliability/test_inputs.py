"""Inputs identified by content, and per-input failures, through the CLI on both databases.

A file is read up to the size that was hashed, and a file that grows continues from there next
time, exactly once; the same records in other bytes (a ``.gz`` copy) or under another path
spelling are one input; a file given in the wrong format, one that vanishes between listing
and reading, and one that cannot be read fail alone (named, exit 3), are not recorded as read,
and the rest of the directory is read.
"""

from __future__ import annotations

import csv
import datetime as dt
import gzip
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select

from chainwatch.flows.inputs import FlowInput
from chainwatch.store.models import Event, Input, Rollup
from chainwatch.watchers import flows as flow_watcher
from tests.pcap.capgen import Talk, frames, write_pcap
from tests.pcap.cases import CASES

HEADER = ["ts", "src_ip", "dst_ip", "src_port", "dst_port", "proto", "bytes", "packets"]
T0 = dt.datetime(2026, 11, 2, 8, 0, tzinfo=dt.UTC)


def watchlists(directory: Path) -> Path:
    """The kp range and a pool catalog at a documentation address."""
    wl = directory / "watchlists"
    (wl / "endpoints").mkdir(parents=True)
    (wl / "kp.toml").write_text('description = "test"\n[[ranges]]\ncidr = "175.45.176.0/22"\n')
    (wl / "endpoints" / "pools.toml").write_text(
        '[[endpoints]]\nname = "docpool"\ncategory = "xmr-pool"\n'
        'ips = ["203.0.113.10"]\nports = [3333]\n'
    )
    return wl


def flow_rows(first: int, count: int) -> list[list[str]]:
    """``count`` distinct connections of watched hosts to the pool, numbered from ``first``."""
    return [
        [
            (T0 + dt.timedelta(seconds=30 * n)).isoformat().replace("+00:00", "Z"),
            f"175.45.176.{n % 200 + 1}",
            "203.0.113.10",
            str(40000 + n),
            "3333",
            "tcp",
            str(1000 + n),
            "7",
        ]
        for n in range(first, first + count)
    ]


def write_csv(path: Path, rows: list[list[str]], *, header: bool = True) -> Path:
    """As Excel and Python's csv module write it: CRLF line ends."""
    with path.open("a" if not header else "w", newline="") as handle:
        writer = csv.writer(handle)
        if header:
            writer.writerow(HEADER)
        writer.writerows(rows)
    return path


def totals(db_url: str) -> tuple[int, int, int]:
    """Rollup records, events and inputs recorded as read."""
    engine = create_engine(db_url)
    try:
        with engine.connect() as conn:
            records = conn.scalar(select(func.coalesce(func.sum(Rollup.records), 0)))
            events = conn.scalar(select(func.count()).select_from(Event))
            inputs = conn.scalar(select(func.count()).select_from(Input))
    finally:
        engine.dispose()
    return int(records or 0), int(events or 0), int(inputs or 0)


def scan(cli: Any, db_url: str, wl: Path, *args: Any) -> Any:
    return cli("--db", db_url, "--watchlists", wl, "scan", *args)


def test_file_growing_while_read_is_read_once(
    cli: Any, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lines appended after the file was hashed are left for the next scan, which reads them
    and nothing else; a later append between scans is read once too."""
    wl = watchlists(tmp_path)
    log = write_csv(tmp_path / "flows.csv", flow_rows(0, 10))
    real_describe = flow_watcher.describe

    def grow_after_hashing(path: Path, name: str | None = None) -> FlowInput:
        described = real_describe(path, name)
        write_csv(log, flow_rows(10, 5), header=False)  # a writer appends, mid-scan
        return described

    monkeypatch.setattr(flow_watcher, "describe", grow_after_hashing)
    first = scan(cli, db_url, wl, "--flows", log)
    monkeypatch.setattr(flow_watcher, "describe", real_describe)
    assert first.exit_code == 0, first.stderr
    assert "read 10," in first.stdout
    assert totals(db_url) == (10, 10, 1)

    second = scan(cli, db_url, wl, "--flows", log)
    assert second.exit_code == 0, second.stderr
    assert "grew since it was read" in second.stderr and "read 5," in second.stdout
    assert totals(db_url) == (15, 15, 2)

    write_csv(log, flow_rows(15, 4), header=False)
    third = scan(cli, db_url, wl, "--flows", log)
    assert "read 4," in third.stdout
    assert totals(db_url) == (19, 19, 3)
    again = scan(cli, db_url, wl, "--flows", log)
    assert "skipped 1" in again.stdout and totals(db_url) == (19, 19, 3)


def test_file_shrinking_while_read_fails_alone(
    cli: Any, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file cut short after it was hashed (rotated by copy-and-truncate) is not stored under
    the hash of bytes it no longer holds: it fails, named, and is read by the next scan."""
    wl = watchlists(tmp_path)
    folder = tmp_path / "flows"
    folder.mkdir()
    write_csv(folder / "a.csv", flow_rows(0, 5))
    log = write_csv(folder / "b.csv", flow_rows(5, 10))
    real_describe = flow_watcher.describe

    def truncate_after_hashing(path: Path, name: str | None = None) -> FlowInput:
        described = real_describe(path, name)
        if path.name == "b.csv":
            write_csv(log, flow_rows(5, 3))
        return described

    monkeypatch.setattr(flow_watcher, "describe", truncate_after_hashing)
    result = scan(cli, db_url, wl, "--flows", folder)
    monkeypatch.setattr(flow_watcher, "describe", real_describe)
    assert result.exit_code == 3, result.stderr
    (line,) = [x for x in result.stderr.splitlines() if "b.csv" in x]
    assert "shrank while it was read" in line
    assert totals(db_url) == (5, 5, 1)
    again = scan(cli, db_url, wl, "--flows", folder)
    assert again.exit_code == 0 and "read 3," in again.stdout
    assert totals(db_url) == (8, 8, 2)


def test_gzip_copy_is_the_same_input(cli: Any, db_url: str, tmp_path: Path) -> None:
    """A directory holding a CSV and its gzip copy: read once, the copy skipped; a later
    gzip copy alone is skipped too. Rollups and events agree with one reading."""
    wl = watchlists(tmp_path)
    both = tmp_path / "both"
    both.mkdir()
    plain = write_csv(both / "a.csv", flow_rows(0, 12))
    (both / "b.csv.gz").write_bytes(gzip.compress(plain.read_bytes(), mtime=0))
    result = scan(cli, db_url, wl, "--flows", both)
    assert result.exit_code == 0, result.stderr
    assert "skipped 1" in result.stdout and "already read" in result.stderr
    assert totals(db_url) == (12, 12, 1)

    other = tmp_path / "elsewhere"
    other.mkdir()
    copy = other / "a.csv.gz"
    with gzip.open(copy, "wb", compresslevel=1) as handle:  # other bytes, same records
        handle.write(plain.read_bytes())
    again = scan(cli, db_url, wl, "--flows", copy)
    assert again.exit_code == 0 and "skipped 1" in again.stdout
    assert totals(db_url) == (12, 12, 1)


def test_other_path_spellings_are_one_file(
    cli: Any, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``a/f.csv``, ``./a/../a/f.csv`` and a symlink to it: one file, which resumes where any
    spelling left it."""
    wl = watchlists(tmp_path)
    (tmp_path / "a").mkdir()
    log = write_csv(tmp_path / "a" / "f.csv", flow_rows(0, 8))
    (tmp_path / "link.csv").symlink_to(log)
    monkeypatch.chdir(tmp_path)
    assert scan(cli, db_url, wl, "--flows", "a/f.csv").exit_code == 0
    unchanged = scan(cli, db_url, wl, "--flows", "./a/../a/f.csv")
    assert "skipped 1" in unchanged.stdout and totals(db_url) == (8, 8, 1)

    write_csv(log, flow_rows(8, 3), header=False)
    grown = scan(cli, db_url, wl, "--flows", "./a/../a/f.csv")
    assert grown.exit_code == 0, grown.stderr
    assert "grew since it was read" in grown.stderr and "read 3," in grown.stdout
    write_csv(log, flow_rows(11, 2), header=False)
    linked = scan(cli, db_url, wl, "--flows", "link.csv")
    assert "grew since it was read" in linked.stderr and "read 2," in linked.stdout
    assert totals(db_url) == (13, 13, 3)


def test_wrong_format_fails_the_input_and_a_rescan_reads_it(
    cli: Any, db_url: str, tmp_path: Path
) -> None:
    """``--format nfcapd`` on a CSV fails the input without recording it; the scan with the
    right format reads it. A file with nfcapd's magic but a layout nfdump does not read fails
    alone in its directory (exit 3), the CSV beside it read."""
    wl = watchlists(tmp_path)
    text = write_csv(tmp_path / "flows.csv", flow_rows(0, 6))
    wrong = scan(cli, db_url, wl, "--flows", text, "--format", "nfcapd")
    assert wrong.exit_code != 0
    (line,) = [x for x in wrong.stderr.splitlines() if "not an nfcapd file" in x]
    assert str(text) in line and "generic CSV" in line
    assert totals(db_url) == (0, 0, 0)
    right = scan(cli, db_url, wl, "--flows", text, "--format", "csv")
    assert right.exit_code == 0 and "read 6," in right.stdout
    assert totals(db_url) == (6, 6, 1)

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    write_csv(mixed / "b.csv", flow_rows(6, 4))
    (mixed / "nfcapd.202611020800").write_bytes(b"\x0c\xa5\xd2\x5a" + bytes(200))
    result = scan(cli, db_url, wl, "--flows", mixed)
    assert result.exit_code == 3, result.stderr
    assert "nfcapd.202611020800: is not an nfcapd file" in result.stderr
    assert "internal error" not in result.stderr
    assert totals(db_url) == (10, 10, 2)


def test_file_vanishing_before_it_is_read(
    cli: Any, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Deleted between listing and reading: that input fails, named; the others are read."""
    wl = watchlists(tmp_path)
    folder = tmp_path / "flows"
    folder.mkdir()
    for n, name in enumerate(("a.csv", "b.csv", "c.csv")):
        write_csv(folder / name, flow_rows(10 * n, 5))
    real_list = flow_watcher.list_inputs

    def list_then_delete(path: Path, *args: str) -> list[Path]:
        found = real_list(path, *args)
        (folder / "b.csv").unlink()  # rotated away by another program, just now
        return found

    monkeypatch.setattr(flow_watcher, "list_inputs", list_then_delete)
    result = scan(cli, db_url, wl, "--flows", folder)
    assert result.exit_code == 3, result.stderr
    (line,) = [x for x in result.stderr.splitlines() if "b.csv" in x]
    assert "vanished before it could be read" in line
    assert "internal error" not in result.stderr
    assert totals(db_url) == (10, 10, 2)


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A directory another user may enter (pytest's own are private to root)."""
    path = Path(tempfile.mkdtemp(prefix="chainwatch-unreadable-"))
    path.chmod(0o777)
    yield path
    shutil.rmtree(path)


def as_nobody(run: Callable[[], Any]) -> Any:
    """Run in this process as user nobody (effective uid), so that file permissions apply:
    root would read a mode-000 file."""
    os.setegid(65534)
    os.seteuid(65534)
    try:
        return run()
    finally:
        os.seteuid(0)
        os.setegid(0)


def test_unreadable_file_fails_alone(
    cli: Any, db_url: str, open_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file the scanning user may not read: that input fails, named, with the reason; the
    others are read; once readable, a rescan reads it."""
    if os.geteuid() != 0:
        pytest.skip("needs root to act as another user")  # pragma: no cover
    if db_url.startswith("sqlite"):
        db_url = f"sqlite:///{open_dir / 'chainwatch.db'}"
    wl = watchlists(open_dir)
    folder = open_dir / "flows"
    folder.mkdir()
    for n, name in enumerate(("a.csv", "b.csv", "c.csv")):
        write_csv(folder / name, flow_rows(10 * n, 5))
    (folder / "b.csv").chmod(0)
    assert scan(cli, db_url, wl, "--flows", folder / "a.csv").exit_code == 0  # db made as root
    if db_url.startswith("sqlite"):
        (open_dir / "chainwatch.db").chmod(0o666)
    monkeypatch.chdir(open_dir)
    result = as_nobody(lambda: scan(cli, db_url, wl, "--flows", folder))
    assert result.exit_code == 3, result.stderr
    (line,) = [x for x in result.stderr.splitlines() if "b.csv" in x]
    assert "cannot be read: Permission denied" in line
    assert "internal error" not in result.stderr
    assert totals(db_url) == (10, 10, 2)

    (folder / "b.csv").chmod(0o644)
    again = scan(cli, db_url, wl, "--flows", folder)
    assert again.exit_code == 0 and "read 5," in again.stdout
    assert totals(db_url) == (15, 15, 3)


def test_captures_share_the_input_rules(
    cli: Any, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Packet captures go through the same input handling: a gzip copy of a capture is the
    same input, and a capture that vanishes fails alone."""
    wl = watchlists(tmp_path)
    folder = tmp_path / "captures"
    folder.mkdir()
    talks = [
        Talk(f"175.45.176.{n + 1}", "198.51.100.40", 41000 + n, 4444, 1.79e9 + 10 * n,
             next(c for c in CASES if c.name == "stratum").messages)
        for n in range(3)
    ]  # fmt: skip
    packets = [frame for talk in talks for frame in frames(talk)]
    capture = write_pcap(folder / "a.pcap", packets)
    (folder / "a.pcap.gz").write_bytes(gzip.compress(capture.read_bytes()))
    write_pcap(folder / "b.pcap", packets[:4])
    real_list = flow_watcher.list_inputs

    def list_then_delete(path: Path, *args: str) -> list[Path]:
        found = real_list(path, *args)
        (folder / "b.pcap").unlink()
        return found

    monkeypatch.setattr(flow_watcher, "list_inputs", list_then_delete)
    result = scan(cli, db_url, wl, "--pcap", folder)
    assert result.exit_code == 3, result.stderr
    assert "skipped 1" in result.stdout and "a.pcap.gz: skipped, already read" in result.stderr
    (line,) = [x for x in result.stderr.splitlines() if "b.pcap" in x]
    assert "vanished before it could be read" in line
    assert totals(db_url) == (3, 3, 1)
