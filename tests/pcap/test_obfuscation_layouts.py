"""The VPN and Tor recognisers' layouts, function by function: random datagrams of WireGuard's
handshake sizes never match on any port; tor-shaped server names are tor only from a
ClientHello without ALPN and with a random-looking label; an OpenVPN hard reset stops being
one when its ACK array, message packet-id or TCP length prefix is off; IKEv2's cookie answer
(no responder SPI, a Notify) is IKE, an answer without a responder SPI otherwise is not."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from chainwatch.pcap import obfuscation, payload
from tests.pcap import obfsgen as g

CLIENT = bytes.fromhex("5f1c0a9e33d2b871")
ISPI, RSPI = bytes.fromhex("8d3c4f1e6a7b2c90"), bytes.fromhex("e1f2a3b4c5d6e7f8")


def test_tor_names_must_look_random() -> None:
    """The label test: tor's base32 draws pass, names people write do not."""
    assert all(obfuscation.random_label(x) for x in ("q7fbh2wkzd3x", "mzxw6ytb", "bcdfgh", "x4k2"))
    assert not any(
        obfuscation.random_label(x) for x in ("example", "wikipedia", "google", "amazon")
    )


NOT_WIREGUARD = st.one_of(
    st.binary(min_size=148, max_size=148),
    st.binary(min_size=92, max_size=92),
    st.binary(min_size=64, max_size=64),
).filter(lambda b: b[0] not in (1, 2, 3) or any(b[1:4]))


@settings(max_examples=400, deadline=None)
@given(NOT_WIREGUARD, st.sampled_from([53, 443, 500, 1194, 4500, 51820, 40000]))
def test_random_datagrams_of_handshake_sizes_never_match(data: bytes, port: int) -> None:
    assert obfuscation.datagram(data, 40001, port) is None
    assert obfuscation.datagram(data, port, 40001) is None


BASE32_LABELS = st.text(alphabet="abcdefghijklmnopqrstuvwxyz234567", min_size=4, max_size=25)


@settings(max_examples=200, deadline=None)
@given(BASE32_LABELS, st.sampled_from(["com", "net"]))
def test_tor_shaped_names_are_tor_only_without_alpn(label: str, tld: str) -> None:
    """Any name of tor's shape: OpenSSL's hello (no ALPN, no GREASE) is tor exactly when the
    label looks random; a browser's (ALPN, with or without GREASE) never is."""
    name = f"www.{label}.{tld}"
    found = payload.recognise(g.openssl_hello(name))
    assert found is not None
    assert (found.category == "tor") == obfuscation.random_label(label)
    for grease in (True, False):
        browser = payload.recognise(g.browser_hello(name, grease=grease))
        assert browser is not None and browser.category == "" and browser.sni == name


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=14, max_size=120), st.integers(0, 255))
def test_a_hard_reset_with_any_ack_or_message_id_change_is_not_openvpn(
    tail: bytes, bad: int
) -> None:
    """Plain hard resets are exact: a client that acknowledges something, or whose message
    packet-id is neither 0 nor EARLY_NEG_START, is not one; nor is a stream whose length
    prefix does not match the packet."""
    hello = g.openvpn(7, CLIENT)
    assert obfuscation.datagram(hello, 40001, 1194) is not None
    if bad:
        acking = hello[:9] + bytes([bad]) + hello[10:]
        assert obfuscation.datagram(acking, 40001, 1194) is None
    odd_id = hello[:10] + bytes([bad if bad not in (0, 0x0F) else 0x10]) + hello[11:]
    assert obfuscation.datagram(odd_id, 40001, 1194) is None
    wrong_length = (len(hello) + len(tail)).to_bytes(2, "big") + hello
    assert obfuscation.stream(wrong_length) is None
    assert obfuscation.stream(g.framed(hello)) is not None


def test_ike_sa_init_answers() -> None:
    cookie = g.ike(
        ISPI, bytes(8), 34, 0x20, 0, g.payload(0, bytes.fromhex("0000400a") + g.noise(16)), 41
    )
    found = obfuscation.datagram(cookie, 500, 500)
    assert found is not None and found.facts["response"] is True
    assert "responder_spi" not in found.facts
    # The same answer starting with an SA payload must name its SPI; a request must not.
    bare = g.ike_sa_init(ISPI, RSPI)
    assert obfuscation.datagram(bare, 500, 500) is not None
    assert obfuscation.datagram(bare[:8] + bytes(8) + bare[16:], 500, 500) is None
    request = g.ike_sa_init(ISPI)
    assert obfuscation.datagram(request[:8] + RSPI + request[16:], 500, 500) is None
    # Not on other ports, and on 4500 only behind the non-ESP marker.
    assert obfuscation.datagram(request, 40000, 40001) is None
    assert obfuscation.datagram(request, 4500, 4500) is None
    assert obfuscation.datagram(b"\x00" * 4 + request, 4500, 4500) is not None
