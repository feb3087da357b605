"""monerod: live peers and white/gray peer lists over its RPC.

One round is ``get_info`` (who the node is), ``get_connections`` (live connections) and
``/get_peer_list`` (the white and gray lists). These need monerod's unrestricted RPC; with
``--rpc-login`` set ``user`` and ``password_env`` (HTTP digest authentication).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import ClassVar, TypeVar

from chainwatch.nodes import parse_monero
from chainwatch.nodes.faults import Hints
from chainwatch.nodes.monero_rpc import MoneroRpc
from chainwatch.nodes.snapshot import NodeSnapshot
from chainwatch.nodes.watcher import Link, NodeWatcher

T = TypeVar("T")


class MoneroWatcher(NodeWatcher):
    """monerod: peers (get_connections) and peer lists (get_peer_list)."""

    kind: ClassVar[str] = "monero"
    coin: ClassVar[str] = "xmr"
    daemon: ClassVar[str] = "monerod"
    hints: ClassVar[Hints] = Hints(
        unreachable="is monerod running, and does url match its --rpc-bind-ip and --rpc-bind-port?",
        credentials="check user and the password in password_env against monerod's --rpc-login",
        forbidden="monerod refuses this client; check --rpc-access-control-origins and any proxy",
        not_a_node="is url monerod's RPC port (not its P2P port or a wallet RPC)?",
        missing_method="point url at monerod's unrestricted RPC port (not "
        "--rpc-restricted-bind-port); get_connections is not served there",
    )

    def poll(
        self, link: Link, attempt: Callable[[Callable[[], T]], T], now: dt.datetime
    ) -> NodeSnapshot:
        rpc = MoneroRpc(link.url, link.endpoint, link.credentials)
        node = parse_monero.node_info(attempt(rpc.get_info))
        peers, skipped = parse_monero.peers(attempt(rpc.get_connections), now)
        book = parse_monero.address_book(attempt(rpc.get_peer_list))
        return NodeSnapshot(node=node, peers=peers, book=book, skipped=skipped)
