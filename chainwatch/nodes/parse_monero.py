"""monerod answers -> ``NodeSnapshot``.

monerod's quirks, handled here: a list key is left out when the list is empty; ``port`` comes
as a string in ``get_connections``; ``ip`` is an integer in ``get_peer_list`` (so ``host`` is
read instead). Connections still in ``before_handshake`` are skipped: nothing yet shows the
peer speaks the Monero protocol. A connection is identified by monerod's ``connection_id``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from chainwatch.nodes.shape import as_dict, as_list, field, optional, port_of
from chainwatch.nodes.snapshot import BookEntry, Peer, normalise_ip, utc_from_epoch

_KEPT = (
    "peer_id",
    "state",
    "height",
    "support_flags",
    "pruning_seed",
    "rpc_port",
    "address_type",
    "recv_count",
    "send_count",
)
_UNFINISHED = {"before_handshake"}


def node_info(raw: Any) -> dict[str, Any]:
    """Who the node is, from ``get_info``."""
    info = as_dict(raw, "get_info", "the answer")
    return {
        "version": optional(info, "version", str, "get_info", "the answer"),
        "nettype": optional(info, "nettype", str, "get_info", "the answer"),
        "height": field(info, "height", int, "get_info", "the answer"),
        "connections": (
            optional(info, "incoming_connections_count", int, "get_info", "the answer") or 0
        )
        + (optional(info, "outgoing_connections_count", int, "get_info", "the answer") or 0),
    }


def peers(raw: Any, now: dt.datetime) -> tuple[list[Peer], int]:
    """Live peers from ``get_connections``; returns (peers, how many were skipped)."""
    method = "get_connections"
    answer = as_dict(raw, method, "the answer")
    result: list[Peer] = []
    skipped = 0
    for number, item in enumerate(
        as_list(answer.get("connections", []), method, "connections"), start=1
    ):
        where = f"connection #{number}"
        record = as_dict(item, method, where)
        state = optional(record, "state", str, method, where)
        if state in _UNFINISHED:
            skipped += 1
            continue
        host = field(record, "host", str, method, where)
        port = port_of(record.get("port"), method, where)
        connection_id = field(record, "connection_id", str, method, where)
        live = optional(record, "live_time", int, method, where)
        started = now - dt.timedelta(seconds=live) if live is not None else None
        result.append(
            Peer(
                ip=normalise_ip(host),
                port=port,
                node_direction="inbound"
                if field(record, "incoming", bool, method, where)
                else "outbound",
                connection_key=f"{host}:{port}|{connection_id}",
                # live_time has whole seconds; so does the start time derived from it.
                started_at=started.replace(microsecond=0) if started else None,
                bytes_sent=optional(record, "send_count", int, method, where),
                bytes_received=optional(record, "recv_count", int, method, where),
                detail={key: record[key] for key in _KEPT if key in record},
                raw=record,
            )
        )
    return result, skipped


def address_book(raw: Any) -> list[BookEntry]:
    """White and gray peer lists from ``/get_peer_list``."""
    method = "get_peer_list"
    answer = as_dict(raw, method, "the answer")
    result: list[BookEntry] = []
    for list_name in ("white", "gray"):
        key = f"{list_name}_list"
        for number, item in enumerate(as_list(answer.get(key, []), method, key), start=1):
            where = f"{key} entry #{number}"
            record = as_dict(item, method, where)
            host = field(record, "host", str, method, where)
            detail: dict[str, Any] = {
                k: record[k] for k in ("pruning_seed", "rpc_port") if k in record
            }
            if "id" in record:  # a 64-bit number; text keeps it exact in every JSON reader
                detail["id"] = str(record["id"])
            result.append(
                BookEntry(
                    ip=normalise_ip(host),
                    port=port_of(record.get("port"), method, where),
                    list_name=list_name,
                    last_seen=utc_from_epoch(record.get("last_seen")),
                    detail=detail,
                )
            )
    return result
