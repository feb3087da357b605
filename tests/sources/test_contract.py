"""The contract every source format keeps, checked the same way on each through ``chainwatch
scan`` and the database (SQLite and PostgreSQL), whatever the code behind it:

(a) a broken record is counted and shown with its file:line (a capture: file:packet), and the
    rest of the input is stored; a damaged nfcapd file fails whole, naming the file;
(b) an input read before is skipped and stores nothing, under its own name or a copy's;
(c) a scan killed inside an input, then run again, stores what one clean scan stores;
(d) an empty input gives one clear line, stores nothing and fails the scan (1), or makes it
    partial (3) beside a good input; an input of the format with no records in it is read;
(e) every event names a record that exists (``source_ref`` file:line or file:packet) and
    ``evidence_sha256`` is the SHA-256 of that record's raw bytes, which hold its address.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, func, select
from sqlalchemy.orm import Session

from chainwatch.store.models import Event, Input
from tests.conftest import PgDatabases
from tests.sources.conftest import write_watchlists
from tests.sources.contracts import (
    CONTRACTS,
    T0,
    Contract,
    scene,
    sha256,
    tshark_addresses,
)
from tests.sources.process import everything, kill_mid_input, run_to_end

RECORDS = 30
#: Records of the scene that are events: the connections to port 8333.
EVENTS = len([r for r in scene(RECORDS) if r.rport == 8333])


def scan(cli: Any, db_url: str, wl: Path, contract: Contract, path: Path) -> Any:
    return cli("--db", db_url, "--watchlists", wl, "scan", *contract.scan_args(path))


def events(db_url: str) -> list[Event]:
    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            return list(session.scalars(select(Event).order_by(Event.id)))
    finally:
        engine.dispose()


def count(db_url: str, model: Any) -> int:
    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)
    finally:
        engine.dispose()


# -- (a) bad records ---------------------------------------------------------------------------


def test_bad_record_counted_and_shown_where_it_is(
    cli: Any, db_url: str, wl: Path, tmp_path: Path, contract: Contract
) -> None:
    if contract.bad is None:  # nfcapd: no records to break one by one, a damaged file instead
        path = contract.write(tmp_path / "nfcapd.201905060000", scene(RECORDS), "damaged")
        result = scan(cli, db_url, wl, contract, path)
        assert result.exit_code == 1, result.stderr
        failed = [line for line in result.stderr.splitlines() if line.startswith("failed:")]
        assert len(failed) == 1 and failed[0].startswith(f"failed: {path}: "), result.stderr
        assert count(db_url, Event) == 0 and count(db_url, Input) == 0
        return
    path = contract.input(tmp_path / "in", "flows", scene(RECORDS), bad=True)
    where = contract.bad_number(path)
    result = scan(cli, db_url, wl, contract, path)
    assert result.exit_code == 0, result.stderr
    assert "bad 1" in result.stdout, result.stdout
    shown = [line for line in result.stderr.splitlines() if line.startswith(f"{path}:{where}: ")]
    assert len(shown) == 1, result.stderr
    assert "Traceback" not in result.stderr
    assert len(events(db_url)) == EVENTS  # the rest of the input was stored
    assert count(db_url, Input) == 1


# -- (b) re-reads ------------------------------------------------------------------------------


def test_reread_is_skipped_and_stores_nothing(
    cli: Any, db_url: str, wl: Path, tmp_path: Path, contract: Contract
) -> None:
    path = contract.input(tmp_path / "in", "flows", scene(RECORDS))
    first = scan(cli, db_url, wl, contract, path)
    assert first.exit_code == 0, first.stderr
    before = everything(db_url)
    assert len(before["events"]) == EVENTS and len(before["inputs"]) == 1
    copy = tmp_path / "copy" / path.name
    copy.parent.mkdir()
    shutil.copyfile(path, copy)
    for again in (path, copy):
        result = scan(cli, db_url, wl, contract, again)
        assert result.exit_code == 0, result.stderr
        assert f"{again}: skipped, already read" in result.stderr, result.stderr
        assert "stored 0, skipped 1" in result.stdout, result.stdout
        assert everything(db_url) == before


# -- (c) kill and rescan -----------------------------------------------------------------------

FILES = 3
#: Records per input: enough that storing one keeps its transaction open for a while.
ROWS = 10_000


def write_kill_inputs(directory: Path, contract: Contract) -> Path:
    """``watchlists/`` and ``inputs/`` (three inputs, five minutes apart) for ``spawn``."""
    write_watchlists(directory / "watchlists")
    inputs = directory / "inputs"
    # nfcapd: one nfpcapd run per input (one run over all of them writes its first five
    # minutes' flows into the second file and leaves the first without records)
    for f in range(FILES):
        contract.input(inputs, f"flows-{f}", scene(ROWS, T0 + f * 300))
    assert len(list(inputs.iterdir())) == FILES
    return directory


@pytest.fixture(scope="module")
def kill_work(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each format's inputs, written once for both databases (on first use)."""
    return {}


@pytest.mark.slow
def test_kill_mid_input_then_rescan_equals_one_clean_scan(
    db_url: str,
    contract: Contract,
    kill_work: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
    pg_databases: PgDatabases,
) -> None:
    if contract.name not in kill_work:
        kill_work[contract.name] = write_kill_inputs(
            tmp_path_factory.mktemp(f"kill-{contract.name}"), contract
        )
    work = kill_work[contract.name]
    command = ("scan", *contract.scan_args(Path("inputs")))
    clean = f"sqlite:///{work / 'clean.db'}" if db_url.startswith("sqlite") else pg_databases.new()
    run_to_end(clean, work, *command)
    reference = everything(clean)
    assert len(reference["inputs"]) == FILES and reference["events"]

    committed = kill_mid_input(db_url, work, *command, inputs=FILES, after_one=not contract.grouped)
    err = run_to_end(db_url, work, *command)
    assert err.count("skipped, already read") == committed  # what the kill left stands
    assert everything(db_url) == reference


# -- (d) empty inputs --------------------------------------------------------------------------

#: Formats whose input without records is more than an empty file (a header, a capture's
#: file header). nfdump prints "No matching flows" for a file without records (or without any
#: the watch filter keeps, the common case of a quiet five minutes): that is no record either.
HEADED = [c for c in CONTRACTS if c.name not in {"zeek-json", "eve"}]


def test_empty_input_says_so_and_stores_nothing(
    cli: Any, db_url: str, wl: Path, tmp_path: Path, contract: Contract
) -> None:
    path = tmp_path / f"empty{contract.suffix}"
    path.write_bytes(b"")
    result = scan(cli, db_url, wl, contract, path)
    assert result.exit_code == 1, result.stderr  # the scan's only input failed: an error
    assert f"failed: {path}: is empty" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert count(db_url, Event) == 0 and count(db_url, Input) == 0  # not marked read

    # Beside a good input, the empty one makes the scan partial (3): the good one is stored.
    folder = tmp_path / "both"
    contract.input(folder, "good", scene(RECORDS))
    shutil.move(path, folder / path.name)
    both = scan(cli, db_url, wl, contract, folder)
    assert both.exit_code == 3, both.stderr
    assert f"{folder / path.name}: is empty" in both.stderr, both.stderr
    assert len(events(db_url)) == EVENTS and count(db_url, Input) == 1


@pytest.mark.parametrize("contract", HEADED, ids=[c.name for c in HEADED], indirect=True)
def test_input_without_records_is_read_and_stores_no_events(
    cli: Any, db_url: str, wl: Path, tmp_path: Path, contract: Contract
) -> None:
    """A header and no records (JSON-lines formats have none: theirs is the empty file)."""
    path = contract.input(tmp_path / "in", "flows", [])
    result = scan(cli, db_url, wl, contract, path)
    assert result.exit_code == 0, result.stderr
    assert "read 0" in result.stdout and "bad 0" in result.stdout, result.stdout
    stored = everything(db_url)
    assert stored["events"] == [] and stored["rollups"] == []


# -- (e) provenance ----------------------------------------------------------------------------


def test_every_event_names_its_raw_record(
    cli: Any, db_url: str, wl: Path, tmp_path: Path, contract: Contract
) -> None:
    path = contract.input(tmp_path / "in", "flows", scene(RECORDS), bad=contract.bad is not None)
    result = scan(cli, db_url, wl, contract, path)
    assert result.exit_code == 0, result.stderr
    found = events(db_url)
    assert len(found) == EVENTS
    records = contract.records_of(path)
    refs = set()
    for event in found:
        name, _, number = event.source_ref.rpartition(":")
        assert name == str(path), event.source_ref
        assert number.isdigit() and 1 <= int(number) <= len(records), event.source_ref
        raw = records[int(number) - 1]
        assert not contract.is_bad(raw)
        assert event.evidence_sha256 == sha256(raw), event.source_ref
        assert contract.names(raw, event.local_ip) and contract.names(raw, event.remote_ip)
        refs.add(event.source_ref)
    assert len(refs) == len(found)  # one record, one event
    if contract.option == "--pcap":  # tshark frames the capture as chainwatch does
        for event in found[:2]:
            number = int(event.source_ref.rpartition(":")[2])
            assert {event.local_ip, event.remote_ip} <= tshark_addresses(path, number)


def test_the_table_covers_every_format() -> None:
    assert [c.name for c in CONTRACTS] == [
        "csv", "nfdump", "nfcapd", "zeek", "zeek-json", "eve", "pcap", "pcapng"
    ]  # fmt: skip
