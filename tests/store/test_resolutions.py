"""The passive DNS store: migration 0007 carries the look-ups of earlier scans forward (and
back), and stored answers load for exact catalog hosts and ``*.`` patterns, on SQLite and
PostgreSQL."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import text

from chainwatch.passive_dns import Answer, Cluster
from chainwatch.store.db import make_engine, open_store
from chainwatch.store.ingest import add_input
from chainwatch.store.resolutions import Resolution, add_answers, add_resolutions, load_answers
from chainwatch.store.scans import start_scan
from tests.store.test_migrations import _downgrade

T = dt.datetime(2019, 5, 16, 9, 46, 40, tzinfo=dt.UTC)


def test_0007_carries_lookups_forward_and_back(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        open_store(db_url).close()
        with engine.begin() as connection:
            _downgrade(connection, db_url, "0006")
            when = T if engine.dialect.name == "postgresql" else "2019-05-16 09:46:40.000000"
            for address, error in (("203.0.113.5", None), (None, "no addresses")):
                connection.execute(
                    text(
                        "INSERT INTO host_resolutions (host, address, resolved_at, error)"
                        " VALUES ('pool.example.org', :address, :when, :error)"
                    ),
                    {"address": address, "when": when, "error": error},
                )
        store = open_store(db_url)  # migrates to head
        try:
            assert load_answers(store, ["pool.example.org"]) == [
                Answer("pool.example.org", "203.0.113.5", T, "look-up at scan time")
            ]
            with engine.connect() as connection:
                kinds = connection.execute(
                    text("SELECT kind, seen_in, last_seen_in, error FROM host_resolutions")
                ).all()
            assert sorted(kinds, key=str) == sorted(
                [
                    ("lookup", "look-up at scan time", "look-up at scan time", None),
                    ("lookup", "look-up at scan time", "look-up at scan time", "no addresses"),
                ],
                key=str,
            )
            with store.write() as conn:
                input_id = add_input(
                    conn,
                    path="/x.pcap",
                    size=1,
                    sha256="0" * 64,
                    fmt="pcap",
                    scan_id=None,
                    read_at=T,
                )
                seen = Answer("pool.example.org", "203.0.113.6", T, "/x.pcap:2")
                add_answers(conn, [Cluster(seen, seen)], input_id=input_id, scan_id=None)
        finally:
            store.close()
        with engine.begin() as connection:
            _downgrade(connection, db_url, "0006")
            left = connection.execute(
                text("SELECT address, error FROM host_resolutions ORDER BY address")
            ).all()
        # The look-ups stay; the answer from traffic, which 0006 cannot tell apart, goes.
        assert sorted(left, key=str) == sorted(
            [("203.0.113.5", None), (None, "no addresses")], key=str
        )
        open_store(db_url).close()  # and up again
    finally:
        engine.dispose()


def test_answers_load_for_names_and_patterns_with_both_ends(db_url: str) -> None:
    store = open_store(db_url)
    try:
        scan_id = start_scan(store, "scan", T)
        add_resolutions(
            store,
            scan_id,
            [
                Resolution("pool.example.org", "203.0.113.5"),
                Resolution("gone.example.org", None, "no addresses"),
            ],
            now=T,
        )
        first = Answer("a.pool.example.net", "203.0.113.7", T, "/c.pcap:3")
        last = Answer(
            "a.pool.example.net", "203.0.113.7", T + dt.timedelta(minutes=50), "/c.pcap:9"
        )
        lookalike = Answer("apool.example.net", "203.0.113.8", T, "/c.pcap:4")
        percent = Answer("x%pool.example.net", "203.0.113.9", T, "/c.pcap:5")
        with store.write() as conn:
            input_id = add_input(
                conn,
                path="/c.pcap",
                size=1,
                sha256="1" * 64,
                fmt="pcap",
                scan_id=scan_id,
                read_at=T,
            )
            add_answers(
                conn,
                [Cluster(first, last), Cluster(lookalike, lookalike), Cluster(percent, percent)],
                input_id=input_id,
                scan_id=scan_id,
            )
        loaded = load_answers(store, ["pool.example.org", "gone.example.org", "*.pool.example.net"])
        assert sorted(loaded, key=lambda a: (a.host, a.seen_at)) == [
            first,
            last,
            Answer("pool.example.org", "203.0.113.5", T, "look-up at scan time"),
        ]
        assert load_answers(store, ["*.example.net"]) == [first, last, lookalike, percent] or (
            sorted(load_answers(store, ["*.example.net"]), key=repr)
            == sorted([first, last, lookalike, percent], key=repr)
        )
    finally:
        store.close()
