"""``admin_peers`` answers of the Ethereum execution clients -> peers.

Each client documents its own shape of the same idea:

- geth and Erigon: ``{enode, enr, id, name, caps, network: {localAddress, remoteAddress,
  inbound, trusted, static}, protocols}``; ``id`` is 64 hex digits (the hash of the node key).
- Nethermind (current): geth's shape plus ``clientType``, ``ethDetails``, ``lastSignal``.
- Nethermind (before 1.20): ``{clientId, host, port, address, isBootnode, isTrusted, isStatic,
  enode}``: no ``network`` object, no direction.
- Besu: ``{version, name, caps, network: {localAddress, remoteAddress}, port, id, protocols,
  enode}``; ``id`` is the 128-hex-digit node key with ``0x``; ``inbound`` only in later
  releases.
- ethereumjs: ``{id, name, protocols, caps, network: {remoteAddress}}``: no ``enode``, no
  ``localAddress``, no ``inbound``; ``id`` is the 128-hex-digit node key.

So ``inbound`` missing means the direction is unknown (``None``), not outbound; a missing
``enode`` is built from a 128-digit ``id`` and the remote address; ``id`` may be 64 or 128 hex
digits, with or without ``0x``. None of them gives a connection start time or byte counters,
so a peer's event starts when a poll first sees it and carries no bytes. A connection is
identified by the peer's node id and its remote address.
"""

from __future__ import annotations

import re
from typing import Any

from chainwatch.nodes.faults import ShapeError
from chainwatch.nodes.shape import as_dict, as_list, optional, port_of
from chainwatch.nodes.snapshot import Peer, normalise_ip, split_host_port

METHOD = "admin_peers"
_NODE_ID = re.compile(r"(?:0x)?([0-9a-fA-F]{64}|[0-9a-fA-F]{128})")
_ENODE = re.compile(r"enode://([0-9a-fA-F]{128})@([^?#]+)")


def _address(text: str, where: str) -> tuple[str, int | None]:
    try:
        host, port = split_host_port(text)
    except ValueError as exc:
        raise ShapeError(METHOD, f"{where}: address {text!r}: {exc}") from None
    return normalise_ip(host), port


def _host_port(host: str, port: int | None) -> str:
    host = f"[{host}]" if ":" in host else host
    return host if port is None else f"{host}:{port}"


def _node_id(record: dict[str, Any], enode: str | None, where: str) -> str:
    """The peer's node id in lower-case hex without ``0x``: from ``id``, else the enode."""
    text = optional(record, "id", str, METHOD, where)
    if text is None:
        found = _ENODE.match(enode or "")
        if not found:
            raise ShapeError(METHOD, f"{where} has neither 'id' nor an enode URL")
        return found.group(1).lower()
    found = _NODE_ID.fullmatch(text)
    if not found:
        raise ShapeError(
            METHOD, f"{where}: 'id' is {text[:40]!r}, expected 64 or 128 hex digits (node id)"
        )
    return found.group(1).lower()


def _endpoints(
    record: dict[str, Any], enode: str | None, where: str
) -> tuple[str, str | None, bool | None, dict[str, Any]]:
    """Remote address, local address, inbound (None: not said) and the connection flags."""
    network = record.get("network")
    if network is None and ("host" in record or "address" in record):  # older Nethermind
        address = optional(record, "address", str, METHOD, where)
        host = optional(record, "host", str, METHOD, where)
        if host is not None and record.get("port") is not None:
            remote = _host_port(host, port_of(_quantity(record["port"]), METHOD, where))
        elif address is not None:
            remote = address
        else:
            raise ShapeError(METHOD, f"{where} has a host but no port or address")
        flags = {"trusted": record.get("isTrusted"), "static": record.get("isStatic")}
        return remote, None, None, flags
    network = as_dict(network, METHOD, f"{where} network")
    remote_text = optional(network, "remoteAddress", str, METHOD, f"{where} network")
    if remote_text is None:
        found = _ENODE.match(enode or "")
        if not found:
            raise ShapeError(METHOD, f"{where} network has no 'remoteAddress' (nor an enode URL)")
        remote_text = found.group(2)
    local = optional(network, "localAddress", str, METHOD, f"{where} network")
    inbound = optional(network, "inbound", bool, METHOD, f"{where} network")
    flags = {"trusted": network.get("trusted"), "static": network.get("static")}
    return remote_text, local, inbound, flags


def _quantity(value: Any) -> Any:
    """A JSON-RPC quantity (``"0x765f"``) as a number; anything else unchanged."""
    if isinstance(value, str) and value.startswith("0x"):
        try:
            return int(value, 16)
        except ValueError:
            return value
    return value


def _peer(record: dict[str, Any], where: str) -> Peer:
    enode = optional(record, "enode", str, METHOD, where)
    node_id = _node_id(record, enode, where)
    remote, local, inbound, flags = _endpoints(record, enode, where)
    ip, port = _address(remote, where)
    node_ip, node_port = _address(local, where) if local else (None, None)
    if enode is None and len(node_id) == 128:
        # ethereumjs sends no enode: the node key and the address it was reached at make one.
        enode = f"enode://{node_id}@{_host_port(ip, port)}"
    name = optional(record, "name", str, METHOD, where)
    if name is None:
        name = optional(record, "clientId", str, METHOD, where)
    protocols = record.get("protocols")
    detail: dict[str, Any] = {"enode": enode, "caps": record.get("caps"), **flags}
    if isinstance(protocols, dict):
        detail["protocols"] = sorted(protocols)
    direction = None if inbound is None else ("inbound" if inbound else "outbound")
    return Peer(
        ip=ip,
        port=port,
        node_direction=direction,
        connection_key=f"{node_id}|{remote}",
        user_agent=name,
        node_ip=node_ip,
        node_port=node_port,
        detail={key: value for key, value in detail.items() if value is not None},
        raw=record,
    )


def peers(raw: Any) -> list[Peer]:
    """Every peer of an ``admin_peers`` answer, whichever client's shape it has."""
    return [
        _peer(as_dict(item, METHOD, f"peer #{number}"), f"peer #{number}")
        for number, item in enumerate(as_list(raw, METHOD, "the answer"), start=1)
    ]


def peer_count(raw: Any) -> int:
    """``net_peerCount`` (web3 turns the hex quantity into an int)."""
    if isinstance(raw, str):
        try:
            raw = int(raw, 16) if raw.startswith("0x") else int(raw)
        except ValueError:
            raise ShapeError("net_peerCount", f"{raw!r} is not a number") from None
    if isinstance(raw, bool) or not isinstance(raw, int) or raw < 0:
        raise ShapeError("net_peerCount", f"{raw!r} is not a peer count")
    return raw
