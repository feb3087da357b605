"""How the coin of mining traffic is decided, from the facts its payload showed.

A pool speaks stratum, getwork or a Monero-style login for many coins; the protocol alone
rarely names the coin. The coin comes from, strongest first (DESIGN.md, "Categories"):

1. ``endpoint``: the catalog endpoint's coin (applied by ``match.with_verdicts``, where the
   catalog is known);
2. ``wallet``: the payout address in the login or worker name (``WALLET.WORKER``,
   ``WALLET+diff``), recognised by ``wallets.wallet_coins`` with its checksum;
3. ``algorithm``: the algorithm the pool's job names, or the miner's list of algorithms;
4. ``protocol``: a protocol that only some coins speak (EthereumStratum, Monero-style stratum);
5. ``agent``: the miner software's name, the weakest hint.

Each hint is a set of candidate coins; weaker hints only narrow what stronger ones left, and a
weaker hint that contradicts a stronger one is ignored. The coin is decided when one candidate
is left, or when the candidates are one family whose usual coin is then taken (Ethereum before
Ethereum Classic, Litecoin before Dogecoin: the rarer coin needs its own evidence, e.g. its
pool in a catalog). ``coin_from`` names the hint that decided it and sets the confidence;
``none`` means nothing told the coin, and the category is ``pool`` with no coin.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Any

from chainwatch.categories import pool_category
from chainwatch.wallets import split_login, wallet_coins

#: Confidence of a mining verdict by what decided its coin.
CONFIDENCE: MappingProxyType[str, float] = MappingProxyType(
    {
        "endpoint": 0.95,
        "wallet": 0.95,
        "algorithm": 0.9,
        "protocol": 0.7,
        "agent": 0.6,
        # Mining is proven by the payload; only the coin is unknown (category ``pool``).
        "none": 0.95,
    }
)
#: Algorithm (as miners and pools name it, lower case) -> coins that use it.
ALGORITHMS: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {
        "rx/0": ("xmr",),
        "randomx": ("xmr",),
        "cn/r": ("xmr",),
        "cn/2": ("xmr",),
        "cn/1": ("xmr",),
        "cn/0": ("xmr",),
        "ethash": ("eth", "etc"),
        "etchash": ("etc",),
        "equihash": ("zec",),
        "equihash200_9": ("zec",),
        "equihash/200_9": ("zec",),
        "kawpow": ("rvn",),
        "x16r": ("rvn",),
        "x16rv2": ("rvn",),
        "scrypt": ("ltc", "doge"),
        "sha256d": ("btc",),
    }
)
#: Protocol (the ``protocol`` fact) -> coins that speak it; absent: many coins do.
PROTOCOLS: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {
        "eth-stratum": ("eth", "etc"),
        "eth-getwork": ("eth", "etc"),
        "xmr-stratum": ("xmr",),
    }
)
#: Miner software (a word of its user agent, lower case) -> the coins it mines. Miners of many
#: unrelated coins (lolMiner, T-Rex, GMiner...) only narrow what other hints say.
AGENTS: MappingProxyType[str, tuple[str, ...]] = MappingProxyType(
    {
        "ewbf": ("zec",),
        "nheqminer": ("zec",),
        "xmrig": ("xmr",),
        "xmr-stak": ("xmr",),
        "kawpowminer": ("rvn",),
        "ethminer": ("eth", "etc"),
        "phoenixminer": ("eth", "etc"),
        "nsfminer": ("eth", "etc"),
        "lolminer": ("eth", "etc", "zec"),
        "t-rex": ("rvn", "eth", "etc"),
        "gminer": ("eth", "etc", "zec", "rvn"),
        "nbminer": ("eth", "etc", "rvn"),
        "teamredminer": ("eth", "etc", "rvn"),
        "bmminer": ("btc",),
        "btminer": ("btc",),
        "cgminer": ("btc", "ltc", "doge"),
        "bfgminer": ("btc", "ltc", "doge"),
    }
)
#: Candidates that are one family: the usual coin of the family is taken.
FAMILIES: MappingProxyType[frozenset[str], str] = MappingProxyType(
    {frozenset({"eth", "etc"}): "eth", frozenset({"ltc", "doge"}): "ltc"}
)
_AGENT_WORDS = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def decide(hints: Iterable[tuple[str, tuple[str, ...]]]) -> tuple[str | None, str]:
    """(coin or None, the hint that decided it or ``"none"``) from hints strongest first."""
    candidates: tuple[str, ...] | None = None
    coin: str | None = None
    source = "none"
    for name, coins in hints:
        if not coins:
            continue
        narrowed = coins if candidates is None else tuple(c for c in candidates if c in coins)
        if not narrowed:
            continue  # contradicts stronger evidence
        candidates = narrowed
        decided = candidates[0] if len(candidates) == 1 else FAMILIES.get(frozenset(candidates))
        if decided is not None and decided != coin:
            coin, source = decided, name
    return coin, source


def login_coins(login: Any) -> tuple[tuple[str, ...], str | None]:
    """The coins of the wallet a login or worker name starts with, and that wallet."""
    if not isinstance(login, str):
        return (), None
    wallet, _ = split_login(login)
    coins = wallet_coins(wallet)
    return coins, (wallet if coins else None)


def algorithm_coins(facts: Mapping[str, Any]) -> tuple[str, ...]:
    """The pool's job algorithm decides; else the coins of every algorithm the miner offers
    (XMRig lists all it can mine, so a long list narrows little)."""
    job = facts.get("job_algo")
    if isinstance(job, str) and job.lower() in ALGORITHMS:
        return ALGORITHMS[job.lower()]
    offered = facts.get("algo")
    names = [offered] if isinstance(offered, str) else offered
    if not isinstance(names, list):
        return ()
    coins: list[str] = []
    for name in names:
        for coin in ALGORITHMS.get(str(name).lower(), ()):
            if coin not in coins:
                coins.append(coin)
    return tuple(coins)


def agent_coins(agent: Any) -> tuple[str, ...]:
    """The coins the miner software named in a user agent mines (``"EWBF 0.3.4b"`` -> zec)."""
    if not isinstance(agent, str):
        return ()
    for word in _AGENT_WORDS.findall(agent.lower()):
        for name in (word, word.partition("-")[0]):  # "xmrig-proxy" is XMRig's
            if name in AGENTS:
                return AGENTS[name]
    return ()


def attribute(facts: dict[str, Any], spoken_by: tuple[str, ...] = ()) -> tuple[str, float]:
    """The category (``<coin>-pool`` or ``pool``) and confidence of mining traffic with these
    payload facts; records how in ``facts["coin_from"]`` (and the address found in a worker
    name in ``facts["wallet"]``). ``spoken_by``: the coins whose own protocol this is, when
    the ``protocol`` fact does not say (monerod's ``get_block_template``)."""
    wallet_hint, wallet = login_coins(facts.get("wallet"))
    if not wallet_hint:
        wallet_hint, wallet = login_coins(facts.get("worker"))
        if wallet is not None:
            facts.setdefault("wallet", wallet)
    coin, source = decide(
        [
            ("wallet", wallet_hint),
            ("algorithm", algorithm_coins(facts)),
            ("protocol", spoken_by or PROTOCOLS.get(str(facts.get("protocol")), ())),
            ("agent", agent_coins(facts.get("agent"))),
        ]
    )
    facts["coin_from"] = source
    return pool_category(coin), CONFIDENCE[source]
