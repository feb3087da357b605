"""Ethereum nodes (geth, Erigon, Nethermind, Besu, ethereumjs): live peers over the admin API,
through web3.

One round is ``net_peerCount`` (is the node there, how many peers) and ``admin_peers`` (the
peers' addresses, client names and protocols; each client's shape is read by
``chainwatch.nodes.parse_ethereum``). geth serves ``admin_peers`` only when started with
``--http.api`` including ``admin``; a node without it gives a clear error naming that.
Ethereum nodes expose no address book over RPC, so this kind records live peers only.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import ClassVar, TypeVar

from chainwatch.nodes import parse_ethereum
from chainwatch.nodes.ethereum_rpc import EthereumRpc
from chainwatch.nodes.faults import Hints, NodeFault
from chainwatch.nodes.snapshot import NodeSnapshot
from chainwatch.nodes.watcher import Link, NodeWatcher

T = TypeVar("T")


class EthereumWatcher(NodeWatcher):
    """Ethereum node (geth, Erigon, Nethermind, Besu, ethereumjs): peers (admin_peers)."""

    kind: ClassVar[str] = "ethereum"
    coin: ClassVar[str] = "eth"
    daemon: ClassVar[str] = "ethereum node"
    has_address_book: ClassVar[bool] = False
    hints: ClassVar[Hints] = Hints(
        unreachable="is geth running with --http, and does url match its --http.addr and "
        "--http.port?",
        credentials="check user and the password in password_env against the proxy in front of "
        "the node",
        forbidden="check --http.vhosts and any proxy in front of the node",
        not_a_node="is url the node's HTTP JSON-RPC endpoint?",
        missing_method="start geth with --http.api including admin (on a trusted interface "
        "only: the admin API controls the node)",
    )

    def poll(
        self, link: Link, attempt: Callable[[Callable[[], T]], T], now: dt.datetime
    ) -> NodeSnapshot:
        rpc = EthereumRpc(link.url, link.endpoint, link.credentials)
        count = parse_ethereum.peer_count(attempt(rpc.peer_count))
        try:
            peers = parse_ethereum.peers(attempt(rpc.admin_peers))
        except NodeFault as fault:
            if "does not serve" in fault.problem:
                # Say what the node does tell, so the operator sees it is up and has peers.
                raise NodeFault(
                    f"{fault.problem}; it reports {count} peers but not who they are",
                    hint=fault.hint,
                ) from None
            raise
        notes = [] if count == len(peers) else [f"net_peerCount says {count}"]
        return NodeSnapshot(node={"peer_count": count}, peers=peers, notes=notes)
