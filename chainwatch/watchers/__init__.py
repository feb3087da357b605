"""Watchers: the registry of watcher kinds.

Kinds register here by module path and are imported only when used, so a missing optional
piece (or a slow import such as bitcoinlib's) costs nothing until a watcher of that kind runs,
and the config validator can read ``REGISTRY`` without importing a watcher. The interface
(``Watcher``, ``ScanContext``, ``WatcherResult``) is in ``watchers.interface``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from chainwatch.errors import NotAvailableError
from chainwatch.registry import Entry, registry

if TYPE_CHECKING:
    from chainwatch.config import WatcherConfig
    from chainwatch.watchers.interface import Watcher

REGISTRY: dict[str, Entry] = registry(
    Entry(
        "bitcoin",
        "chainwatch.watchers.bitcoin:BitcoinWatcher",
        "Bitcoin Core node peers and address book",
    ),
    Entry(
        "litecoin",
        "chainwatch.watchers.bitcoin:LitecoinWatcher",
        "Litecoin Core node peers and address book",
    ),
    Entry("monero", "chainwatch.watchers.monero:MoneroWatcher", "monerod peers and peer lists"),
    Entry(
        "ethereum",
        "chainwatch.watchers.ethereum:EthereumWatcher",
        "Ethereum node peers (geth, Erigon, Nethermind, Besu, ethereumjs)",
    ),
    Entry(
        "flows",
        "chainwatch.watchers.flows:FlowWatcher",
        "flow files (nfcapd, nfdump CSV, Zeek logs, generic CSV, Suricata eve.json)",
    ),
    Entry(
        "pcap",
        "chainwatch.watchers.pcap:PcapWatcher",
        "packet captures (pcap, pcapng), payloads recognised on any port",
    ),
)


def watcher_class(kind: str) -> type[Watcher]:
    from chainwatch.watchers.interface import Watcher

    entry = REGISTRY.get(kind)
    if entry is None:
        raise NotAvailableError(f"watcher kind {kind!r}")
    module_name = entry.target.partition(":")[0]
    try:
        importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise NotAvailableError(f"watcher kind {kind!r}") from None
        raise
    cls: type[Watcher] = entry.load()
    assert issubclass(cls, Watcher)
    return cls


def make_watcher(config: WatcherConfig) -> Watcher:
    return watcher_class(config.kind)(config)


__all__ = ["REGISTRY", "make_watcher", "watcher_class"]
