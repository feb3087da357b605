"""Zeek dns.log, ssl.log and http.log through ``chainwatch scan``, TSV and JSON lines, on
SQLite and PostgreSQL: DNS answers attribute conn.log records to a catalog pool host (and stop
doing so past the horizon), TLS server names and HTTP hosts match catalog hosts, a miner's user
agent is mining, and ssl/http records are joined to conn.log by uid so that the event keeps the
connection's bytes, packets and times, once."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest

from chainwatch.store.models import Event, HostResolution, Input
from tests.flows.conftest import rows
from tests.sensors.zeeklogs import (
    POOL_ADDRESS,
    POOL_HOST,
    SSL_FIELDS,
    T0,
    XMRIG,
    jsonl,
    ssl_rows,
    tsv,
    watchlists,
    write_scene,
)


def line(form: str, index: int) -> int:
    """The line number of a log's ``index``-th record: TSV has 8 header lines; each log has
    a broken line after its second record."""
    return (9 if form == "tsv" else 1) + index + (1 if index >= 2 else 0)


def seconds(when: dt.datetime) -> float:
    return (when if when.tzinfo else when.replace(tzinfo=dt.UTC)).timestamp()


def events(db_url: str) -> list[Event]:
    return sorted(rows(db_url, Event), key=lambda e: seconds(e.observed_at))


def scan(cli: Any, db_url: str, wl: Path, *paths: Path) -> Any:
    flows = [a for p in paths for a in ("--flows", p)]
    return cli("--db", db_url, "--watchlists", wl, "scan", "--format", "zeek", *flows)


@pytest.mark.parametrize("form", ["tsv", "json"])
def test_scene_joins_attributes_and_counts_once(
    cli: Any, db_url: str, tmp_path: Path, form: str
) -> None:
    wl = watchlists(tmp_path / "watchlists")
    logs = write_scene(tmp_path / "logs", form)
    result = cli("--db", db_url, "--watchlists", wl, "scan", "--flows", tmp_path / "logs")
    assert result.exit_code == 0, result.stderr
    kind = "TSV" if form == "tsv" else "JSON lines"
    for name in ("conn", "dns", "ssl", "http"):
        assert f"{logs[name]}: detected Zeek {name}.log ({kind})" in result.stderr
    # Read in order: dns first (its answers attribute conn.log), ssl and http last.
    said = [s.split(":")[0] for s in result.stderr.splitlines() if ": detected" in s]
    assert [Path(s).stem for s in said] == ["dns", "conn", "http", "ssl"]
    for name in ("conn", "dns", "ssl", "http"):  # each broken line named with file:line
        assert f"{logs[name]}:{line(form, 2) - 1}: " in result.stderr
    assert "stored 4, skipped 0, bad 4" in result.stdout

    def ref(name: str, index: int) -> str:
        return f"{logs[name]}:{line(form, index)}"

    got = [
        (
            seconds(e.observed_at),
            e.local_ip,
            e.remote_ip,
            e.remote_port,
            e.category,
            e.detector,
            e.bytes,
            e.packets,
            e.source_ref,
            e.connection_key,
        )
        for e in events(db_url)
    ]
    assert got == [
        # TLS to the pool's name: conn.log's record with the connection's bytes and times
        (T0 + 10.25, "175.45.176.5", "203.0.113.20", 443, "xmr-pool", "endpoint", 3000, 22,
         ref("conn", 0), "zeek:C1sslpool"),
        # XMRig's user agent over HTTP: mining, the coin from the agent
        (T0 + 20.0, "175.45.176.6", "203.0.113.21", 8080, "xmr-pool", "payload", 700, 11,
         ref("conn", 1), "zeek:C2httpxmrig"),
        # a handshake naming the pool whose connection no conn.log holds: an event of its own
        (T0 + 50.0, "175.45.176.9", "203.0.113.29", 443, "xmr-pool", "endpoint", None, None,
         ref("ssl", 1), "zeek:C9sslalone"),
        # the address dns.log answered for the pool's name (through a CNAME), an hour later
        (T0 + 3600.0, "175.45.176.7", POOL_ADDRESS, 3333, "xmr-pool", "endpoint", 12000, 110,
         ref("conn", 2), "zeek:C3answered"),
    ]  # fmt: skip
    # The same address 30 days after the answer (C4), and ordinary HTTPS (C5): no event.
    tls, agent, alone, answered = events(db_url)
    assert tls.detail["sni"] == POOL_HOST and tls.detail["matched"] == POOL_HOST
    assert tls.detail["joined"] == ref("ssl", 0) and tls.detail["endpoint"] == "xmrpool"
    assert tls.coin == "xmr" and tls.confidence == pytest.approx(0.9)
    assert agent.detail["agent"] == XMRIG and agent.detail["coin_from"] == "agent"
    assert agent.detail["joined"] == ref("http", 0)
    assert agent.confidence == pytest.approx(0.6)
    assert alone.detail["sni"] == "XMR.Pool.Example." and alone.detail["matched"] == POOL_HOST
    assert "joined" not in alone.detail
    assert answered.detail["resolution"] == {
        "host": POOL_HOST,
        "address": POOL_ADDRESS,
        "seen_at": "2019-05-17T00:00:01Z",
        "seen_in": ref("dns", 0),
    }
    # Both names of the CNAME chain got the address; NXDOMAIN, empty and TXT answers none.
    stored = {(r.host, r.address, r.seen_in) for r in rows(db_url, HostResolution)}
    assert stored == {
        ("mine.alias.example", POOL_ADDRESS, ref("dns", 0)),
        (POOL_HOST, POOL_ADDRESS, ref("dns", 0)),
    }
    again = cli("--db", db_url, "--watchlists", wl, "scan", "--flows", tmp_path / "logs")
    assert again.exit_code == 0, again.stderr
    assert "stored 0, skipped 4" in again.stdout
    assert len(rows(db_url, Event)) == 4


def test_several_flows_paths_join_whatever_their_order(
    cli: Any, db_url: str, tmp_path: Path
) -> None:
    """conn.log named first on the command line is still read after the dns log and joined
    to the ssl/http logs; a path of several that does not exist fails alone (exit 3)."""
    wl = watchlists(tmp_path / "watchlists")
    logs = write_scene(tmp_path / "logs", "tsv")
    missing = tmp_path / "nowhere.log"
    result = scan(cli, db_url, wl, logs["conn"], missing, logs["ssl"], logs["http"], logs["dns"])
    assert result.exit_code == 3, result.stderr
    assert f"{missing}: does not exist" in result.stderr
    got = {e.connection_key: (e.bytes, e.source_ref) for e in rows(db_url, Event)}
    assert got == {
        "zeek:C1sslpool": (3000, f"{logs['conn']}:9"),
        "zeek:C2httpxmrig": (700, f"{logs['conn']}:10"),
        "zeek:C9sslalone": (None, f"{logs['ssl']}:10"),
        "zeek:C3answered": (12000, f"{logs['conn']}:12"),
    }
    assert len(rows(db_url, Input)) == 4


def test_ssl_alone_then_conn_and_later_ssl_never_count_twice(
    cli: Any, db_url: str, tmp_path: Path
) -> None:
    """Without conn.log, ssl.log's verdicts are events of their own. A later scan's conn.log
    and a rotated ssl.log naming the same connections again, hours later, add none."""
    wl = watchlists(tmp_path / "watchlists")
    logs = write_scene(tmp_path / "logs", "tsv")
    first = scan(cli, db_url, wl, logs["ssl"])
    assert first.exit_code == 0, first.stderr
    assert {e.connection_key: e.bytes for e in rows(db_url, Event)} == {
        "zeek:C1sslpool": None,
        "zeek:C9sslalone": None,
    }
    later = [[r[0] + 7200.0, *r[1:]] for r in ssl_rows()]
    rotated = tmp_path / "ssl.02-00-00.log"
    rotated.write_text(jsonl(SSL_FIELDS, later))
    second = scan(cli, db_url, wl, logs["conn"], rotated)
    assert second.exit_code == 0, second.stderr
    assert "stored 0," in second.stdout
    assert len(rows(db_url, Event)) == 2


def test_zeek_logs_alone_are_told_by_path_and_fields(cli: Any, db_url: str, tmp_path: Path) -> None:
    """An http.log without a ``#path`` line is told by its fields; a gzip-compressed one too;
    a user agent that is not a miner's and a host no catalog names give nothing."""
    import gzip

    wl = watchlists(tmp_path / "watchlists")
    logs = write_scene(tmp_path / "logs", "tsv")
    text = logs["http"].read_text().replace("#path\thttp\n", "")
    packed = tmp_path / "http.log.gz"
    packed.write_bytes(gzip.compress(text.encode()))
    result = cli("--db", db_url, "--watchlists", wl, "scan", "--flows", packed)
    assert result.exit_code == 0, result.stderr
    assert f"{packed}: detected Zeek http.log (TSV)" in result.stderr
    (event,) = rows(db_url, Event)
    assert (event.category, event.bytes, event.detail["format"]) == ("xmr-pool", None, "zeek-http")
    assert event.detail["agent"] == XMRIG


def test_escaped_and_empty_values(cli: Any, db_url: str, tmp_path: Path) -> None:
    """Zeek escapes separators inside values (``\\x09``, ``\\x2c``); an answers vector that is
    ``(empty)`` and one with a set separator of its own are read as Zeek wrote them."""
    wl = watchlists(tmp_path / "watchlists")
    logs = write_scene(tmp_path / "logs", "tsv")
    dns = logs["dns"].read_text()
    dns = dns.replace("#set_separator\t,", "#set_separator\t|").replace(
        f"{POOL_HOST},{POOL_ADDRESS}", f"{POOL_HOST}|{POOL_ADDRESS}"
    )
    logs["dns"].write_text(dns)
    ssl = tsv("ssl", SSL_FIELDS, [[T0 + 9.0, "Cesc", "175.45.176.4", 1, "203.0.113.9", 443,
                                   "TLSv13", "x", "xmr.pool.example\t", True]])  # fmt: skip
    logs["ssl"].write_text(ssl)
    result = cli("--db", db_url, "--watchlists", wl, "scan", "--flows", tmp_path / "logs")
    assert result.exit_code == 0, result.stderr
    keys = {e.connection_key: e.detail for e in rows(db_url, Event)}
    assert "zeek:C3answered" in keys  # the answer still read with "|" between elements
    assert keys["zeek:Cesc"]["sni"] == POOL_HOST + "\t"  # unescaped; the catalog still matches


def test_growing_and_concatenated_logs(cli: Any, db_url: str, tmp_path: Path) -> None:
    """An http.log that grows between scans is read from where the last scan stopped, its
    header kept and its line numbers going on; a second log appended with ``cat`` (its own
    header after the first's ``#close``) is read with its own layout."""
    wl = watchlists(tmp_path / "watchlists")
    logs = write_scene(tmp_path / "logs", "tsv")
    path = logs["http"]
    first_part = path.read_text()
    path.write_text(first_part)
    one = scan(cli, db_url, wl, path)
    assert one.exit_code == 0, one.stderr
    assert {e.connection_key for e in rows(db_url, Event)} == {"zeek:C2httpxmrig"}
    # Zeek's next log, other columns in another order, appended as `cat` would.
    more = [("ts", "time"), ("host", "string"), ("user_agent", "string"), ("method", "string"),
            ("uri", "string"), ("uid", "string"), ("id.orig_h", "addr"), ("id.orig_p", "port"),
            ("id.resp_h", "addr"), ("id.resp_p", "port")]  # fmt: skip
    record = [T0 + 900.0, POOL_HOST, "-", "POST", "/", "C10later", "175.45.176.10", 40010,
              "203.0.113.30", 80]  # fmt: skip
    with path.open("a") as handle:
        handle.write(tsv("http", more, [record]))
    two = scan(cli, db_url, wl, path)
    assert two.exit_code == 0, two.stderr
    assert "grew since it was read" in two.stderr
    assert "stored 1," in two.stdout
    later = [e for e in rows(db_url, Event) if e.connection_key == "zeek:C10later"]
    assert [(e.source_ref, e.detail["host"], e.detail["matched"]) for e in later] == [
        (f"{path}:{len(first_part.splitlines()) + 9}", POOL_HOST, POOL_HOST)
    ]
