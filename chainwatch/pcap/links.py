"""Link layers of captured packets: where the IP packet starts inside a frame.

Each capture (or pcapng interface) names its link type (a ``LINKTYPE_`` value of
https://www.tcpdump.org/linktypes.html). ``network`` peels the link-layer headers off a frame
and says where its IPv4 or IPv6 packet starts. Layouts, as libpcap and tcpdump read them:

- Ethernet (1): 802.1Q/802.1ad tags (0x8100, 0x88A8, 0x9100) stacked any number of times,
  MPLS label stacks (0x8847, 0x8848) up to the bottom-of-stack bit, 802.3 frames with LLC/SNAP;
- BSD loopback: NULL (0, the family in the writer's byte order), LOOP (108, big-endian);
- raw IP (12, 14, 101: version from the first nibble; 228 IPv4 only, 229 IPv6 only);
- PPP (9: RFC 1661, with or without the 0xFF 0x03 address and control of RFC 1662; 50: RFC 1662
  HDLC-like framing, or Cisco HDLC when it starts 0x0F/0x8F); a protocol field compressed to
  one byte (RFC 1661 section 6.5) is read too;
- Cisco HDLC (104): address 0x0F/0x8F, control 0x00, a 2-byte Ethernet type;
- Linux cooked capture v1 (113: protocol at offset 14 of 16) and v2 (276: at 0 of 20);
- PPI (192): an 8-byte little-endian header (version, flags, length, inner link type) and its
  fields, then the inner frame (usually 802.11 or Ethernet);
- radiotap (127): a header whose little-endian length is at offset 2, then an 802.11 frame;
- 802.11 (105): data frames only (QoS, four addresses, HT control), then LLC/SNAP. Frames that
  carry no IP by design (management, control, null data) or that cannot be read (protected,
  A-MSDU) are not IP, not problems.

Every offset is checked against what was captured; the answer is an offset, a reason the frame
is malformed, or None for frames that carry no IP.
"""

from __future__ import annotations

import struct

#: Where the IP packet starts: (IP version the link layer names, or 0 for "read the first
#: nibble", offset), a reason string for a malformed frame, or None for a frame without IP.
Found = tuple[int, int] | str | None

ETHERNET, NULL, LOOP, SLL, SLL2 = 1, 0, 108, 113, 276
PPP, PPP_HDLC, C_HDLC, IEEE802_11, RADIOTAP, PPI = 9, 50, 104, 105, 127, 192
RAW = frozenset({12, 14, 101})
IPV4_ONLY, IPV6_ONLY = 228, 229
#: Link types ``network`` reads.
SUPPORTED = frozenset(
    {ETHERNET, NULL, LOOP, SLL, SLL2, PPP, PPP_HDLC, C_HDLC, IEEE802_11, RADIOTAP, PPI}
    | RAW
    | {IPV4_ONLY, IPV6_ONLY}
)

_VLAN = frozenset({0x8100, 0x88A8, 0x9100})
_MPLS = frozenset({0x8847, 0x8848})
_ETHERTYPE_IP = {0x0800: 4, 0x86DD: 6}
_PPP_IP = {0x0021: 4, 0x0057: 6}
#: BSD address families of IPv6 (Linux 10, FreeBSD 28, OpenBSD/NetBSD 24, macOS 30).
_AF_INET6 = frozenset({10, 24, 28, 30})
_SNAP = b"\xaa\xaa\x03"
_U16 = struct.Struct("!H")
_LE16 = struct.Struct("<H")
_LE32 = struct.Struct("<I")
#: Tags or labels followed before a frame is called malformed (a loop guard, not a limit any
#: real network reaches).
_MAX_TAGS = 16


def network(linktype: int, data: bytes) -> Found:
    """Where ``data``'s IP packet starts, for a frame of link type ``linktype``."""
    if linktype == ETHERNET:
        if len(data) < 14:
            return "the Ethernet header is truncated"
        return _ethertype(data, 14, _U16.unpack_from(data, 12)[0])
    if linktype in RAW:
        return 0, 0
    if linktype == IPV4_ONLY:
        return 4, 0
    if linktype == IPV6_ONLY:
        return 6, 0
    if linktype in (NULL, LOOP):
        if len(data) < 4:
            return "the loopback header is truncated"
        # NULL: the family in the capturing host's byte order; LOOP: always big-endian.
        family = data[3] if linktype == LOOP or not data[0] else data[0]
        return (4, 4) if family == 2 else (6, 4) if family in _AF_INET6 else None
    if linktype in (SLL, SLL2):
        size, where = (16, 14) if linktype == SLL else (20, 0)
        if len(data) < size:
            return "the Linux cooked-capture header is truncated"
        return _ethertype(data, size, _U16.unpack_from(data, where)[0])
    if linktype in (PPP, PPP_HDLC, C_HDLC):
        return _serial(linktype, data)
    if linktype == PPI:
        if len(data) < 8:
            return "the PPI header is truncated"
        length, inner = _LE16.unpack_from(data, 2)[0], _LE32.unpack_from(data, 4)[0]
        if length < 8 or length > len(data):
            return "the PPI header length is malformed"
        if inner == PPI:
            return "a PPI header wraps another PPI header"
        return _inner(inner, data, length)
    if linktype == RADIOTAP:
        if len(data) < 8:
            return "the radiotap header is truncated"
        length = _LE16.unpack_from(data, 2)[0]
        if data[0] != 0 or length < 8 or length > len(data):
            return "the radiotap header is malformed (version or length)"
        return _wifi(data, length)
    if linktype == IEEE802_11:
        return _wifi(data, 0)
    return f"link type {linktype} is not supported"


def _inner(linktype: int, data: bytes, at: int) -> Found:
    """The frame of ``linktype`` that starts at ``at`` (inside a PPI header)."""
    if linktype not in SUPPORTED:
        return f"link type {linktype} inside PPI is not supported"
    found = network(linktype, data[at:])
    return (found[0], found[1] + at) if isinstance(found, tuple) else found


def _ethertype(data: bytes, at: int, ethertype: int) -> Found:
    for _ in range(_MAX_TAGS):
        if ethertype in _VLAN:
            if len(data) < at + 4:
                return "the VLAN tag is truncated"
            ethertype = _U16.unpack_from(data, at + 2)[0]
            at += 4
        elif ethertype in _MPLS:
            return _mpls(data, at)
        elif ethertype <= 1500:  # an 802.3 length: LLC, and SNAP names the type
            if data[at : at + 3] != _SNAP or len(data) < at + 8:
                return None  # spanning tree, NetBIOS...: LLC without an Ethernet type
            ethertype = _U16.unpack_from(data, at + 6)[0]
            at += 8
        else:
            version = _ETHERTYPE_IP.get(ethertype)
            return None if version is None else (version, at)
    return "more VLAN tags than any network stacks"


def _mpls(data: bytes, at: int) -> Found:
    for _ in range(_MAX_TAGS):
        if len(data) < at + 4:
            return "the MPLS label stack is truncated"
        bottom = data[at + 2] & 0x01
        at += 4
        if bottom:
            # No type field after the stack: the first nibble says IPv4 or IPv6; anything
            # else (a pseudowire control word, Ethernet over MPLS) is not read.
            version = data[at] >> 4 if len(data) > at else -1
            return (version, at) if version in (4, 6) else None
    return "the MPLS label stack has no bottom"


def _serial(linktype: int, data: bytes) -> Found:
    if len(data) < 2:
        return "the PPP/HDLC header is truncated"
    if linktype == C_HDLC or (linktype == PPP_HDLC and data[0] in (0x0F, 0x8F)):
        if len(data) < 4 or data[0] not in (0x0F, 0x8F):
            return "the Cisco HDLC header is malformed"
        return _ethertype(data, 4, _U16.unpack_from(data, 2)[0])
    at = 0
    if data[0] == 0xFF and data[1] == 0x03:
        at = 2
    elif linktype == PPP_HDLC:
        return "the PPP frame lacks its HDLC address and control bytes (0xFF 0x03)"
    if len(data) <= at:
        return "the PPP header is truncated"
    if data[at] & 0x01:  # a protocol compressed to one byte: its low bit is set
        protocol, at = data[at], at + 1
    elif len(data) < at + 2:
        return "the PPP header is truncated"
    else:
        protocol, at = _U16.unpack_from(data, at)[0], at + 2
    version = _PPP_IP.get(protocol)
    return None if version is None else (version, at)


def _wifi(data: bytes, at: int) -> Found:
    if len(data) < at + 24:
        return "the 802.11 header is truncated"
    kind, flags = data[at], data[at + 1]
    if kind & 0x03:
        return "the 802.11 frame has an unknown protocol version"
    subtype = kind >> 4
    # Data frames only (type 2); subtypes with bit 2 set carry no body (null data); protected
    # frames are encrypted, so their payload cannot be read.
    if (kind >> 2) & 0x03 != 2 or subtype & 0x04 or flags & 0x40:
        return None
    header = 24
    if flags & 0x03 == 0x03:  # to and from the distribution system: a fourth address
        header += 6
    if subtype & 0x08:  # QoS data: a QoS control field, and HT control when "order" is set
        qos = at + header
        header += 2
        if flags & 0x80:
            header += 4
        if len(data) < at + header:
            return "the 802.11 QoS header is truncated"
        if data[qos] & 0x80:
            return None  # an A-MSDU: several subframes, not read
    body = at + header
    if len(data) < body + 8:
        return "the 802.11 frame is truncated"
    if data[body : body + 3] != _SNAP:
        return None
    version = _ETHERTYPE_IP.get(_U16.unpack_from(data, body + 6)[0])
    return None if version is None else (version, body + 8)
