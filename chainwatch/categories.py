"""Coins, categories, detectors and the built-in port rules of DESIGN.md: the one registry.

``COIN_NAMES`` is the registry of coins; every list of coins or categories elsewhere (config
and catalog validation, ``export --category``/``--coin``, the STIX export, reports) derives from
it. A category names what a classified record is: ``<coin>-p2p`` and ``<coin>-pool`` for every
coin, ``pool`` for mining whose coin could not be told (never counted as any coin), ``tor`` and
``vpn`` (the obfuscation group, no coin), and ``other``, watched but unclassified traffic that
only ever reaches the rollups, never the events table. A category's coin is its prefix.
"""

from __future__ import annotations

import enum
from types import MappingProxyType

#: The coins chainwatch tells apart: code -> name. Adding one here adds its two categories.
COIN_NAMES: MappingProxyType[str, str] = MappingProxyType(
    {
        "btc": "Bitcoin",
        "xmr": "Monero",
        "eth": "Ethereum",
        "etc": "Ethereum Classic",
        "ltc": "Litecoin",
        "zec": "Zcash",
        "doge": "Dogecoin",
        "rvn": "Ravencoin",
    }
)
COINS: tuple[str, ...] = tuple(COIN_NAMES)
#: Mining whose coin could not be told.
POOL = "pool"
OBFUSCATION: tuple[str, ...] = ("tor", "vpn")
OTHER = "other"
CATEGORIES: tuple[str, ...] = (
    *(f"{coin}-{kind}" for coin in COINS for kind in ("p2p", "pool")),
    POOL,
    *OBFUSCATION,
    OTHER,
)
#: Categories an event may carry (``other`` lives in rollups only).
EVENT_CATEGORIES: tuple[str, ...] = tuple(c for c in CATEGORIES if c != OTHER)
#: Mining-pool categories: every ``<coin>-pool`` and ``pool``.
POOLS: tuple[str, ...] = (*(f"{coin}-pool" for coin in COINS), POOL)
#: Cryptocurrency activity (the STIX export's indicators): every coin category and ``pool``.
CRYPTO: tuple[str, ...] = tuple(c for c in EVENT_CATEGORIES if c not in OBFUSCATION)


def coin_of(category: str) -> str | None:
    """The coin of a category (``"xmr-pool"`` -> ``"xmr"``), or None for pool, tor, vpn, other."""
    prefix, dash, _ = category.partition("-")
    return prefix if dash and prefix in COIN_NAMES else None


def pool_category(coin: str | None) -> str:
    """``<coin>-pool``, or ``pool`` when the coin is unknown."""
    return f"{coin}-pool" if coin in COIN_NAMES else POOL


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

#: Built-in port rules (detector ``port``), exactly DESIGN.md's. Pool ports are deliberately
#: absent: a pool needs a catalog endpoint or a payload, because 3333/4444/... carry plenty of
#: unrelated traffic.
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
