"""Recognising VPN and Tor handshakes (the obfuscation group) from the first packets.

``payload`` and ``connections`` call in here; everything returns a ``Match`` (the fields of
``payload.Verdict`` without a server name) or None. Each recogniser checks a whole documented
layout, not a byte or two, so ordinary HTTPS, QUIC, DNS and JSON-RPC never fit:

- **OpenVPN** (``openvpn``), UDP datagrams and TCP streams (a 2-byte length prefix per packet,
  which must equal the packet's length): the hard resets that open a session, in any of
  their layouts (``chainwatch.pcap.openvpn``).
- **WireGuard** (``wireguard``), any UDP port: handshake initiation (type 1, exactly 148
  bytes), response (type 2, 92 bytes) and cookie reply (type 3, 64 bytes), each with its three
  reserved bytes zero and a non-zero sender/receiver index, and not also a well-formed DNS
  query (a DNS id of 0x0100 without flags would otherwise fit the first four bytes).
- **IKE** (``ikev1``/``ikev2``) on UDP 500, and on 4500 after the four-zero-byte non-ESP
  marker (RFC 3948): a non-zero initiator SPI, version 0x10 or 0x20, a known exchange type,
  no undefined flag bits, a length field equal to the datagram's, and (unless IKEv1
  encrypted) a chain of payload headers that ends exactly at that length. An IKEv2
  ``IKE_SA_INIT`` has message id 0 and a zero responder SPI in its request (and in a Notify
  answer only); later exchanges carry an Encrypted payload. ESP is left out: on its own it
  is an SPI and ciphertext.
- **Tor** (``tor-tls``): a TLS ClientHello whose server name is what tor's ``tor_tls_new``
  makes (``crypto_random_hostname(4, 25, "www.", ".com")``: base32 ``[a-z2-7]``, 4 to 25
  characters; ``.net`` names its certificates), that looks random (a digit 2-7, or fewer than
  one vowel in five characters), and that offers no ALPN and no GREASE values, which every
  browser and HTTP library sends. About 94% of tor's names pass the randomness test; a
  script without ALPN to a consonant-heavy ``www.<name>.com`` (``www.tumblr.com``) would
  too, so its confidence is ``TOR`` (0.8), below the other recognisers'.

One side of a handshake gives ``ONE_SIDE`` (0.9); both sides answering each other (the
server's ACK naming the client's session id, WireGuard's receiver index echoing the
initiator's sender index, an IKE response with the request's SPI) give ``PAIRED`` (0.95,
the detector's usual confidence) and ``paired: true`` in the facts (``paired``).
"""

from __future__ import annotations

import re
import struct
from typing import Any, NamedTuple

from chainwatch.pcap import openvpn

ONE_SIDE = 0.9
PAIRED = 0.95
TOR = 0.8

_U16 = struct.Struct("!H")


class Match(NamedTuple):
    """What a packet or stream start carries: ``payload.Verdict``'s first four fields."""

    category: str
    confidence: float
    facts: dict[str, Any]
    end: int


# --- OpenVPN ----------------------------------------------------------------------------------


def stream(data: bytes) -> Match | None:
    """OpenVPN over TCP: the first length-prefixed packet of a stream, once it is whole."""
    if len(data) < 2 or not openvpn.plausible(data[:3]):
        return None
    size = _U16.unpack_from(data)[0]
    if len(data) < 2 + size:
        return None
    facts = openvpn.control(data[2 : 2 + size], "tcp")
    return None if facts is None else Match("vpn", ONE_SIDE, facts, 2 + size)


# --- WireGuard --------------------------------------------------------------------------------

#: Message type -> (name, exact UDP payload length), from the WireGuard paper, section 5.4.
WIREGUARD = {
    1: ("handshake_initiation", 148),
    2: ("handshake_response", 92),
    3: ("cookie_reply", 64),
}


def _wireguard(data: bytes) -> Match | None:
    kind = WIREGUARD.get(data[0]) if data else None
    if kind is None or len(data) != kind[1] or any(data[1:4]) or not any(data[4:8]):
        return None
    if _dns_query(data):
        return None
    facts: dict[str, Any] = {"protocol": "wireguard", "message": kind[0], "type": data[0]}
    if data[0] == 1:
        facts["sender_index"] = data[4:8].hex()
    elif data[0] == 2:
        facts.update(responder_index=data[4:8].hex(), receiver_index=data[8:12].hex())
    else:
        facts["receiver_index"] = data[4:8].hex()
    return Match("vpn", ONE_SIDE, facts, len(data))


def _dns_query(data: bytes) -> bool:
    """A DNS message with one question whose name parses: not a WireGuard handshake."""
    qd, an, ns, ar = struct.unpack_from("!HHHH", data, 4)
    if qd != 1 or an > 64 or ns > 64 or ar > 8:
        return False
    at = 12
    while at < len(data) and 0 < data[at] < 64:
        at += 1 + data[at]
    return at + 5 <= len(data) and data[at] == 0


# --- IKE --------------------------------------------------------------------------------------

IKE_PORTS = (500, 4500)
IKEV2_EXCHANGES = {
    34: "IKE_SA_INIT",
    35: "IKE_AUTH",
    36: "CREATE_CHILD_SA",
    37: "INFORMATIONAL",
    38: "IKE_SESSION_RESUME",
    43: "IKE_INTERMEDIATE",
    44: "IKE_FOLLOWUP_KE",
}
IKEV1_EXCHANGES = {
    1: "Base",
    2: "Identity Protection",
    3: "Authentication Only",
    4: "Aggressive",
    5: "Informational",
    32: "Quick Mode",
    33: "New Group Mode",
}
#: Payload types that may follow the header: IKEv2's 33-54 (RFC 7296 and later), IKEv1's
#: 1-13 and NAT-T's 20-21 (RFC 3947).
_IKEV2_PAYLOADS = set(range(33, 55))
_IKEV1_PAYLOADS = {*range(1, 14), 20, 21}
_SK, _SKF, _NOTIFY = 46, 53, 41


def _ike(data: bytes, sport: int, dport: int) -> Match | None:
    nat = 4500 in (sport, dport)
    if nat:
        if data[:4] != b"\x00\x00\x00\x00":
            return None  # ESP (a non-zero SPI) or a NAT keepalive
        data = data[4:]
    if len(data) < 28 or not any(data[:8]):
        return None
    first, version, exchange, flags = data[16:20]
    message_id, length = struct.unpack_from("!II", data, 20)
    if length != len(data):
        return None
    responder = any(data[8:16])
    if version == 0x20:
        name = IKEV2_EXCHANGES.get(exchange)
        if name is None or flags & ~0x38 or first not in _IKEV2_PAYLOADS:
            return None
        response = bool(flags & 0x20)
        if exchange == 34:
            # A request has no responder SPI yet; only an answer that is a Notify (a COOKIE
            # or INVALID_KE_PAYLOAD, RFC 7296 2.6) may still carry none.
            if message_id != 0 or first in (_SK, _SKF) or (responder and not response):
                return None
            if response and not responder and first != _NOTIFY:
                return None
        elif not responder or first not in (_SK, _SKF):
            return None
        payloads = _IKEV2_PAYLOADS
    elif version == 0x10:
        name = IKEV1_EXCHANGES.get(exchange)
        if name is None or flags & ~0x07 or first not in _IKEV1_PAYLOADS:
            return None
        if flags & 0x01 and not responder:
            return None  # encryption needs keys, which the first exchange sets up
        response = responder
        payloads = _IKEV1_PAYLOADS
    else:
        return None
    if not (version == 0x10 and flags & 0x01) and not _chain(data, first, payloads):
        return None
    facts: dict[str, Any] = {
        "protocol": "ikev2" if version == 0x20 else "ikev1",
        "message": name,
        "exchange_type": exchange,
        "initiator_spi": data[:8].hex(),
        "message_id": message_id,
        "response": response,
    }
    if responder:
        facts["responder_spi"] = data[8:16].hex()
    if nat:
        facts["nat_traversal"] = True
    return Match("vpn", ONE_SIDE, facts, len(data) + (4 if nat else 0))


def _chain(data: bytes, first: int, payloads: set[int]) -> bool:
    """The generic payload headers (next type, flags, length) from offset 28 end exactly at
    the message's end. An Encrypted payload is the last: its next type names what it hides."""
    at, kind = 28, first
    for _ in range(64):
        if kind == 0:
            return at == len(data)
        if kind not in payloads or at + 4 > len(data):
            return False
        size: int = _U16.unpack_from(data, at + 2)[0]
        if size < 4 or at + size > len(data):
            return False
        if kind in (_SK, _SKF) and payloads is _IKEV2_PAYLOADS:
            return at + size == len(data)
        kind, at = data[at], at + size
    return False


def datagram(data: bytes, sport: int, dport: int) -> Match | None:
    """What one UDP datagram (its payload, between these ports) carries."""
    if not data:
        return None
    if sport in IKE_PORTS or dport in IKE_PORTS:
        found = _ike(data, sport, dport)
        if found is not None:
            return found
    if (facts := openvpn.control(data, "udp")) is not None:
        return Match("vpn", ONE_SIDE, facts, len(data))
    return _wireguard(data)


# --- Tor's TLS ClientHello --------------------------------------------------------------------

_TOR_NAME = re.compile(r"www\.([a-z2-7]{4,25})\.(?:com|net)")
_ALPN = 16


def _grease(value: int) -> bool:
    """RFC 8701's reserved values (0x0a0a, 0x1a1a ... 0xfafa), which browsers send."""
    return value & 0x0F0F == 0x0A0A and value >> 8 == value & 0xFF


def random_label(label: str) -> bool:
    """Whether a base32 label looks drawn at random rather than written by people."""
    if any(c in "234567" for c in label):
        return True
    return sum(c in "aeiouy" for c in label) * 5 < len(label)


def tor_hello(extensions: list[tuple[int, bytes]], suites: list[int], end: int) -> Match | None:
    """A ClientHello (its extensions and cipher suite codes) shaped like tor's."""
    kinds = [kind for kind, _ in extensions]
    if _ALPN in kinds or any(_grease(v) for v in (*kinds, *suites)):
        return None
    for kind, data in extensions:
        if kind == 0 and len(data) >= 5 and data[2] == 0:
            size = _U16.unpack_from(data, 3)[0]
            name = data[5 : 5 + size].decode("ascii", "replace")
            found = _TOR_NAME.fullmatch(name)
            if found is None or not random_label(found.group(1)):
                return None
            facts = {"protocol": "tor-tls", "message": "client_hello", "sni": name}
            return Match("tor", TOR, facts, end)
    return None


# --- Both sides -------------------------------------------------------------------------------

#: Per protocol: (fact of the opening message, fact of the answer that must echo it).
_ECHOES = {
    "openvpn": ("session_id", "acked_session_id"),
    "wireguard": ("sender_index", "receiver_index"),
}


def paired(first: dict[str, Any], other: dict[str, Any], into: dict[str, Any]) -> float | None:
    """``PAIRED`` when the two directions' facts are one handshake answering itself (and
    ``paired: true`` put ``into`` the merged facts), else None."""
    protocol = first.get("protocol")
    if protocol != other.get("protocol"):
        return None
    if protocol in ("ikev1", "ikev2"):
        same = first.get("initiator_spi") == other.get("initiator_spi")
        answered = same and {first.get("response"), other.get("response")} == {True, False}
    elif protocol in _ECHOES:
        opening, answer = _ECHOES[protocol]
        answered = any(
            a.get(opening) is not None and a.get(opening) == b.get(answer)
            for a, b in ((first, other), (other, first))
        )
    else:
        return None
    if not answered:
        return None
    into["paired"] = True
    return PAIRED
