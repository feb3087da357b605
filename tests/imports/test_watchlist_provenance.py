"""Spans and sources of watchlists and catalogs: ``watchlist list|show``, the ``list_provenance``
rows a scan records (SQLite and PostgreSQL), export manifests, and migration 0008."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from alembic import command
from sqlalchemy import inspect

from chainwatch.store.db import alembic_config, current_revision, make_engine, open_store
from chainwatch.store.models import ListProvenance, ScanList
from tests.flows.conftest import rows
from tests.imports.watchlist_data import APNIC_EXTENDED, write_rir

CATALOG = """\
source = "pool operators' own pages, 2019"
[[endpoints]]
name = "docpool"
category = "xmr-pool"
ips = ["203.0.113.10"]
ports = [3333]
valid_from = "2017-01-01"
valid_to = "2022-08-12"
[[endpoints]]
name = "oldpool"
category = "btc-pool"
ips = ["203.0.113.11"]
valid_from = "2016-06-01"
valid_to = "2018-12-31"
"""
MANUAL = """\
description = "hand-written"
source = "Recorded Future, July 2017"
[[ranges]]
cidr = "198.51.100.0/24"
"""


def _lists(tmp_path: Path, cli: Any) -> Path:
    (rir,) = write_rir(tmp_path / "data")
    lists = tmp_path / "lists"
    result = cli("--watchlists", lists, "watchlist", "import", "rir", rir, "--name", "kp",
                 "--country", "KP")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    (lists / "manual.toml").write_text(MANUAL)
    (lists / "endpoints").mkdir()
    (lists / "endpoints" / "pools.toml").write_text(CATALOG)
    return lists


def test_list_and_show_give_span_and_sources(cli: Any, tmp_path: Path) -> None:
    lists = _lists(tmp_path, cli)
    listed = cli("--watchlists", lists, "watchlist", "list")
    assert listed.exit_code == 0, listed.stderr
    assert "kp" in listed.stdout and "pools" in listed.stdout  # the tables are still there
    lines = listed.stdout.splitlines()
    assert (
        "  watchlist kp: span 2005-04-15..unbounded; sources delegated-apnic-extended-latest"
        in lines
    )
    assert "  watchlist manual: span unbounded; sources Recorded Future, July 2017" in lines
    assert (
        "  catalog pools: span 2016-06-01..2022-08-12; sources pool operators' own pages, 2019"
        in lines
    )
    shown = cli("--watchlists", lists, "watchlist", "show", "kp")
    assert shown.exit_code == 0, shown.stderr
    digest = hashlib.sha256(APNIC_EXTENDED.encode()).hexdigest()
    assert "span: 2005-04-15..unbounded" in shown.stdout
    assert (
        f"source file: delegated-apnic-extended-latest ({len(APNIC_EXTENDED):,} bytes, "
        f"sha256 {digest})"
    ) in shown.stdout
    assert "imported: " in shown.stdout and "watchlist import rir --name kp --country=KP" in (
        shown.stdout
    )
    assert "175.45.176.0/23" in shown.stdout
    catalog = cli("--watchlists", lists, "watchlist", "show", "pools")
    assert catalog.exit_code == 0, catalog.stderr
    assert "catalog of 2 endpoints: btc-pool, xmr-pool" in catalog.stdout
    assert "span: 2016-06-01..2022-08-12" in catalog.stdout
    missing = cli("--watchlists", lists, "watchlist", "show", "nope")
    assert missing.exit_code == 1
    assert "no watchlist named 'nope'; expected one of: kp, manual; or a catalog: pools" in (
        missing.stderr
    )


def _scan(cli: Any, db_url: str, lists: Path, flows: Path, ts: str) -> None:
    flows.write_text(
        f"ts,src_ip,dst_ip,src_port,dst_port,proto\n{ts},175.45.176.5,203.0.113.10,40000,3333,tcp\n"
    )
    result = cli("--db", db_url, "--watchlists", lists, "scan", "--flows", flows)
    assert result.exit_code == 0, result.stderr


def test_scans_record_lists_and_manifests_list_them(cli: Any, db_url: str, tmp_path: Path) -> None:
    lists = _lists(tmp_path, cli)
    _scan(cli, db_url, lists, tmp_path / "a.csv", "2019-01-01T00:00:00Z")
    _scan(cli, db_url, lists, tmp_path / "b.csv", "2019-01-02T00:00:00Z")
    stored = rows(db_url, ListProvenance)
    assert [(r.kind, r.name) for r in stored] == [
        ("watchlist", "kp"),
        ("watchlist", "manual"),
        ("catalog", "pools"),
    ]  # once each, though two scans used them
    kp = stored[0]
    assert kp.sha256 == hashlib.sha256((lists / "kp.csv").read_bytes()).hexdigest()
    assert kp.sources == [
        {
            "name": "delegated-apnic-extended-latest",
            "size": len(APNIC_EXTENDED),
            "sha256": hashlib.sha256(APNIC_EXTENDED.encode()).hexdigest(),
        }
    ]
    assert kp.imported_at is not None and kp.command is not None
    assert kp.span_from is not None and kp.span_from.isoformat() == "2005-04-15T00:00:00+00:00"
    assert kp.span_to is None
    assert stored[1].sources == [{"name": "Recorded Future, July 2017"}]
    assert stored[1].imported_at is None
    assert stored[2].span_to is not None and stored[2].span_to.date().isoformat() == "2022-08-12"
    assert len(rows_of(db_url)) == 6  # 2 scans x 3 lists
    # A re-imported kp is a new file: the next scan records it beside the old one.
    (rir,) = write_rir(tmp_path / "data2")
    again = cli("--watchlists", lists, "watchlist", "import", "rir", rir, "--name", "kp",
                "--country", "KP", "--country", "AU", "--replace")  # fmt: skip
    assert again.exit_code == 0, again.stderr
    _scan(cli, db_url, lists, tmp_path / "c.csv", "2019-01-03T00:00:00Z")
    new_sha = hashlib.sha256((lists / "kp.csv").read_bytes()).hexdigest()
    assert [r.sha256 for r in rows(db_url, ListProvenance) if r.name == "kp"] == [
        kp.sha256,
        new_sha,
    ]

    def manifest_lists(*options: str) -> list[dict[str, Any]]:
        out = tmp_path / f"export{len(options)}"
        result = cli("--db", db_url, "export", "--out", out, *options)
        assert result.exit_code == 0, result.stderr
        manifest = json.loads((out / "manifest.json").read_text())
        return list(manifest["lists"])

    everything = manifest_lists()
    assert [(e["kind"], e["name"], e["sha256"]) for e in everything] == [
        ("watchlist", "kp", kp.sha256),
        ("watchlist", "kp", new_sha),
        ("watchlist", "manual", stored[1].sha256),
        ("catalog", "pools", stored[2].sha256),
    ]
    assert everything[0]["sources"] == kp.sources
    assert everything[0]["span"] == ["2005-04-15T00:00:00Z", None]
    # Only the last scan's event: only the kp it used.
    latest = manifest_lists("--since", "2019-01-03")
    assert [(e["name"], e["sha256"]) for e in latest if e["name"] == "kp"] == [("kp", new_sha)]


def rows_of(db_url: str) -> list[Any]:
    from sqlalchemy import create_engine, select
    from sqlalchemy.orm import Session

    engine = create_engine(db_url)
    try:
        with Session(engine) as session:
            return list(session.scalars(select(ScanList)))
    finally:
        engine.dispose()


def test_migration_0008_down_and_up(db_url: str) -> None:
    open_store(db_url).close()
    engine = make_engine(db_url)
    try:
        with engine.begin() as connection:
            config = alembic_config(db_url)
            config.attributes["connection"] = connection
            command.downgrade(config, "0006")
        tables = set(inspect(engine).get_table_names())
        assert "list_provenance" not in tables and "scan_lists" not in tables
        assert current_revision(engine) == "0006"
        open_store(db_url).close()
        tables = set(inspect(engine).get_table_names())
        assert {"list_provenance", "scan_lists"} <= tables
    finally:
        engine.dispose()


def test_imported_catalog_csv_shows_its_source_files(cli: Any, db_url: str, tmp_path: Path) -> None:
    lists = _lists(tmp_path, cli)
    pools = tmp_path / "pools.txt"
    pools.write_text("# pools seen in 2019\n203.0.113.20\n203.0.113.21\n")
    imported = cli("--watchlists", lists, "catalog", "import", "list", pools, "--name", "seen",
                   "--category", "xmr-pool", "--valid-from", "2019-01-01",
                   "--valid-to", "2019-12-31")  # fmt: skip
    assert imported.exit_code == 0, imported.stderr
    listed = cli("--watchlists", lists, "watchlist", "list")
    assert "  catalog seen: span 2019-01-01..2019-12-31; sources pools.txt" in (
        listed.stdout.splitlines()
    )
    _scan(cli, db_url, lists, tmp_path / "a.csv", "2019-06-01T00:00:00Z")
    (seen,) = [r for r in rows(db_url, ListProvenance) if r.name == "seen"]
    assert seen.kind == "catalog" and seen.imported_at is not None
    assert seen.sources == [
        {
            "name": "pools.txt",
            "size": pools.stat().st_size,
            "sha256": hashlib.sha256(pools.read_bytes()).hexdigest(),
        }
    ]
    assert seen.span_to is not None and seen.span_to.date().isoformat() == "2019-12-31"


def test_damaged_provenance_header_is_said_not_fatal(cli: Any, db_url: str, tmp_path: Path) -> None:
    """The loader skips leading # lines, so a file whose header lost its '# imported' line is
    still used; list, show and the scan's record say what is wrong instead of its sources."""
    lists = tmp_path / "lists"
    lists.mkdir()
    (lists / "kp.csv").write_text(
        "# chainwatch watchlist kp\n# span - -\ncidr,note,source,valid_from,valid_to\n"
        "175.45.176.0/22,,,,\n"
    )
    problem = f"provenance header: {lists / 'kp.csv'}:2: provenance header has no '# imported' line"
    listed = cli("--watchlists", lists, "watchlist", "list")
    assert listed.exit_code == 0 and f"  watchlist kp: span unbounded; sources {problem}" in (
        listed.stdout.splitlines()
    )
    shown = cli("--watchlists", lists, "watchlist", "show", "kp")
    assert shown.exit_code == 0 and f"sources unknown: {problem}" in shown.stdout
    _scan(cli, db_url, lists, tmp_path / "a.csv", "2019-01-01T00:00:00Z")
    (kp,) = rows(db_url, ListProvenance)
    assert kp.sources == [{"problem": problem}] and kp.imported_at is None
