"""Bitcoin Core (and Litecoin Core) answers -> ``NodeSnapshot``.

``getpeerinfo`` entries whose version handshake has not finished (``version`` 0) are skipped:
until then nothing shows the peer speaks the protocol, and its counters are not meaningful.
Fields are read as Bitcoin Core 0.21 and later document them; older or newer extra fields are
kept only in the raw record. ``network`` is kept as reported but trusted for nothing: Litecoin
Core labels inbound loopback peers ``onion``.
"""

from __future__ import annotations

from typing import Any

from chainwatch.nodes.faults import ShapeError
from chainwatch.nodes.shape import as_dict, as_list, field, optional, port_of
from chainwatch.nodes.snapshot import (
    BookEntry,
    Peer,
    normalise_ip,
    split_host_port,
    utc_from_epoch,
)

_KEPT = (
    "id",
    "network",
    "services",
    "servicesnames",
    "version",
    "connection_type",
    "relaytxes",
    "startingheight",
    "pingtime",
)


def node_info(raw: Any) -> dict[str, Any]:
    """Who the node is, from ``getnetworkinfo``."""
    info = as_dict(raw, "getnetworkinfo", "the answer")
    return {
        "subversion": field(info, "subversion", str, "getnetworkinfo", "the answer"),
        "version": optional(info, "version", int, "getnetworkinfo", "the answer"),
        "protocolversion": optional(info, "protocolversion", int, "getnetworkinfo", "the answer"),
        "connections": optional(info, "connections", int, "getnetworkinfo", "the answer"),
    }


def _address(text: str, method: str, where: str) -> tuple[str, int | None]:
    try:
        host, port = split_host_port(text)
    except ValueError as exc:
        raise ShapeError(method, f"{where}: address {text!r}: {exc}") from None
    return normalise_ip(host), port


def peers(raw: Any) -> tuple[list[Peer], int]:
    """Live peers from ``getpeerinfo``; returns (peers, how many were skipped)."""
    method = "getpeerinfo"
    result: list[Peer] = []
    skipped = 0
    for number, item in enumerate(as_list(raw, method, "the answer"), start=1):
        where = f"peer #{number}"
        record = as_dict(item, method, where)
        addr = field(record, "addr", str, method, where)
        if not optional(record, "version", int, method, where):
            skipped += 1
            continue
        ip, port = _address(addr, method, where)
        inbound = field(record, "inbound", bool, method, where)
        conntime = field(record, "conntime", int, method, where)
        bind = optional(record, "addrbind", str, method, where)
        node_ip, node_port = _address(bind, method, where) if bind else (None, None)
        result.append(
            Peer(
                ip=ip,
                port=port,
                node_direction="inbound" if inbound else "outbound",
                # The node's peer id tells apart two connections to one address begun in the
                # same second; conntime tells apart ids reused after the node restarts.
                connection_key=f"{addr}|{conntime}|{record.get('id', '')}",
                started_at=utc_from_epoch(conntime),
                bytes_sent=optional(record, "bytessent", int, method, where),
                bytes_received=optional(record, "bytesrecv", int, method, where),
                user_agent=optional(record, "subver", str, method, where),
                node_ip=node_ip,
                node_port=node_port,
                detail={key: record[key] for key in _KEPT if key in record},
                raw=record,
            )
        )
    return result, skipped


def address_book(raw: Any) -> list[BookEntry]:
    """The node's known addresses from ``getnodeaddresses 0``."""
    method = "getnodeaddresses"
    result: list[BookEntry] = []
    for number, item in enumerate(as_list(raw, method, "the answer"), start=1):
        where = f"entry #{number}"
        record = as_dict(item, method, where)
        host = field(record, "address", str, method, where)
        port = port_of(record.get("port"), method, where)
        detail: dict[str, Any] = {
            key: record[key] for key in ("services", "network") if key in record
        }
        result.append(
            BookEntry(
                ip=normalise_ip(host),
                port=port,
                last_seen=utc_from_epoch(record.get("time")),
                detail=detail,
            )
        )
    return result
