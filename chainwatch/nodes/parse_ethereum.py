"""geth's ``admin_peers`` answer -> peers.

geth documents each peer as ``{enode, id, name, caps, network: {localAddress, remoteAddress,
inbound, trusted, static}, protocols}``. It gives no connection start time and no byte
counters, so a peer's event starts when a poll first sees it and carries no bytes. A
connection is identified by the peer's node id and its remote address.
"""

from __future__ import annotations

from typing import Any

from chainwatch.nodes.faults import ShapeError
from chainwatch.nodes.shape import as_dict, as_list, field, optional
from chainwatch.nodes.snapshot import Peer, normalise_ip, split_host_port


def _address(text: str, where: str) -> tuple[str, int | None]:
    try:
        host, port = split_host_port(text)
    except ValueError as exc:
        raise ShapeError("admin_peers", f"{where}: address {text!r}: {exc}") from None
    return normalise_ip(host), port


def peers(raw: Any) -> list[Peer]:
    method = "admin_peers"
    result: list[Peer] = []
    for number, item in enumerate(as_list(raw, method, "the answer"), start=1):
        where = f"peer #{number}"
        record = as_dict(item, method, where)
        network = as_dict(record.get("network"), method, f"{where} network")
        remote = field(network, "remoteAddress", str, method, f"{where} network")
        ip, port = _address(remote, where)
        local = optional(network, "localAddress", str, method, f"{where} network")
        node_ip, node_port = _address(local, where) if local else (None, None)
        node_id = field(record, "id", str, method, where)
        protocols = record.get("protocols")
        detail: dict[str, Any] = {
            "enode": record.get("enode"),
            "caps": record.get("caps"),
            "trusted": network.get("trusted"),
            "static": network.get("static"),
        }
        if isinstance(protocols, dict):
            detail["protocols"] = sorted(protocols)
        result.append(
            Peer(
                ip=ip,
                port=port,
                node_direction="inbound"
                if field(network, "inbound", bool, method, f"{where} network")
                else "outbound",
                connection_key=f"{node_id}|{remote}",
                user_agent=optional(record, "name", str, method, where),
                node_ip=node_ip,
                node_port=node_port,
                detail={key: value for key, value in detail.items() if value is not None},
                raw=record,
            )
        )
    return result


def peer_count(raw: Any) -> int:
    """``net_peerCount`` (web3 turns geth's hex quantity into an int)."""
    if isinstance(raw, str):
        try:
            raw = int(raw, 16) if raw.startswith("0x") else int(raw)
        except ValueError:
            raise ShapeError("net_peerCount", f"{raw!r} is not a number") from None
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise ShapeError("net_peerCount", f"{raw!r} is not a peer count")
    return raw
