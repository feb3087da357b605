"""Link types, through the real CLI: the same Stratum conversation framed as every link type
chainwatch reads (Ethernet with 802.1Q, QinQ, MPLS and LLC/SNAP; BSD loopback; raw IP; Linux
cooked v1 and v2; PPP; Cisco HDLC; 802.11 data, bare, under radiotap and under PPI), over IPv4
and IPv6, in pcap files and in one pcapng whose interfaces each have their own link type. tshark
reads the same frames, so the framing is the one the field's tools write. Unsupported and
malformed link layers are counted and named, an unsupported link type once per capture."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from chainwatch.pcap.decode import Packet, decode
from chainwatch.pcap.links import SUPPORTED
from chainwatch.store.models import Event
from tests.conftest import require_binary
from tests.flows.conftest import rows
from tests.pcap import linkgen as lg
from tests.pcap.capgen import Talk, frames, write_pcap
from tests.pcap.cases import CASES
from tests.pcap.conftest import scan

T0 = 1558000000.0
STRATUM = CASES[0].messages
PACKETS = 11  # handshake, five messages, FIN, FIN, ACK

#: (name, link type, framer, IP versions it carries)
LINKS: list[tuple[str, int, lg.Framer, tuple[int, ...]]] = [
    ("ethernet", 1, lg.ethernet(), (4, 6)),
    ("vlan", 1, lg.ethernet((0x8100, 100)), (4, 6)),
    ("qinq-88a8", 1, lg.ethernet((0x88A8, 200), (0x8100, 100)), (4, 6)),
    ("qinq-9100", 1, lg.ethernet((0x9100, 300), (0x8100, 100)), (4, 6)),
    ("mpls", 1, lg.mpls([16]), (4, 6)),
    ("mpls-stack", 1, lg.mpls([1000, 2000, 3000]), (4, 6)),
    ("mpls-multicast", 1, lg.mpls([4000], multicast=True), (4, 6)),
    ("llc-snap", 1, lg.llc_snap, (4, 6)),
    ("null-le", 0, lg.null("<"), (4, 6)),
    ("null-be", 0, lg.null(">"), (4, 6)),
    ("loop", 108, lg.null(">"), (4, 6)),
    ("raw-12", 12, lg.raw, (4, 6)),
    ("raw-14", 14, lg.raw, (4, 6)),
    ("raw-101", 101, lg.raw, (4, 6)),
    ("ipv4", 228, lg.raw, (4,)),
    ("ipv6", 229, lg.raw, (6,)),
    ("sll", 113, lg.sll, (4, 6)),
    ("sll2", 276, lg.sll2, (4, 6)),
    ("ppp", 9, lg.ppp(), (4, 6)),
    ("ppp-unframed", 9, lg.ppp(framing=False), (4, 6)),
    ("ppp-compressed", 9, lg.ppp(compressed=True), (4, 6)),
    ("ppp-hdlc", 50, lg.ppp(), (4, 6)),
    ("ppp-hdlc-cisco", 50, lg.cisco_hdlc, (4, 6)),
    ("cisco-hdlc", 104, lg.cisco_hdlc, (4, 6)),
    ("wifi", 105, lg.wifi(), (4, 6)),
    ("wifi-qos", 105, lg.wifi(qos=True), (4, 6)),
    ("wifi-4addr-htc", 105, lg.wifi(qos=True, four=True, htc=True), (4, 6)),
    ("radiotap", 127, lg.prefixed(lg.RADIOTAP, lg.wifi(qos=True)), (4, 6)),
    ("ppi-wifi", 192, lg.prefixed(lg.ppi_header(105), lg.wifi()), (4, 6)),
    ("ppi-ethernet", 192, lg.prefixed(lg.ppi_header(1), lg.ethernet()), (4, 6)),
]
#: What comes before the 802.11 frame, for the link types that carry one.
WIFI = {105: b"", 127: lg.RADIOTAP, "ppi-wifi": lg.ppi_header(105)}
VARIANTS = [(name, lt, framer, v) for name, lt, framer, versions in LINKS for v in versions]


def client(i: int, version: int) -> str:
    return f"175.45.176.{i + 1}" if version == 4 else f"2001:db8:1::{i + 1:x}"


def talk(i: int, version: int, at: float) -> list[tuple[float, bytes]]:
    server = "203.0.113.20" if version == 4 else "2001:db8:ff::20"
    return frames(Talk(client(i, version), server, 40000 + i, 3333, at, STRATUM))


def framed(i: int, at: float) -> list[tuple[float, bytes]]:
    """Conversation ``i`` of VARIANTS framed as its link type; 802.11 link types also get a
    beacon and an encrypted data frame, which carry no IP that can be read."""
    name, linktype, framer, version = VARIANTS[i]
    packets = talk(i, version, at)
    out = [(t, framer(*lg.split(f))) for t, f in packets]
    prefix = WIFI.get(name, WIFI.get(linktype))
    if prefix is not None:
        secret = lg.protected(lg.split(packets[3][1])[0])
        out += [(at - 1, prefix + lg.beacon()), (at - 0.5, prefix + secret)]
    return out


def write_all(folder: Path) -> tuple[list[Path], Path]:
    """One pcap per variant, and one pcapng holding every variant on its own interface."""
    folder.mkdir()
    pcaps = []
    for i, (name, linktype, _, version) in enumerate(VARIANTS):
        path = folder / f"{i:02d}-{name}-v{version}.pcap"
        pcaps.append(write_pcap(path, framed(i, T0 + 100 * i), linktype=linktype))
    packets = [
        (t, i, frame) for i in range(len(VARIANTS)) for t, frame in framed(i, T0 + 5000 + 100 * i)
    ]
    pcapng = lg.write_interfaces(folder / "all.pcapng", [v[1] for v in VARIANTS], packets)
    return pcaps, pcapng


def test_every_link_type_in_pcap_and_pcapng(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    pcaps, pcapng = write_all(tmp_path / "captures")
    result = scan(cli, db_url, wl, "--pcap", tmp_path / "captures")
    assert result.exit_code == 0, result.stderr
    assert "skipped 0, bad 0" in result.stdout, result.stderr  # beacons and ciphertext are no IP
    events = rows(db_url, Event)
    found = {(Path(e.source_ref.rsplit(":", 1)[0]).name, e.local_ip) for e in events}
    want = {(p.name, client(i, VARIANTS[i][3])) for i, p in enumerate(pcaps)}
    want |= {(pcapng.name, client(i, v[3])) for i, v in enumerate(VARIANTS)}
    assert found == want
    assert {(e.category, e.detector, e.packets) for e in events} == {
        ("btc-pool", "payload", PACKETS)
    }


FIELDS = ["-e", "frame.interface_id", "-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.port"]


def test_tshark_reads_the_frames_as_chainwatch_does(tmp_path: Path) -> None:
    """The framing is checked against Wireshark's dissectors: every frame of a conversation
    decodes to the conversation's addresses and ports, and the beacons and encrypted frames
    to no TCP at all."""
    tshark = require_binary("tshark")
    pcaps, pcapng = write_all(tmp_path / "captures")
    for path in [pcapng, pcaps[0], pcaps[-1]]:
        out = subprocess.run(
            [tshark, "-n", "-r", str(path), "-T", "fields", "-E", "separator=|", *FIELDS],
            capture_output=True,
            text=True,
            check=True,
            timeout=120,
        ).stdout
        lines = [line.split("|") for line in out.splitlines()]
        by_interface: dict[int, set[str]] = {}
        tcp = 0
        for iface, ip4, ip6, ports in lines:
            if ports:
                tcp += 1
                i = int(iface or 0) if path == pcapng else pcaps.index(path)
                by_interface.setdefault(i, set()).add((ip4 or ip6).split(",")[-1])
                assert "3333" in ports.split(","), (path.name, iface, ports)
        count = len(VARIANTS) if path == pcapng else 1
        assert tcp == PACKETS * count, (path.name, tcp)
        for i, sources in by_interface.items():
            server = "203.0.113.20" if VARIANTS[i][3] == 4 else "2001:db8:ff::20"
            assert sources == {client(i, VARIANTS[i][3]), server}, (VARIANTS[i][0], sources)
    warnings = subprocess.run(
        [tshark, "-n", "-r", str(pcapng), "-Y", "_ws.malformed || _ws.expert.severity >= warning"],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    ).stdout
    assert warnings == ""  # no frame is malformed in Wireshark's eyes


def test_two_interfaces_of_different_link_types_and_an_unsupported_one(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    """A laptop captured on its Wi-Fi (radiotap) and on a Linux cooked interface at once: the
    client's side on the first, the server's on the second. A third interface has a link type
    chainwatch does not read (USER0, 147): one line names it, its packets are counted."""
    packets = []
    for t, frame in talk(0, 4, T0):
        ip, ethertype = lg.split(frame)
        if frame[26:30] == bytes([175, 45, 176, 1]):
            packets.append((t, 0, lg.RADIOTAP + lg.wifi(qos=True)(ip, ethertype)))
        else:
            packets.append((t, 1, lg.sll2(ip, ethertype)))
        packets.append((t + 0.001, 2, frame))
    path = lg.write_interfaces(tmp_path / "two.pcapng", [127, 276, 147], packets)
    result = scan(cli, db_url, wl, "--pcap", path)
    assert result.exit_code == 0, result.stderr
    [event] = rows(db_url, Event)
    assert (event.category, event.packets, event.local_ip) == ("btc-pool", PACKETS, "175.45.176.1")
    named = [line for line in result.stderr.splitlines() if "link type 147" in line]
    assert named == [f"{path}:2: link type 147 is not supported"], result.stderr
    assert f"{path}: {PACKETS} unusable packets skipped" in result.stderr


def test_unsupported_link_type_named_once_per_capture(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    folder = tmp_path / "captures"
    folder.mkdir()
    odd = [
        write_pcap(folder / "a-user0.pcap", talk(0, 4, T0), linktype=147),
        write_pcap(folder / "b-802154.pcap", talk(1, 4, T0 + 100), linktype=195),
    ]
    write_pcap(folder / "c-ethernet.pcap", talk(2, 4, T0 + 200))
    result = scan(cli, db_url, wl, "--pcap", folder)
    # Not one packet of the two odd captures could be read: the scan is partial (exit 3).
    assert result.exit_code == 3, result.stderr
    assert "scan 1 partial:" in result.stdout
    for path, linktype in zip(odd, (147, 195), strict=True):
        assert f"{path}: not one record could be used" in result.stderr
        lines = [line for line in result.stderr.splitlines() if "not supported" in line]
        assert [line for line in lines if line.startswith(str(path))] == [
            f"{path}:1: link type {linktype} is not supported"
        ]
        assert f"{path}: {PACKETS} unusable packets skipped" in result.stderr
    assert [e.local_ip for e in rows(db_url, Event)] == ["175.45.176.3"]


def test_malformed_link_layers_are_counted_with_reasons(
    cli: Any, db_url: str, wl: Path, tmp_path: Path
) -> None:
    ip, _ = lg.split(talk(0, 4, T0)[0][1])
    cases = [
        (127, b"\x00\x00\xff\x00\x00\x00\x00\x00" + ip, "the radiotap header is malformed"),
        (192, b"\x00\x00\x04\x00\x69\x00\x00\x00" + ip, "the PPI header length is malformed"),
        (192, b"\x00\x00\x08\x00\xc0\x00\x00\x00" + ip, "a PPI header wraps another PPI header"),
        (1, lg.ethernet((0x8100, 1))(b"", 0x8100), "the VLAN tag is truncated"),
        (1, lg.MAC_A + lg.MAC_B + b"\x88\x47" + b"\x00\x01\x00\x40" * 2, "the MPLS label"),
        (50, b"\x00\x21" + ip, "the PPP frame lacks its HDLC address and control bytes"),
        (104, b"\x42\x00\x08\x00" + ip, "the Cisco HDLC header is malformed"),
        (105, lg.wifi_header(qos=True)[:20], "the 802.11 header is truncated"),
    ]
    for n, (linktype, frame, reason) in enumerate(cases):
        path = write_pcap(tmp_path / f"bad{n}.pcap", [(T0, frame)], linktype=linktype)
        result = scan(cli, db_url, wl, "--pcap", path)
        assert f"{path}:1: {reason}" in result.stderr, (linktype, result.stderr)
        assert "bad 1" in result.stdout
        assert "Traceback" not in result.stderr


@settings(max_examples=300, deadline=None)
@given(
    linktype=st.sampled_from(sorted(SUPPORTED)),
    data=st.binary(max_size=120),
    prefix=st.sampled_from([b"", b"\xff\x03", b"\x00\x00\x0f\x00\x69\x00\x00\x00", b"\x88"]),
)
def test_random_link_layers_never_crash(linktype: int, data: bytes, prefix: bytes) -> None:
    """Any bytes under any supported link type decode to a packet, a reason, or nothing."""
    result = decode(linktype, prefix + data)
    assert result is None or isinstance(result, str | Packet)
