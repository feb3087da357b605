"""What one poll of a node found: its identity, its live peers and its address book.

The same shape for every coin, so observing, matching and storing (``chainwatch.nodes.observe``
and ``chainwatch.nodes.record``) is written once. Directions here are the *node's* view
(``outbound``: the node dialled the peer); the stored event turns them round to the watched
address's view.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from chainwatch.watchlists.addresses import canonical_ip


@dataclass(frozen=True)
class Peer:
    """One live connection of the node.

    Attributes:
        ip: the peer's address as text (may be a non-IP such as an onion name; it then
            matches no watchlist).
        port: the peer's port, None when the node does not say.
        node_direction: ``outbound`` when the node dialled the peer, ``inbound`` when the peer
            dialled the node, None when the node does not say (ethereumjs, older Besu).
        connection_key: identifies this connection across polls (a reconnect gets a new key).
        started_at: when the connection began, None when the node does not say.
        bytes_sent: bytes the node sent to the peer on this connection, None when unknown.
        bytes_received: bytes the node received from the peer, None when unknown.
        user_agent: the peer's client name and version as it announced it.
        node_ip: the node's own address on this connection, when the node says.
        node_port: the node's own port on this connection.
        detail: further fields worth keeping (services, protocol version, state).
        raw: the peer's record exactly as the node sent it.
    """

    ip: str
    port: int | None
    node_direction: str | None
    connection_key: str
    started_at: dt.datetime | None = None
    bytes_sent: int | None = None
    bytes_received: int | None = None
    user_agent: str | None = None
    node_ip: str | None = None
    node_port: int | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict)

    @property
    def bytes(self) -> int | None:
        if self.bytes_sent is None and self.bytes_received is None:
            return None
        return (self.bytes_sent or 0) + (self.bytes_received or 0)


@dataclass(frozen=True)
class BookEntry:
    """An address the node knows of (its address book), without a live connection.

    ``list_name`` is monerod's ``white`` or ``gray`` list (None for Bitcoin Core);
    ``last_seen`` is when the node last heard of it, None when it does not say.
    """

    ip: str
    port: int
    list_name: str | None = None
    last_seen: dt.datetime | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass
class NodeSnapshot:
    """One poll's findings. ``skipped`` counts connections left out on purpose (handshake not
    finished, so nothing yet shows the peer speaks the coin's protocol)."""

    node: dict[str, Any]
    peers: list[Peer] = field(default_factory=list)
    book: list[BookEntry] = field(default_factory=list)
    skipped: int = 0
    #: Lines about the poll worth showing (e.g. "admin API not served").
    notes: list[str] = field(default_factory=list)


def canonical_json(value: Any) -> str:
    """Stable JSON text of a record (sorted keys, no spaces): what evidence hashes cover."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def sha256_of(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def split_host_port(text: str) -> tuple[str, int | None]:
    """``"1.2.3.4:8333"`` -> ("1.2.3.4", 8333); ``"[2001:db8::1]:8333"`` -> ("2001:db8::1",
    8333); a bare address gives port None. Raises ValueError for a port that is not 0-65535."""
    text = text.strip()
    if text.startswith("["):
        host, _, rest = text[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    elif text.count(":") == 1:
        host, _, port_text = text.partition(":")
    else:  # a bare IPv4/IPv6 address or name
        host, port_text = text, ""
    if not port_text:
        return host, None
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError(f"port {port_text!r} is not a number 0-65535")
    return host, int(port_text)


def normalise_ip(host: str) -> str:
    """The canonical text of an IP address, as flow readers store it (IPv6 compressed,
    without a %zone; an IPv4-mapped IPv6 address becomes IPv4); a non-IP host (an onion
    name) is returned unchanged."""
    return canonical_ip(host)


def utc_from_epoch(value: Any) -> dt.datetime | None:
    """Epoch seconds to an aware UTC time; 0, None or nonsense is "unknown" (None)."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    try:
        return dt.datetime.fromtimestamp(value, dt.UTC)
    except (OverflowError, OSError, ValueError):
        return None
