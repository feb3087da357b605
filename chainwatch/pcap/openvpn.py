"""OpenVPN's hard-reset control packets, the first packets of every OpenVPN session.

``control`` reads one packet (a UDP datagram, or a TCP packet without its 2-byte length
prefix) and returns its facts when it is ``P_CONTROL_HARD_RESET_CLIENT_V2`` (opcode 7) or
``_V3`` (10, tls-crypt-v2), or the server's ``P_CONTROL_HARD_RESET_SERVER_V2`` (8), with key
id 0 and a non-zero 8-byte session id, in one of the layouts of OpenVPN's ``ssl_pkt.h``:

- no wrapping: the ACK array and message packet-id in clear;
- ``tls-auth``: an HMAC of 16 to 64 bytes, a replay packet-id of 1 to 16 and a network time
  after 2001, then the same in clear;
- ``tls-crypt``: replay id and time, a 32-byte tag, then exactly the encrypted length of a
  hard reset;
- ``tls-crypt-v2``: the same followed by a wrapped client key of 291 to 1024 bytes that ends
  with its own length.

In clear, the client's ACK array is empty and its message packet-id is 0 (or 2.6's
``EARLY_NEG_START``); the server acknowledges exactly that packet and names the client's
session id (``acked_session_id``); anything after is well-formed TLVs (2.6's early
negotiation). ``plausible`` says whether a TCP stream's first bytes could start one.
"""

from __future__ import annotations

import struct
from typing import Any

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")

CLIENT_V2, SERVER_V2, CLIENT_V3 = 7, 8, 10
OPCODES = {
    CLIENT_V2: "P_CONTROL_HARD_RESET_CLIENT_V2",
    SERVER_V2: "P_CONTROL_HARD_RESET_SERVER_V2",
    CLIENT_V3: "P_CONTROL_HARD_RESET_CLIENT_V3",
}
#: The first byte (opcode << 3 | key id 0) of each.
FIRST_BYTES = {op << 3 for op in OPCODES}
#: tls-auth digests: MD5, SHA1, SHA224, SHA256, SHA384, SHA512.
HMAC_SIZES = (20, 32, 16, 28, 48, 64)
#: A client that supports early negotiation starts its message packet-ids here (ssl_pkt.h).
EARLY_NEG_START = 0x0F000000
_FIRST_IDS = (0, EARLY_NEG_START)
#: tls-crypt: replay packet-id and net time (8), tag (32); tls-crypt-v2 wrapped key bounds.
_CRYPT_HEAD, _WKC = 40, (291, 1024)
#: A network time after 2001: a replay id's time half is a Unix time.
_EPOCH = 1_000_000_000
#: Largest OpenVPN control packet accepted in a TCP stream (a link MTU's worth).
MAX_PACKET = 1600


def plausible(head: bytes) -> bool:
    """Whether a TCP stream starting with ``head`` (however few bytes) could be OpenVPN."""
    if not head:
        return False
    if len(head) < 2:
        return bool(head[0] <= MAX_PACKET >> 8)
    if not 14 <= _U16.unpack_from(head)[0] <= MAX_PACKET:
        return False
    return len(head) < 3 or head[2] in FIRST_BYTES


def control(packet: bytes, transport: str) -> dict[str, Any] | None:
    """The facts of a hard reset (see the module docstring), or None."""
    if len(packet) < 14 or packet[0] not in FIRST_BYTES:
        return None
    opcode, session = packet[0] >> 3, packet[1:9]
    if not any(session):
        return None
    facts: dict[str, Any] = {
        "protocol": "openvpn",
        "transport": transport,
        "message": OPCODES[opcode],
        "opcode": opcode,
        "key_id": 0,
    }
    facts["server_session_id" if opcode == SERVER_V2 else "session_id"] = session.hex()
    wrap = _clear(packet, opcode, facts) or _tls_auth(packet, opcode, facts)
    wrap = wrap or _tls_crypt(packet, opcode)
    if wrap is None:
        return None
    facts["wrap"] = wrap
    return facts


def _clear(packet: bytes, opcode: int, facts: dict[str, Any]) -> str | None:
    return "none" if opcode != CLIENT_V3 and _control(packet[9:], opcode, facts) else None


def _tls_auth(packet: bytes, opcode: int, facts: dict[str, Any]) -> str | None:
    if opcode == CLIENT_V3:
        return None
    for size in HMAC_SIZES:
        at = 9 + size
        if len(packet) < at + 13 or not _replay_id(packet, at):
            continue
        if _control(packet[at + 8 :], opcode, facts):
            facts["hmac_bytes"] = size
            return "tls-auth"
    return None


def _tls_crypt(packet: bytes, opcode: int) -> str | None:
    """Past the tag all is ciphertext: the layout is told by exact lengths. A client's hard
    reset encrypts an empty ACK array and a packet-id (5 bytes); a server's one ACK, the
    client's session id and a packet-id (17), perhaps with the 6-byte early-negotiation TLV."""
    if len(packet) < 9 + _CRYPT_HEAD or not _replay_id(packet, 9):
        return None
    if opcode == CLIENT_V3:
        wkc = _U16.unpack_from(packet, len(packet) - 2)[0]
        if _WKC[0] <= wkc <= _WKC[1] and len(packet) - wkc == 9 + _CRYPT_HEAD + 5:
            return "tls-crypt-v2"
        return None
    sealed = len(packet) - 9 - _CRYPT_HEAD
    return "tls-crypt" if sealed in ((5,) if opcode == CLIENT_V2 else (17, 23)) else None


def _replay_id(packet: bytes, at: int) -> bool:
    replay, when = struct.unpack_from("!II", packet, at)
    return bool(1 <= replay <= 16 and when >= _EPOCH)


def _control(body: bytes, opcode: int, facts: dict[str, Any]) -> bool:
    """An ACK array, the remote session id when it acknowledges anything, the message
    packet-id, then nothing or TLVs. The client acknowledges nothing; the server exactly the
    client's first packet."""
    if not body:
        return False
    acks = body[0]
    if acks != (1 if opcode == SERVER_V2 else 0):
        return False
    at = 1 + 4 * acks + (8 if acks else 0)
    if len(body) < at + 4:
        return False
    if acks and (_U32.unpack_from(body, 1)[0] not in _FIRST_IDS or not any(body[5:13])):
        return False
    if _U32.unpack_from(body, at)[0] not in _FIRST_IDS or not _tlvs(body[at + 4 :]):
        return False
    if acks:
        facts["acked_session_id"] = body[5:13].hex()
    return True


def _tlvs(rest: bytes) -> bool:
    at = 0
    while at < len(rest):
        if at + 4 > len(rest) or len(rest) > 64:
            return False
        at += 4 + _U16.unpack_from(rest, at + 2)[0]
    return at == len(rest)
