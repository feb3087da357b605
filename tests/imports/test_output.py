"""The provenance header and atomic writing of imported CSVs (``chainwatch.imports.output``)."""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from chainwatch import __version__
from chainwatch.errors import WatchlistError
from chainwatch.imports.output import (
    NothingImported,
    SourceFile,
    read_provenance,
    write_csv,
)

HEADER = ("name", "category", "coin", "address", "host", "port", "valid_from", "valid_to", "source")
SHA = hashlib.sha256(b"x").hexdigest()


def row(address: str, start: str, end: str) -> list[str]:
    return ["relay", "tor", "", address, "", "9001", start, end, "f.tar.xz"]


def test_header_rows_and_span(tmp_path: Path) -> None:
    target = tmp_path / "endpoints" / "tor.csv"
    sources = [SourceFile("a b.tar.xz", 10, SHA), SourceFile("c\nd", 3, SHA)]
    rows = [
        row("192.0.2.1", "2019-01-01T05:00:00Z", "2019-01-02T00:00:00Z"),
        row("192.0.2.2", "2019-01-01", "2019-03-01T05:00:00Z"),
        # a date alone as valid_to is the whole day: later than 05:00 that day
        row("192.0.2.3", "2019-02-01", "2019-03-01"),
    ]
    summary = write_csv(
        target, "catalog", "tor", "catalog import tor-consensus", sources, HEADER, rows
    )
    assert summary.rows == 3
    assert (summary.span_from, summary.span_to) == ("2019-01-01", "2019-03-01")
    lines = target.read_text().splitlines()
    assert lines[0] == "# chainwatch catalog tor"
    assert lines[1].startswith("# imported 20") and lines[1].endswith(
        f"by chainwatch {__version__}: catalog import tor-consensus"
    )
    assert lines[2] == f"# source a b.tar.xz size=10 sha256={SHA}"
    assert lines[3] == f"# source c\\x0ad size=3 sha256={SHA}"  # a newline cannot end the comment
    assert lines[4] == "# span 2019-01-01 2019-03-01"
    assert lines[5] == ",".join(HEADER)
    assert (
        lines[6] == "relay,tor,,192.0.2.1,,9001,2019-01-01T05:00:00Z,2019-01-02T00:00:00Z,f.tar.xz"
    )
    assert len(lines) == 9
    assert not [p for p in target.parent.iterdir() if p.name != "tor.csv"]  # no temp files left

    provenance = read_provenance(target)
    assert provenance is not None
    assert provenance.kind == "catalog" and provenance.name == "tor"
    assert provenance.command == "catalog import tor-consensus"
    assert provenance.version == __version__
    assert provenance.sources[0] == SourceFile("a b.tar.xz", 10, SHA)
    assert provenance.span == ("2019-01-01", "2019-03-01")
    assert abs(provenance.imported_at - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=1)


def test_unbounded_span_is_a_dash(tmp_path: Path) -> None:
    target = tmp_path / "kp.csv"
    write_csv(
        target,
        "watchlist",
        "kp",
        "watchlist import rir",
        [SourceFile("delegated-apnic", 5, SHA)],
        ("cidr", "note", "source", "valid_from", "valid_to"),
        [["175.45.176.0/22", "", "apnic", "2009-01-01", ""]],
    )
    assert target.read_text().splitlines()[3] == "# span 2009-01-01 -"
    provenance = read_provenance(target)
    assert provenance is not None and provenance.span == ("2009-01-01", None)
    assert provenance.kind == "watchlist"


def test_failure_halfway_leaves_the_old_file(tmp_path: Path) -> None:
    target = tmp_path / "tor.csv"
    target.write_text("old\n")

    def rows() -> Iterator[list[str]]:
        yield row("192.0.2.1", "", "")
        raise RuntimeError("parser failed on line 7")

    with pytest.raises(RuntimeError):
        write_csv(target, "catalog", "tor", "c", [], HEADER, rows())
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["tor.csv"]


def test_no_rows_writes_nothing(tmp_path: Path) -> None:
    target = tmp_path / "tor.csv"
    with pytest.raises(NothingImported, match=r"no entries found in empty\.txt"):
        write_csv(target, "catalog", "tor", "c", [SourceFile("empty.txt", 0, SHA)], HEADER, [])
    assert list(tmp_path.iterdir()) == []


def test_hand_written_file_has_no_provenance(tmp_path: Path) -> None:
    target = tmp_path / "mine.csv"
    target.write_text("# my pools\nname,category\n")
    assert read_provenance(target) is None


def test_damaged_header_names_the_line(tmp_path: Path) -> None:
    target = tmp_path / "tor.csv"
    target.write_text(
        "# chainwatch catalog tor\n# imported 2026-11-27T20:00:00Z by chainwatch 1.0: c\n"
        "# source f.tar.xz size=ten sha256=00\nname\n"
    )
    with pytest.raises(
        WatchlistError, match=r"tor.csv:3: damaged provenance line; expected # source"
    ):
        read_provenance(target)
