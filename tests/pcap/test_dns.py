"""DNS answers in captures attribute later connections to catalog hosts, as of the capture's
own time, through the real CLI on SQLite and PostgreSQL.

A watched client asks its resolver for a catalog pool's name (over UDP, and over TCP with the
response cut into segments), then connects to the answered address with a TLS hello naming
another server: the connection is the pool's (detector ``endpoint``) and its event's
``detail`` cites the answer (host, address, when, which packet). The same connection 30 days
later, in another capture with no answer, is not a pool connection (the stored answer is out
of the horizon), unless ``dns_horizon`` is made long enough. tshark reads the same messages
as chainwatch does. Hostile messages (pointer loops, forward pointers, cut short, truncated,
failures, stray records) give no answers and never an error.
"""

from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path
from typing import Any

import pytest

from chainwatch.classify import Classifier
from chainwatch.flows.inputs import describe
from chainwatch.pcap import dns, reader
from chainwatch.pcap.dns import parse
from chainwatch.pcap.reader import CaptureReader
from chainwatch.store.models import Event, HostResolution, Rollup
from chainwatch.watchlists.matcher import RangeMatcher
from tests.conftest import require_binary
from tests.flows.conftest import rows
from tests.pcap import dnsgen as dg
from tests.pcap.capgen import Frame, Talk, client_hello, frames, udp, write_pcap

T0 = 1558000000.0  # 2019-05-16 09:46:40 UTC
CLIENT, RESOLVER = "175.45.176.5", "192.0.2.53"
XMR_HOST, XMR_ADDRESS = "xmr.pool.example", "203.0.113.50"
BTC_HOST, BTC_ADDRESS = "stratum.btcpool.example", "203.0.113.60"
EDGE = "edge.cdn.example"  # the name the pool's address is an alias of
DAY = 86400.0

CATALOG = f"""
[[endpoints]]
name = "xmrpool"
category = "xmr-pool"
hosts = ["{XMR_HOST}"]

[[endpoints]]
name = "btcpool"
category = "btc-pool"
hosts = ["{BTC_HOST}"]
ports = [3333]
"""


@pytest.fixture
def lists(tmp_path: Path) -> Path:
    directory = tmp_path / "watchlists"
    (directory / "endpoints").mkdir(parents=True)
    (directory / "kp.txt").write_text("175.45.176.0/22\n")
    (directory / "endpoints" / "pools.toml").write_text(CATALOG)
    return directory


def scan(cli: Any, db_url: str, lists: Path, *args: Any) -> Any:
    return cli("--db", db_url, "--watchlists", lists, "scan", *args)


def connection(at: float, address: str, port: int, cport: int) -> list[Frame]:
    """A TLS connection from the client to ``address`` whose hello names no catalog host."""
    return frames(Talk(CLIENT, address, cport, port, at, [("c", client_hello("www.example.com"))]))


def tcp_lookup(at: float) -> list[Frame]:
    """DNS over TCP for the btc pool: the response arrives in 5-byte segments."""
    answer = dg.response(BTC_HOST, [dg.address(dg.TO_QUESTION, BTC_ADDRESS)], ident=7)
    query = dg.tcp_framed(dg.query(BTC_HOST, ident=7))
    messages = [("c", query), ("s", dg.tcp_framed(answer))]
    return frames(Talk(CLIENT, RESOLVER, 51001, 53, at, messages, segment=5))


def dns_capture(path: Path, at: float) -> Path:
    """Answers for both pools, then a connection to each pool's address."""
    udp_answer = dg.cname_chain(XMR_HOST, EDGE, [XMR_ADDRESS, "2001:db8::50"])
    packets: list[Frame] = [
        (at, udp(CLIENT, RESOLVER, 51000, 53, dg.query(XMR_HOST))),
        (at + 0.01, udp(RESOLVER, CLIENT, 53, 51000, udp_answer)),
    ]
    packets += tcp_lookup(at + 0.1)
    packets += connection(at + 1, XMR_ADDRESS, 443, 40001)
    packets += connection(at + 2, BTC_ADDRESS, 3333, 40002)
    return write_pcap(path, packets)


def test_answer_in_a_capture_attributes_the_connection_that_follows(
    cli: Any, db_url: str, lists: Path, tmp_path: Path
) -> None:
    path = dns_capture(tmp_path / "with-dns.pcap", T0)
    result = scan(cli, db_url, lists, "--pcap", path)
    assert result.exit_code == 0, result.stderr
    events = {e.remote_ip: e for e in rows(db_url, Event)}
    assert set(events) == {XMR_ADDRESS, BTC_ADDRESS}
    xmr, btc = events[XMR_ADDRESS], events[BTC_ADDRESS]
    assert (xmr.category, xmr.detector, xmr.remote_port) == ("xmr-pool", "endpoint", 443)
    assert (btc.category, btc.detector, btc.remote_port) == ("btc-pool", "endpoint", 3333)
    # The asked name is cited (the CNAME's target is an answer too, but not a catalog host).
    assert xmr.detail["endpoint"] == "xmrpool"
    assert xmr.detail["resolution"] == {
        "host": XMR_HOST,
        "address": XMR_ADDRESS,
        "seen_at": "2019-05-16T09:46:40.010000Z",
        "seen_in": f"{path}:2",
    }
    # Over TCP the answer is seen in the packet that completed the message.
    completing = 2 + len(tcp_lookup(T0)) - 3  # its last data segment, before the FINs
    resolution = btc.detail["resolution"]
    assert (resolution["host"], resolution["address"]) == (BTC_HOST, BTC_ADDRESS)
    assert resolution["seen_in"] == f"{path}:{completing}"

    stored = {
        (r.host, r.address, r.kind, r.seen_in, r.input_id is not None)
        for r in rows(db_url, HostResolution)
    }
    assert stored == {
        (XMR_HOST, XMR_ADDRESS, "traffic", f"{path}:2", True),
        (XMR_HOST, "2001:db8::50", "traffic", f"{path}:2", True),
        (EDGE, XMR_ADDRESS, "traffic", f"{path}:2", True),
        (EDGE, "2001:db8::50", "traffic", f"{path}:2", True),
        (BTC_HOST, BTC_ADDRESS, "traffic", f"{path}:{completing}", True),
    }


def test_the_same_connection_a_month_later_is_not_the_pool(
    cli: Any, db_url: str, lists: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = dns_capture(tmp_path / "with-dns.pcap", T0)
    assert scan(cli, db_url, lists, "--pcap", first).exit_code == 0
    later = write_pcap(tmp_path / "later.pcap", connection(T0 + 30 * DAY, XMR_ADDRESS, 443, 40009))
    result = scan(cli, db_url, lists, "--pcap", later)
    assert result.exit_code == 0, result.stderr
    assert "read 1, watched 1, classified 0, stored 0" in result.stdout, result.stdout
    assert [e.remote_ip for e in rows(db_url, Event)] == [XMR_ADDRESS, BTC_ADDRESS]
    month = dt.datetime.fromtimestamp(T0 + 30 * DAY, dt.UTC).replace(minute=0, second=0)
    assert {r.category for r in rows(db_url, Rollup) if r.hour == month} == {"other"}

    # A horizon that reaches back 30 days attributes it (the answer stored by the first scan).
    again = write_pcap(
        tmp_path / "again.pcap", connection(T0 + 30 * DAY + 60, XMR_ADDRESS, 443, 40010)
    )
    monkeypatch.setenv("CHAINWATCH_DNS_HORIZON", "31d")
    result = scan(cli, db_url, lists, "--pcap", again)
    assert "classified 1, stored 1" in result.stdout, result.stdout
    (event,) = [e for e in rows(db_url, Event) if e.local_port == 40010]
    assert event.category == "xmr-pool"
    assert event.detail["resolution"]["seen_in"] == f"{first}:2"


def test_answers_of_a_capture_attribute_flows_of_a_later_scan(
    cli: Any, db_url: str, lists: Path, tmp_path: Path
) -> None:
    """Answers are stored: flow records of the same period read by a later scan use them."""
    capture = dns_capture(tmp_path / "with-dns.pcap", T0)
    assert scan(cli, db_url, lists, "--pcap", capture).exit_code == 0
    when = dt.datetime.fromtimestamp(T0, dt.UTC)
    flows = tmp_path / "flows.csv"
    flows.write_text(
        "ts,src_ip,dst_ip,src_port,dst_port,proto\n"
        f"{(when + dt.timedelta(days=6)).isoformat()},175.45.176.9,{XMR_ADDRESS},41000,443,tcp\n"
        f"{(when + dt.timedelta(days=8)).isoformat()},175.45.176.9,{XMR_ADDRESS},41001,443,tcp\n"
        f"{(when - dt.timedelta(days=6)).isoformat()},175.45.176.9,{BTC_ADDRESS},41002,3333,tcp\n"
        f"{(when - dt.timedelta(days=6)).isoformat()},175.45.176.9,{BTC_ADDRESS},41003,80,tcp\n"
    )
    result = scan(cli, db_url, lists, "--flows", flows)
    assert result.exit_code == 0, result.stderr
    assert "read 4, watched 4, classified 2, stored 2" in result.stdout, result.stdout
    found = {e.local_port: e for e in rows(db_url, Event) if e.local_ip == "175.45.176.9"}
    assert set(found) == {41000, 41002}
    assert found[41000].category == "xmr-pool"
    assert found[41000].detail["resolution"]["seen_in"] == f"{capture}:2"
    assert found[41002].category == "btc-pool"


# --- the parser, on messages a hostile or broken network may carry ------------------------

WHEN = dt.datetime(2019, 5, 16, tzinfo=dt.UTC)


def answers(message: bytes) -> set[tuple[str, str]]:
    return {(a.host, a.address) for a in parse(message, WHEN, "x:1")}


def test_cname_chain_and_compression() -> None:
    message = dg.cname_chain("Pool.Example.ORG", "b.example.net", ["192.0.2.7", "2001:db8::7"])
    assert answers(message) == {
        ("pool.example.org", "192.0.2.7"),
        ("pool.example.org", "2001:db8::7"),
        ("b.example.net", "192.0.2.7"),
        ("b.example.net", "2001:db8::7"),
    }


def test_records_not_reached_from_the_question_are_not_answers() -> None:
    stray = dg.response(
        "pool.example.org",
        [dg.address(dg.name("other.example.org"), "192.0.2.9")],
    )
    assert answers(stray) == set()
    loop = dg.response(
        "a.example.org",
        [
            dg.Record(dg.TO_QUESTION, dg.CNAME, dg.name("b.example.org")),
            dg.Record(dg.name("b.example.org"), dg.CNAME, dg.name("a.example.org")),
        ],
    )
    assert answers(loop) == set()
    chaos = dg.response("a.example.org", [dg.Record(dg.TO_QUESTION, dg.A, bytes(4), rclass=3)])
    assert answers(chaos) == set()


@pytest.mark.parametrize(
    "message",
    [
        dg.response("a.example.org", [dg.address(dg.TO_QUESTION, "192.0.2.1")], rcode=3),
        dg.response("a.example.org", [dg.address(dg.TO_QUESTION, "192.0.2.1")], truncated=True),
        dg.query("a.example.org"),
        dg.response("a.example.org", [dg.address(dg.TO_QUESTION, "192.0.2.1")])[:-2],
        dg.response("a.example.org", [dg.address(b"\xc0\x30", "192.0.2.1")]),  # forward
        dg.response("a.example.org", [dg.address(b"\xc0\x1d", "192.0.2.1")]),  # itself
        dg.response("a.example.org", [dg.Record(dg.TO_QUESTION, dg.A, b"\x01\x02\x03")]),
        b"\x12\x34\x81\x80\x00\x01\x00\x01",
        b"",
        b"\xff" * 64,
    ],
    ids=[
        "nxdomain",
        "tc-bit",
        "query",
        "cut-short",
        "forward-pointer",
        "self-pointer",
        "short-a-record",
        "header-cut",
        "empty",
        "garbage",
    ],
)
def test_damaged_and_unsuccessful_messages_give_no_answers(message: bytes) -> None:
    assert answers(message) == set()


def chainwatch_answers(path: Path) -> dict[int, set[tuple[str, str]]]:
    """Packet number -> the answers chainwatch reads from it (the whole capture, as a scan)."""
    reader = CaptureReader(
        describe(path, str(path)),
        RangeMatcher([]),
        Classifier([], {}),
    )
    found: dict[int, set[tuple[str, str]]] = {}
    for batch in reader.batches():
        for answer in batch.answers:
            number = int(answer.seen_in.rsplit(":", 1)[1])
            found.setdefault(number, set()).add((answer.host, answer.address))
    return found


def test_tshark_reads_the_same_answers(tmp_path: Path) -> None:
    """Wireshark's DNS dissector, given the capture, finds in the same packets (for TCP: the
    one completing the message) the same names and addresses."""
    tshark = require_binary("tshark")
    path = dns_capture(tmp_path / "with-dns.pcap", T0)
    fields = ["frame.number", "dns.qry.name", "dns.cname", "dns.a", "dns.aaaa", "_ws.malformed"]
    out = subprocess.run(
        [
            *(tshark, "-n", "-r", str(path), "-Y", "dns.flags.response == 1", "-T", "fields"),
            *(arg for field in fields for arg in ("-e", field)),
            *("-E", "separator=|", "-E", "aggregator=,"),
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    theirs: dict[int, set[tuple[str, str]]] = {}
    for line in out.splitlines():
        number, name, cname, a, aaaa, malformed = line.split("|")
        assert not malformed, line
        addresses = set(filter(None, f"{a},{aaaa}".split(",")))
        names = set(filter(None, f"{name},{cname}".split(",")))
        theirs[int(number)] = {(n, x) for n in names for x in addresses}
    assert len(theirs) == 2, out
    assert chainwatch_answers(path) == theirs


def test_answers_in_batches_of_their_own_still_come_first(
    cli: Any, db_url: str, lists: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A capture of mostly DNS hands its answers over in batches of their own (memory stays
    bounded); they still reach the classifier before the connections that follow them."""
    monkeypatch.setattr(reader, "ANSWERS", 1)
    monkeypatch.setattr(reader, "CHUNK", 2)
    path = dns_capture(tmp_path / "with-dns.pcap", T0)
    result = scan(cli, db_url, lists, "--pcap", path)
    assert result.exit_code == 0, result.stderr
    assert {(e.remote_ip, e.category) for e in rows(db_url, Event)} == {
        (XMR_ADDRESS, "xmr-pool"),
        (BTC_ADDRESS, "btc-pool"),
    }
    assert len(rows(db_url, HostResolution)) == 5


def test_dns_over_tcp_streams() -> None:
    """Two pipelined responses in one stream, cut anywhere and retransmitted, give both
    answers once; a stream with a missing segment, or joined midway, gives none."""
    one = dg.tcp_framed(dg.response("a.example.org", [dg.address(dg.TO_QUESTION, "192.0.2.1")]))
    two = dg.tcp_framed(dg.response("b.example.org", [dg.address(dg.TO_QUESTION, "192.0.2.2")]))
    stream = one + two
    key = (b"\xc0\x00\x02\x35", b"\xaf\x2d\xb0\x05", 40000)

    def fed(segments: list[tuple[int, bytes]], syn: bool = True) -> set[tuple[str, str]]:
        responses = dns.Responses("t.pcap")
        if syn:
            responses.feed(1, T0, 6, key, 999, 0x12, b"")
        for number, (offset, data) in enumerate(segments, start=2):
            responses.feed(number, T0, 6, key, 1000 + offset, 0x18, data)
        return {(a.host, a.address) for a in responses.take()}

    both = {("a.example.org", "192.0.2.1"), ("b.example.org", "192.0.2.2")}
    cuts = [(at, stream[at : at + 7]) for at in range(0, len(stream), 7)]
    assert fed(cuts) == both
    assert fed([c for cut in cuts for c in (cut, cut)]) == both  # every segment twice
    assert fed([(0, stream[:20]), (10, stream[10:])]) == both  # overlapping retransmission
    assert fed([c for i, c in enumerate(cuts) if i != 2]) == set()  # a segment lost
    assert fed(cuts, syn=False) == set()  # the capture began after the SYN
