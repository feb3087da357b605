"""Watchers: the registry of watcher kinds.

Kinds register here by module path and are imported only when used, so a missing optional
piece (or a slow import such as bitcoinlib's) costs nothing until a watcher of that kind runs.
"""

from __future__ import annotations

import importlib

from chainwatch.config import WatcherConfig
from chainwatch.errors import NotAvailableError
from chainwatch.watchers.interface import ScanContext, Watcher, WatcherResult

#: kind -> "module:Class"
REGISTRY: dict[str, str] = {
    "flows": "chainwatch.watchers.flows:FlowWatcher",
    "pcap": "chainwatch.watchers.pcap:PcapWatcher",
    "bitcoin": "chainwatch.watchers.bitcoin:BitcoinWatcher",
    "litecoin": "chainwatch.watchers.bitcoin:LitecoinWatcher",
    "monero": "chainwatch.watchers.monero:MoneroWatcher",
    "ethereum": "chainwatch.watchers.ethereum:EthereumWatcher",
}


def watcher_class(kind: str) -> type[Watcher]:
    target = REGISTRY.get(kind)
    if target is None:
        raise NotAvailableError(f"watcher kind {kind!r}")
    module_name, _, class_name = target.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            raise NotAvailableError(f"watcher kind {kind!r}") from None
        raise
    cls: type[Watcher] = getattr(module, class_name)
    assert issubclass(cls, Watcher)
    return cls


def make_watcher(config: WatcherConfig) -> Watcher:
    return watcher_class(config.kind)(config)


__all__ = ["REGISTRY", "ScanContext", "Watcher", "WatcherResult", "make_watcher", "watcher_class"]
