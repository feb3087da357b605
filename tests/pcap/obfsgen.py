"""Writing VPN and Tor handshakes, and the traffic that must not be taken for them, as their
implementations put them on the wire: OpenVPN's control packets (ssl_pkt.h: opcode and key id,
session id, tls-auth HMAC / tls-crypt tag with replay id and time, ACK array, message
packet-id), WireGuard's handshake messages (the WireGuard paper, section 5.4), IKEv2 messages
(RFC 7296 header and payload chain, RFC 3948's non-ESP marker), TLS ClientHellos shaped like
tor's (OpenSSL, a random ``www.<base32>.com`` name, no ALPN) and like browsers' (GREASE, ALPN),
a QUIC v1 Initial (RFC 9000 long header), DNS messages and JSON-RPC over HTTP. Ciphertext,
keys and MACs are deterministic pseudo-random bytes."""

from __future__ import annotations

import json
import random
import struct

from tests.pcap.capgen import udp

_RNG = random.Random(20191105)


def noise(size: int) -> bytes:
    return _RNG.randbytes(size)


# --- OpenVPN ----------------------------------------------------------------------------------


def openvpn(
    opcode: int,
    session: bytes,
    *,
    acks: tuple[int, ...] = (),
    remote: bytes = b"",
    message_id: int = 0,
    payload: bytes = b"",
    wrap: str = "none",
    hmac_size: int = 20,
    when: int = 1558000000,
) -> bytes:
    """One control packet (UDP payload; over TCP, ``framed``)."""
    body = (
        bytes([len(acks)])
        + b"".join(struct.pack("!I", a) for a in acks)
        + remote
        + struct.pack("!I", message_id)
        + payload
    )
    head = bytes([opcode << 3]) + session
    replay = struct.pack("!II", 1, when)
    if wrap == "none":
        return head + body
    if wrap == "tls-auth":
        return head + noise(hmac_size) + replay + body
    sealed = head + replay + noise(32) + noise(len(body))
    if wrap == "tls-crypt":
        return sealed
    assert wrap == "tls-crypt-v2"
    wkc = noise(32 + 256 + 1)  # tag, encrypted client key and metadata type
    return sealed + wkc + struct.pack("!H", len(wkc) + 2)


def framed(packet: bytes) -> bytes:
    """OpenVPN over TCP: each packet behind its 2-byte length."""
    return struct.pack("!H", len(packet)) + packet


def openvpn_pair(
    client: bytes, server: bytes, wrap: str = "none", early: bool = False
) -> tuple[bytes, bytes]:
    """The client's hard reset and the server's answer acknowledging it. With ``early`` the
    client announces 2.6's early negotiation and the server answers with its flags TLV."""
    first = 0x0F000000 if early else 0
    tlv = struct.pack("!HHH", 1, 2, 1) if early else b""
    hello = openvpn(7, client, message_id=first, wrap=wrap)
    answer = openvpn(8, server, acks=(first,), remote=client, payload=tlv, wrap=wrap)
    return hello, answer


# --- WireGuard --------------------------------------------------------------------------------


def wg_initiation(sender: int) -> bytes:
    return b"\x01\x00\x00\x00" + struct.pack("<I", sender) + noise(32 + 48 + 28 + 16) + bytes(16)


def wg_response(sender: int, receiver: int) -> bytes:
    return (
        b"\x02\x00\x00\x00" + struct.pack("<II", sender, receiver) + noise(32 + 16 + 16) + bytes(16)
    )


def wg_cookie(receiver: int) -> bytes:
    return b"\x03\x00\x00\x00" + struct.pack("<I", receiver) + noise(24 + 32)


def wg_data(receiver: int, counter: int, size: int = 96) -> bytes:
    return b"\x04\x00\x00\x00" + struct.pack("<IQ", receiver, counter) + noise(size + 16)


# --- IKEv2 ------------------------------------------------------------------------------------


def payload(next_type: int, body: bytes) -> bytes:
    return struct.pack("!BBH", next_type, 0, 4 + len(body)) + body


def _sa() -> bytes:
    transforms = [
        (1, 20, struct.pack("!HH", 0x800E, 256)),  # ENCR_AES_GCM_16, key length 256
        (2, 5, b""),  # PRF_HMAC_SHA2_256
        (4, 19, b""),  # DH group 19 (ECP 256)
    ]
    body = b""
    for i, (kind, ident, attrs) in enumerate(transforms):
        last = 0 if i == len(transforms) - 1 else 3
        body += struct.pack("!BBHBBH", last, 0, 8 + len(attrs), kind, 0, ident) + attrs
    proposal = struct.pack("!BBHBBBB", 0, 0, 8 + len(body), 1, 1, 0, len(transforms)) + body
    return proposal


def ike(
    ispi: bytes,
    rspi: bytes,
    exchange: int,
    flags: int,
    message_id: int,
    payloads: bytes,
    first: int,
    *,
    nat: bool = False,
) -> bytes:
    size = 28 + len(payloads)
    message = ispi + rspi + struct.pack("!BBBBII", first, 0x20, exchange, flags, message_id, size)
    message += payloads
    return (b"\x00\x00\x00\x00" + message) if nat else message


def ike_sa_init(ispi: bytes, rspi: bytes = bytes(8)) -> bytes:
    """An IKE_SA_INIT request (``rspi`` zero) or response: SA, KE, Nonce, NAT detection."""
    payloads = (
        payload(34, _sa())  # SA, next KE
        + payload(40, struct.pack("!HH", 19, 0) + noise(64))  # KE, next Nonce
        + payload(41, noise(32))  # Nonce, next Notify
        + payload(0, struct.pack("!BBH", 0, 0, 16388) + noise(20))  # NAT_DETECTION_SOURCE_IP
    )
    response = any(rspi)
    return ike(ispi, rspi, 34, 0x20 if response else 0x08, 0, payloads, 33)


def ike_auth(ispi: bytes, rspi: bytes, *, response: bool, nat: bool = True) -> bytes:
    """IKE_AUTH: everything inside one Encrypted (SK) payload (IV, ciphertext, ICV)."""
    sk = payload(35, noise(8) + noise(96) + noise(16))
    return ike(ispi, rspi, 35, 0x20 if response else 0x08, 1, sk, 46, nat=nat)


def ikev1_main_mode(ispi: bytes) -> bytes:
    """IKEv1's first Main Mode message (RFC 2408/2409): an SA payload (DOI IPsec, one ISAKMP
    proposal with one KEY_IKE transform: AES, SHA, pre-shared key, group 2) and a Vendor ID."""
    attributes = struct.pack("!HHHHHHHH", 0x8001, 7, 0x8002, 2, 0x8003, 1, 0x8004, 2)
    transform = struct.pack("!BBHBBH", 0, 0, 8 + len(attributes), 1, 1, 0) + attributes
    proposal = struct.pack("!BBHBBBB", 0, 0, 8 + len(transform), 1, 1, 0, 1) + transform
    sa = payload(13, struct.pack("!II", 1, 1) + proposal)  # next: Vendor ID
    vendor = payload(0, bytes.fromhex("4a131c81070358455c5728f20e95452f"))  # RFC 3947 NAT-T
    payloads = sa + vendor
    header = ispi + bytes(8) + struct.pack("!BBBBII", 1, 0x10, 2, 0, 0, 28 + len(payloads))
    return header + payloads


# --- TLS ClientHellos -------------------------------------------------------------------------


def _ext(kind: int, data: bytes) -> bytes:
    return struct.pack("!HH", kind, len(data)) + data


def _sni(name: str) -> bytes:
    raw = name.encode()
    return _ext(0, struct.pack("!HBH", len(raw) + 3, 0, len(raw)) + raw)


def _alpn(*protocols: str) -> bytes:
    names = b"".join(bytes([len(p)]) + p.encode() for p in protocols)
    return _ext(16, struct.pack("!H", len(names)) + names)


def _hello(suites: list[int], extensions: bytes) -> bytes:
    body = (
        b"\x03\x03"
        + noise(32)
        + b"\x20"
        + noise(32)  # a session id, as TLS 1.3's middlebox compatibility mode sends
        + struct.pack("!H", 2 * len(suites))
        + b"".join(struct.pack("!H", s) for s in suites)
        + b"\x01\x00"
        + struct.pack("!H", len(extensions))
        + extensions
    )
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + struct.pack("!H", len(handshake)) + handshake


_GROUPS = _ext(10, struct.pack("!H", 8) + struct.pack("!HHHH", 29, 23, 30, 24))
_SIGALGS = _ext(13, struct.pack("!H", 8) + struct.pack("!HHHH", 0x0403, 0x0804, 0x0401, 0x0503))
_VERSIONS = _ext(43, b"\x04\x03\x04\x03\x03")
_KEY_SHARE = _ext(51, struct.pack("!HHH", 36, 29, 32) + noise(32))
_OPENSSL_SUITES = [0x1302, 0x1303, 0x1301, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0xC02B, 0xC02F, 0x00FF]


def openssl_hello(name: str) -> bytes:
    """What OpenSSL 3 sends by default (tor's client, ``openssl s_client``): no ALPN, no
    GREASE."""
    extensions = (
        _sni(name)
        + _ext(11, b"\x03\x00\x01\x02")
        + _GROUPS
        + _ext(35, b"")
        + _ext(22, b"")
        + _ext(23, b"")
        + _SIGALGS
        + _VERSIONS
        + _ext(45, b"\x01\x01")
        + _KEY_SHARE
    )
    return _hello(_OPENSSL_SUITES, extensions)


def browser_hello(name: str, *, grease: bool = True) -> bytes:
    """A Chromium-like ClientHello (GREASE, ALPN h2 and http/1.1), or Firefox-like without
    GREASE."""
    suites = [0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8, 0x009C]
    extensions = (
        _sni(name)
        + _ext(23, b"")
        + _ext(0xFF01, b"\x00")
        + _GROUPS
        + _ext(11, b"\x01\x00")
        + _ext(35, b"")
        + _alpn("h2", "http/1.1")
        + _ext(5, b"\x01\x00\x00\x00\x00")
        + _SIGALGS
        + _ext(18, b"")
        + _KEY_SHARE
        + _ext(45, b"\x01\x01")
        + _VERSIONS
    )
    if grease:
        suites = [0x5A5A, *suites]
        extensions = _ext(0x2A2A, b"") + extensions + _ext(0xDADA, b"\x00")
    return _hello(suites, extensions)


def tor_name(label: str = "q7fbh2wkzd3x") -> str:
    return f"www.{label}.com"


# --- What must never match --------------------------------------------------------------------


def quic_initial() -> bytes:
    """A QUIC v1 client Initial: long header, version 1, 8-byte connection ids, no token, a
    2-byte length, padded to 1200 bytes as RFC 9000 requires."""
    dcid, scid = noise(8), noise(8)
    head = b"\xc3" + struct.pack("!I", 1) + b"\x08" + dcid + b"\x08" + scid + b"\x00"
    rest = 1200 - len(head) - 2
    return head + struct.pack("!H", 0x4000 | rest) + noise(rest)


def dns_query(ident: int, name: str, *, flags: int = 0x0100, pad_to: int = 0) -> bytes:
    """A DNS query for ``name`` (type A); with ``pad_to`` an EDNS OPT record whose Padding
    option (RFC 7830) brings it to exactly that many bytes."""
    qname = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\x00"
    question = qname + struct.pack("!HH", 1, 1)
    arcount = 1 if pad_to else 0
    message = struct.pack("!HHHHHH", ident, flags, 1, 0, 0, arcount) + question
    if pad_to:
        padding = pad_to - len(message) - 11 - 4
        option = struct.pack("!HH", 12, padding) + bytes(padding)
        message += b"\x00" + struct.pack("!HHIH", 41, 1232, 0, len(option)) + option
        assert len(message) == pad_to
    return message


def dns_answer(query: bytes, address: bytes) -> bytes:
    ident = struct.unpack_from("!H", query)[0]
    question = query[12:]
    answer = b"\xc0\x0c" + struct.pack("!HHIH", 1, 1, 300, 4) + address
    return struct.pack("!HHHHHH", ident, 0x8180, 1, 1, 0, 0) + question + answer


def json_rpc_http(method: str) -> tuple[bytes, bytes]:
    """A JSON-RPC call over HTTP (an Ethereum node's API) and its answer."""
    body = json.dumps({"jsonrpc": "2.0", "method": method, "params": [], "id": 1}).encode()
    request = (
        b"POST / HTTP/1.1\r\nHost: 127.0.0.1:8545\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )
    answer_body = json.dumps({"jsonrpc": "2.0", "id": 1, "result": "0x10d4f"}).encode()
    answer = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
        + f"Content-Length: {len(answer_body)}\r\n\r\n".encode()
        + answer_body
    )
    return request, answer


def exchange(
    client: str, server: str, cport: int, sport: int, at: float, messages: list[tuple[str, bytes]]
) -> list[tuple[float, bytes]]:
    """UDP datagrams each way ("c" client to server, "s" back), 10 ms apart."""
    out = []
    for i, (side, data) in enumerate(messages):
        src, dst, sp, dp = (
            (client, server, cport, sport) if side == "c" else (server, client, sport, cport)
        )
        out.append((at + i * 0.01, udp(src, dst, sp, dp, data)))
    return out
