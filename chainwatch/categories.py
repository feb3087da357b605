"""Categories, coins, detectors and the built-in port rules of DESIGN.md.

A category names what a classified record is (``xmr-pool``); its coin is the prefix before the
dash. ``tor`` and ``vpn`` form the obfuscation group and have no coin. ``other`` is watched
but unclassified traffic: it only ever reaches the rollups, never the events table.
"""

from __future__ import annotations

import enum
from types import MappingProxyType

CATEGORIES: tuple[str, ...] = (
    "btc-p2p",
    "btc-pool",
    "xmr-p2p",
    "xmr-pool",
    "eth-p2p",
    "eth-pool",
    "ltc-p2p",
    "tor",
    "vpn",
    "other",
)
COINS: tuple[str, ...] = ("btc", "xmr", "eth", "ltc")
OBFUSCATION: tuple[str, ...] = ("tor", "vpn")
#: Categories an event may carry (``other`` lives in rollups only).
EVENT_CATEGORIES: tuple[str, ...] = tuple(c for c in CATEGORIES if c != "other")


def coin_of(category: str) -> str | None:
    """The coin of a category (``"xmr-pool"`` -> ``"xmr"``), or None for tor, vpn and other."""
    prefix, dash, _ = category.partition("-")
    return prefix if dash and prefix in COINS else None


class Detector(enum.StrEnum):
    """How a classification was reached, strongest first."""

    PAYLOAD = "payload"
    ENDPOINT = "endpoint"
    NODE_PEER = "node-peer"
    PORT = "port"


#: Confidence in [0, 1] that goes with each detector. "high" detectors are >= 0.8.
CONFIDENCE: MappingProxyType[str, float] = MappingProxyType(
    {
        Detector.PAYLOAD: 0.95,
        Detector.ENDPOINT: 0.9,
        Detector.NODE_PEER: 0.9,
        Detector.PORT: 0.4,
    }
)

#: Built-in port rules (detector ``port``). Pool ports are deliberately absent: a pool needs a
#: catalog endpoint or a payload, because 3333/4444/... carry plenty of unrelated traffic.
DEFAULT_PORT_RULES: MappingProxyType[int, str] = MappingProxyType(
    {
        8333: "btc-p2p",
        18333: "btc-p2p",
        18444: "btc-p2p",
        18080: "xmr-p2p",
        18089: "xmr-p2p",
        30303: "eth-p2p",
        9333: "ltc-p2p",
        9001: "tor",
        9030: "tor",
        1194: "vpn",
        51820: "vpn",
    }
)
