"""``chainwatch scan --cluster``: a scan on a Dask LocalCluster stores exactly what a scan in
one process stores (events, rollups, rollup addresses, inputs), on SQLite and PostgreSQL,
for CSV files whose connections' two records lie in different files and for a directory of
real nfcapd files (read by nfdump on the workers); addresses and schedulers that do not work
are one-line errors; the database password never travels in a task."""

from __future__ import annotations

import pickle
import subprocess
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from chainwatch.flows import ranges
from chainwatch.flows.inputs import describe
from chainwatch.store.models import Event, Input, Rollup, RollupAddress
from tests.conftest import PgDatabases, require_binary
from tests.flows.pcapgen import Conn, write_pcap
from tests.reliability.test_concurrency import write_files

T0 = 1495015200.0  # 2017-05-17 10:00:00 UTC
SKIP_EVENT = {"id", "input_id", "scan_id", "recorded_at"}


def _rows(url: str, model: Any, skip: set[str]) -> list[tuple[Any, ...]]:
    engine = create_engine(url)
    try:
        with Session(engine) as session:
            names = [c.name for c in model.__table__.columns if c.name not in skip]
            found = session.execute(select(*(model.__table__.c[n] for n in names))).all()
            return sorted((tuple(row) for row in found), key=repr)
    finally:
        engine.dispose()


def stored(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """What a scan stores, all columns but ids and times of storing."""
    return {
        "events": _rows(url, Event, SKIP_EVENT),
        "rollups": _rows(url, Rollup, {"id"}),
        "addresses": _rows(url, RollupAddress, {"id"}),
        "inputs": _rows(url, Input, {"id", "path", "read_at", "scan_id"}),
    }


@pytest.fixture
def wl(tmp_path: Path) -> Path:
    directory = tmp_path / "watchlists"
    directory.mkdir()
    (directory / "kp.toml").write_text('[[ranges]]\ncidr = "175.45.176.0/22"\n')
    return directory


@pytest.fixture
def two_urls(db_url: str, tmp_path: Path, pg_databases: PgDatabases) -> tuple[str, str]:
    """Two fresh databases on the backend of ``db_url``."""
    if db_url.startswith("sqlite"):
        return db_url, f"sqlite:///{tmp_path / 'cluster.db'}"
    return db_url, pg_databases.new()


def nfcapd_dir(tmp_path: Path) -> Path:
    """Real nfcapd files as nfpcapd writes them: one per five minutes with connections."""
    nfpcapd = require_binary("nfpcapd")
    conns = []
    for window in range(6):
        at = T0 + window * 300
        for k in range(5):
            local = f"175.45.176.{1 + k}"
            conns.append(Conn(local, "198.51.100.7", 40000 + window * 10 + k, 8333, at + k))
            conns.append(Conn("192.0.2.1", "198.51.100.8", 41000 + k, 443, at + k + 0.5))
    out = tmp_path / "nfcapd"
    out.mkdir()
    pcap = write_pcap(tmp_path / "flows.pcap", conns)
    subprocess.run([nfpcapd, "-r", str(pcap), "-w", str(out)], check=True, capture_output=True)
    assert len(list(out.rglob("nfcapd.*"))) >= 4
    return out


def both(cli: Any, wl: Path, urls: tuple[str, str], *args: Any) -> tuple[Any, Any]:
    """``scan ARGS`` in one process into the first database and on ``local:2`` into the
    second: the two results."""
    one, many = urls
    alone = cli("--db", one, "--watchlists", wl, "scan", *args)
    spread = cli("--db", many, "--watchlists", wl, "scan", *args, "--cluster", "local:2")
    return alone, spread


def test_csv_files_as_one_process(
    cli: Any, wl: Path, tmp_path: Path, two_urls: tuple[str, str]
) -> None:
    directory = tmp_path / "csv"
    write_files(directory)
    one, many = two_urls
    alone, spread = both(cli, wl, two_urls, "--flows", directory)
    assert alone.exit_code == 0, alone.stderr
    assert spread.exit_code == 0, spread.stderr
    assert spread.stdout.split(" in ")[0] == alone.stdout.split(" in ")[0]
    expected = stored(one)
    assert len(expected["inputs"]) == 10 and expected["events"]
    assert stored(many) == expected
    again = cli(
        "--db", many, "--watchlists", wl, "scan", "--flows", directory, "--cluster", "local:2"
    )
    assert again.exit_code == 0, again.stderr
    assert "skipped 10" in again.stdout and "already read" in again.stderr
    assert stored(many) == expected


def test_copies_of_a_file_as_one_process(
    cli: Any, wl: Path, tmp_path: Path, two_urls: tuple[str, str]
) -> None:
    """Units stored side by side: a copy of a file read in a later unit (while the unit of
    the file itself may not have committed) is skipped as one process skips it, and the
    file is stored under its own path; so is a copy in the very next unit."""
    directory = tmp_path / "csv"
    write_files(directory)
    original = (directory / "flows-03.csv").read_bytes()
    (directory / "flows-03a.csv").write_bytes(original)  # the next unit
    (directory / "flows-09z.csv").write_bytes(original)  # the last one
    one, many = two_urls
    alone, spread = both(cli, wl, two_urls, "--flows", directory)
    assert alone.exit_code == 0, alone.stderr
    assert spread.exit_code == 0, spread.stderr
    assert "skipped 2" in alone.stdout
    assert spread.stdout.split(" in ")[0] == alone.stdout.split(" in ")[0]
    assert stored(many) == stored(one)
    others = {c.name for c in Input.__table__.columns} - {"path"}
    names = [sorted(Path(row[0]).name for row in _rows(url, Input, others)) for url in (one, many)]
    assert names[0] == names[1] and "flows-03.csv" in names[0] and "flows-03a.csv" not in names[0]


def test_csv_files_read_in_pieces_as_one_process(
    cli: Any, wl: Path, tmp_path: Path, two_urls: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from chainwatch.cluster import loop

    monkeypatch.setattr(loop, "PIECE_BYTES", 1000)  # each file of ~5 kB in pieces
    directory = tmp_path / "csv"
    write_files(directory)
    one, many = two_urls
    first = describe(directory / "flows-00.csv")
    assert len(ranges.split(first, "csv", target=1000)) > 2  # so each file is read in pieces
    alone, spread = both(cli, wl, two_urls, "--flows", directory)
    assert alone.exit_code == 0, alone.stderr
    assert spread.exit_code == 0, spread.stderr
    assert spread.stdout.split(" in ")[0] == alone.stdout.split(" in ")[0]
    assert stored(many) == stored(one)


def test_nfcapd_directory_as_one_process(
    cli: Any, wl: Path, tmp_path: Path, two_urls: tuple[str, str]
) -> None:
    directory = nfcapd_dir(tmp_path)
    one, many = two_urls
    alone, spread = both(cli, wl, two_urls, "--flows", directory)
    assert alone.exit_code == 0, alone.stderr
    assert spread.exit_code == 0, spread.stderr
    assert spread.stdout.split(" in ")[0] == alone.stdout.split(" in ")[0]
    expected = stored(one)
    assert expected["events"]
    assert stored(many) == expected


@pytest.mark.parametrize("address", ["local:0", "local:x", "tcp://", "http://127.0.0.1:8786", "x"])
def test_an_address_that_names_no_cluster(cli: Any, wl: Path, tmp_path: Path, address: str) -> None:
    result = cli("--watchlists", wl, "scan", "--flows", tmp_path, "--cluster", address)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "--cluster" in lines[0] and "tcp://HOST:PORT" in lines[0]


def test_a_bad_cluster_key_in_the_config(cli: Any, wl: Path, tmp_path: Path) -> None:
    config = tmp_path / "chainwatch.toml"
    config.write_text('cluster = "local:none"\n')
    result = cli("--config", config, "--watchlists", wl, "scan", "--flows", tmp_path)
    assert result.exit_code == 1  # a configuration error
    assert len(result.stderr.strip().splitlines()) == 1
    assert "cluster is 'local:none'" in result.stderr and "local:N" in result.stderr


def test_no_scheduler_there(cli: Any, wl: Path, tmp_path: Path) -> None:
    directory = tmp_path / "csv"
    write_files(directory)
    db = f"sqlite:///{tmp_path / 'x.db'}"
    result = cli(
        "--db",
        db,
        "--watchlists",
        wl,
        "scan",
        "--flows",
        directory,
        "--cluster",
        "tcp://127.0.0.1:9",
    )
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "tcp://127.0.0.1:9" in lines[0] and "scheduler" in lines[0]


def test_the_password_stays_out_of_tasks(
    cli: Any, wl: Path, tmp_path: Path, pg_databases: PgDatabases, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distributed import Client

    url = pg_databases.new().replace("postgres@", "postgres:s3cr3t-pw@")  # trust: ignored
    sent: list[bytes] = []
    submit, scatter = Client.submit, Client.scatter

    def submitted(self: Client, *args: Any, **kwargs: Any) -> Any:
        sent.append(pickle.dumps((args[1:], kwargs)))
        return submit(self, *args, **kwargs)

    def scattered(self: Client, data: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(pickle.dumps(data))
        return scatter(self, data, *args, **kwargs)

    monkeypatch.setattr(Client, "submit", submitted)
    monkeypatch.setattr(Client, "scatter", scattered)
    directory = tmp_path / "csv"
    write_files(directory)
    result = cli(
        "--db", url, "--watchlists", wl, "scan", "--flows", directory, "--cluster", "local:2"
    )
    assert result.exit_code == 0, result.stderr
    assert len(sent) > 10
    assert not [s for s in sent if b"s3cr3t-pw" in s]
    assert any(b"postgres@127.0.0.1" in s for s in sent)  # the URL went, without it
    assert "s3cr3t-pw" not in result.stderr + result.stdout


def test_strict_stops_where_one_process_stops(
    cli: Any, wl: Path, tmp_path: Path, two_urls: tuple[str, str]
) -> None:
    directory = tmp_path / "csv"
    paths = write_files(directory)
    with paths[3].open("a") as out:
        out.write("not,a,record\n")
    one, many = two_urls
    alone, spread = both(cli, wl, two_urls, "--strict", "--flows", directory)
    assert alone.exit_code == 1, alone.stderr
    assert spread.exit_code == 1, spread.stderr
    assert spread.stderr.strip().splitlines()[-1] == alone.stderr.strip().splitlines()[-1]
    expected = stored(one)
    assert len(expected["inputs"]) == 3
    assert stored(many) == expected


def test_standard_input_is_read_here(cli: Any, wl: Path, tmp_path: Path) -> None:
    directory = tmp_path / "csv"
    first = write_files(directory)[0]
    db = f"sqlite:///{tmp_path / 'x.db'}"
    text = first.read_text()
    result = cli(
        "--db", db, "--watchlists", wl, "scan", "--flows", "-", "--cluster", "local:1",
        input=text,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert "--cluster: flows read here: standard input is one stream" in result.stderr
    alone = f"sqlite:///{tmp_path / 'alone.db'}"
    assert cli("--db", alone, "--watchlists", wl, "scan", "--flows", "-", input=text).exit_code == 0
    assert stored(db) == stored(alone)
