"""Tor directory documents written as the Tor project publishes them, for tests and benchmarks.

Consensuses follow dir-spec.txt section 3.4.1 (``network-status-consensus-3``: header with
``valid-after``/``fresh-until``/``valid-until``, router entries of ``r``/``a``/``s``/``v``/
``pr``/``w``/``p`` lines, footer and signature) and the microdescriptor flavour (``r`` without
the descriptor digest, an ``m`` line), with CollecTor's ``@type`` annotation first. Exit lists
follow TorDNSEL's format as CollecTor archives it (``@type tordnsel 1.0``, ``Downloaded``, then
``ExitNode``/``Published``/``LastStatus``/``ExitAddress`` blocks).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

SIGNATURE = (
    "-----BEGIN SIGNATURE-----\n" + "\n".join(["A" * 64] * 5) + "\n-----END SIGNATURE-----\n"
)


@dataclass(frozen=True)
class Relay:
    """One router entry: ``ipv6`` is an ``a`` line's ``[address]:port`` or None."""

    nickname: str
    address: str
    or_port: int
    dir_port: int = 0
    ipv6: str | None = None
    exit: bool = False

    @property
    def identity(self) -> bytes:
        return hashlib.sha1(self.nickname.encode()).digest()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode().rstrip("=")


def _stamp(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%d %H:%M:%S")


_PUBLISHED = "\x00published\x00"


@functools.cache
def _entry(relay: Relay, micro: bool) -> str:
    """A router entry's lines, with a placeholder for the publication time (memoised: the
    benchmark lists the same relays in thousands of documents)."""
    ident = _b64(relay.identity)
    lines = []
    if micro:
        lines.append(
            f"r {relay.nickname} {ident} {_PUBLISHED} {relay.address} {relay.or_port} {relay.dir_port}"
        )
    else:
        digest = _b64(hashlib.sha1(relay.identity + b"d").digest())
        lines.append(
            f"r {relay.nickname} {ident} {digest} {_PUBLISHED} {relay.address} {relay.or_port} {relay.dir_port}"
        )
    if relay.ipv6:
        lines.append(f"a {relay.ipv6}")
    lines.append(
        "s Exit Fast Running Stable Valid" if relay.exit else "s Fast Running Stable Valid"
    )
    lines.append("v Tor 0.3.5.7")
    lines.append("pr Cons=1-2 Desc=1-2 DirCache=1-2 HSDir=1-2 Link=1-5 Relay=1-2")
    lines.append("w Bandwidth=1200")
    if micro:
        lines.append(f"m {_b64(hashlib.sha256(relay.identity).digest())}")
    else:
        lines.append("p accept 80,443" if relay.exit else "p reject 1-65535")
    return "\n".join(lines) + "\n"


def consensus(
    valid_after: dt.datetime,
    relays: Iterable[Relay],
    *,
    micro: bool = False,
    valid_hours: int = 3,
) -> bytes:
    """A consensus valid from ``valid_after`` (fresh one hour, valid ``valid_hours``)."""
    kind = "network-status-microdesc-consensus-3" if micro else "network-status-consensus-3"
    lines = [
        f"@type {kind} 1.0",
        "network-status-version 3" + (" microdesc" if micro else ""),
        "vote-status consensus",
        "consensus-method 28",
        f"valid-after {_stamp(valid_after)}",
        f"fresh-until {_stamp(valid_after + dt.timedelta(hours=1))}",
        f"valid-until {_stamp(valid_after + dt.timedelta(hours=valid_hours))}",
        "voting-delay 300 300",
        "client-versions 0.3.5.7,0.3.5.8",
        "server-versions 0.3.5.7,0.3.5.8",
        "known-flags Authority BadExit Exit Fast Guard HSDir Running Stable V2Dir Valid",
        "recommended-client-protocols Cons=1-2 Desc=1-2 DirCache=1 HSDir=1 Link=4 Microdesc=1-2 Relay=2",
        "params CircuitPriorityHalflifeMsec=30000 NumDirectoryGuards=3",
        "dir-source moria1 D586D18309DED4CD6D57C18FDB97EFA96D330566 192.0.2.200 192.0.2.200 9131 9101",
        "contact 1024D/28988BF5 arma mit edu",
        "vote-digest 4C4C8C8B0A8B5E2D3AAB0E4F0F4C57E8E0A2B8C1",
    ]
    published = _stamp(valid_after - dt.timedelta(hours=2))
    body = "".join(_entry(relay, micro) for relay in relays).replace(_PUBLISHED, published)
    if body:
        lines.append(body.removesuffix("\n"))
    lines += [
        "directory-footer",
        "bandwidth-weights Wbd=0 Wbe=0 Wbg=4096 Wbm=10000 Wdb=10000 Web=10000",
        "directory-signature D586D18309DED4CD6D57C18FDB97EFA96D330566 "
        "5AFAC3D00E97D7CFFDE8C3D8F4E2C6B3E33FCE1A",
    ]
    return ("\n".join(lines) + "\n" + SIGNATURE).encode()


@dataclass(frozen=True)
class Exit:
    """One TorDNSEL entry: the exit's nickname (for its fingerprint) and its observed
    ``(address, time)`` pairs."""

    nickname: str
    published: dt.datetime
    addresses: Sequence[tuple[str, dt.datetime]]


def exit_list(downloaded: dt.datetime, exits: Iterable[Exit]) -> bytes:
    """A TorDNSEL exit list as CollecTor archives it."""
    lines = ["@type tordnsel 1.0", f"Downloaded {_stamp(downloaded)}"]
    for entry in exits:
        lines.append(f"ExitNode {hashlib.sha1(entry.nickname.encode()).hexdigest().upper()}")
        lines.append(f"Published {_stamp(entry.published)}")
        lines.append(f"LastStatus {_stamp(entry.published + dt.timedelta(hours=1))}")
        lines += [f"ExitAddress {address} {_stamp(when)}" for address, when in entry.addresses]
    return ("\n".join(lines) + "\n").encode()
