"""Bitcoin Core and Litecoin Core nodes: live peers and address book over JSON-RPC.

One round is ``getnetworkinfo`` (who the node is), ``getpeerinfo`` (live connections) and
``getnodeaddresses 0`` (every address the node knows). Authentication is ``user`` with the
password in the environment variable named by ``password_env``, or the node's ``.cookie`` file.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import ClassVar, TypeVar

from chainwatch.nodes import parse_bitcoin
from chainwatch.nodes.bitcoin_rpc import BitcoinRpc
from chainwatch.nodes.faults import Hints
from chainwatch.nodes.snapshot import NodeSnapshot
from chainwatch.nodes.watcher import Link, NodeWatcher

T = TypeVar("T")


def _hints(program: str, conf: str) -> Hints:
    return Hints(
        unreachable=f"is {program} running with -server=1, and does url match its -rpcport "
        "and -rpcbind?",
        credentials=f"check user and the password in password_env against -rpcuser/-rpcauth "
        f"in {conf}, or point cookie at the node's .cookie file",
        forbidden=f"allow this host with -rpcallowip in {conf}",
        not_a_node=f"is url the JSON-RPC port of {program} (not its P2P port or another service)?",
        missing_method=f"chainwatch needs {program} 0.21 or newer (getnodeaddresses 0)",
    )


class BitcoinWatcher(NodeWatcher):
    """Bitcoin Core node: peers (getpeerinfo) and address book (getnodeaddresses)."""

    kind: ClassVar[str] = "bitcoin"
    coin: ClassVar[str] = "btc"
    daemon: ClassVar[str] = "bitcoind"
    hints: ClassVar[Hints] = _hints("bitcoind", "bitcoin.conf")

    def poll(
        self, link: Link, attempt: Callable[[Callable[[], T]], T], now: dt.datetime
    ) -> NodeSnapshot:
        rpc = BitcoinRpc(link.url, link.endpoint, link.credentials)
        node = parse_bitcoin.node_info(attempt(lambda: rpc.call("getnetworkinfo")))
        peers, skipped = parse_bitcoin.peers(attempt(lambda: rpc.call("getpeerinfo")))
        book = parse_bitcoin.address_book(attempt(lambda: rpc.call("getnodeaddresses", 0)))
        return NodeSnapshot(node=node, peers=peers, book=book, skipped=skipped)


class LitecoinWatcher(BitcoinWatcher):
    """Litecoin Core node: peers (getpeerinfo) and address book (getnodeaddresses)."""

    kind: ClassVar[str] = "litecoin"
    coin: ClassVar[str] = "ltc"
    daemon: ClassVar[str] = "litecoind"
    hints: ClassVar[Hints] = _hints("litecoind", "litecoin.conf")
