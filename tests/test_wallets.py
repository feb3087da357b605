"""Wallet shapes (``chainwatch.wallets``) and the coin decision (``chainwatch.coins``):
addresses written as the coins' software writes them are recognised with their coin, and the
same addresses with one character changed, or worker names that merely look like them, are
not (property tests); the hints combine strongest first."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chainwatch.categories import CATEGORIES, COINS, EVENT_CATEGORIES, POOL, coin_of
from chainwatch.coins import attribute, decide
from chainwatch.wallets import split_login, wallet_coins
from tests.addresses import VERSIONS, base58check, ethereum, monero, sapling, segwit

B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
FAST = settings(max_examples=60, deadline=None)


def substitute(text: str, at: int, alphabet: str, pick: int) -> str:
    """``text`` with the character at ``at`` replaced by another one of ``alphabet``."""
    others = [c for c in alphabet if c != text[at]]
    return text[:at] + others[pick % len(others)] + text[at + 1 :]


@st.composite
def base58_addresses(draw: st.DrawFn) -> tuple[str, str]:
    coin = draw(st.sampled_from(sorted(VERSIONS)))
    version = draw(st.sampled_from(VERSIONS[coin]))
    return coin, base58check(version, draw(st.binary(min_size=20, max_size=20)))


@st.composite
def bech32_addresses(draw: st.DrawFn) -> tuple[str, str]:
    kind = draw(st.sampled_from(["bc-v0", "bc-v0-script", "bc-taproot", "ltc-v0", "zs"]))
    if kind == "zs":
        return "zec", sapling(draw(st.binary(min_size=43, max_size=43)))
    size = 32 if kind in ("bc-v0-script", "bc-taproot") else 20
    program = draw(st.binary(min_size=size, max_size=size))
    hrp = "ltc" if kind == "ltc-v0" else "bc"
    return ("ltc" if hrp == "ltc" else "btc"), segwit(
        hrp, 1 if kind == "bc-taproot" else 0, program
    )


@FAST
@given(base58_addresses(), st.integers(min_value=0), st.integers(min_value=0))
def test_base58check_addresses_and_mutants(found: tuple[str, str], at: int, pick: int) -> None:
    coin, address = found
    assert wallet_coins(address) == (coin,)
    assert wallet_coins(substitute(address, at % len(address), B58, pick)) == ()
    assert wallet_coins(address[:-1]) == ()


@FAST
@given(bech32_addresses(), st.integers(min_value=0), st.integers(min_value=0))
def test_bech32_addresses_and_mutants(found: tuple[str, str], at: int, pick: int) -> None:
    coin, address = found
    assert wallet_coins(address) == (coin,)
    assert wallet_coins(address.upper()) == (coin,)
    data = address.rindex("1") + 1  # mutate the data part, where BCH detects any one error
    position = data + at % (len(address) - data)
    assert wallet_coins(substitute(address, position, BECH32, pick)) == ()


@FAST
@given(
    st.binary(min_size=32, max_size=32),
    st.binary(min_size=32, max_size=32),
    st.sampled_from([18, 42]),
    st.integers(min_value=0),
    st.integers(min_value=0),
)
def test_monero_addresses_and_mutants(
    spend: bytes, view: bytes, netbyte: int, at: int, pick: int
) -> None:
    address = monero(spend, view, netbyte=netbyte)
    assert address[0] == ("4" if netbyte == 18 else "8") and len(address) == 95
    assert wallet_coins(address) == ("xmr",)
    assert wallet_coins(f"{address}+50000") == ()  # the whole login is no address...
    assert split_login(f"{address}+50000") == (address, "50000")  # ...its first part is
    assert wallet_coins(substitute(address, at % 95, B58, pick)) == ()


@FAST
@given(st.binary(min_size=20, max_size=20), st.integers(min_value=0))
def test_ethereum_addresses_and_mutants(raw: bytes, at: int) -> None:
    address = ethereum(raw)
    assert wallet_coins(address) == ("eth", "etc")
    assert wallet_coins(address.lower()) == ("eth", "etc")  # one case: no checksum to check
    letters = [i for i, c in enumerate(address) if i > 1 and c.isalpha()]
    if letters:
        i = letters[at % len(letters)]
        flipped = address[:i] + address[i].swapcase() + address[i + 1 :]
        if flipped.lower() != flipped and flipped[2:].upper() != flipped[2:]:
            assert wallet_coins(flipped) == ()
    assert wallet_coins(address[:-1]) == ()


@FAST
@given(st.from_regex(r"\A(rig|worker|bc1q|t1|D|R|L|0x)[a-z0-9]{0,40}\Z"))
def test_worker_names_are_not_wallets(name: str) -> None:
    assert wallet_coins(name) == ()


def test_integrated_monero_address() -> None:
    from monero.address import address

    fund = address(monero(b"\x11" * 32, b"\x22" * 32))
    integrated = str(fund.with_payment_id(0xFEEDBEEF))
    assert len(integrated) == 106
    assert wallet_coins(integrated) == ("xmr",)


def test_registry_derives_every_list() -> None:
    assert set(COINS) >= {"btc", "xmr", "eth", "etc", "ltc", "zec", "doge", "rvn"}
    for coin in COINS:
        assert {f"{coin}-p2p", f"{coin}-pool"} <= set(EVENT_CATEGORIES)
        assert coin_of(f"{coin}-pool") == coin
    assert POOL in EVENT_CATEGORIES and coin_of(POOL) is None
    assert "other" in CATEGORIES and "other" not in EVENT_CATEGORIES


@pytest.mark.parametrize(
    ("hints", "expected"),
    [
        ([("wallet", ("eth", "etc")), ("algorithm", ("etc",))], ("etc", "algorithm")),
        ([("wallet", ("eth", "etc"))], ("eth", "wallet")),
        ([("algorithm", ("ltc", "doge"))], ("ltc", "algorithm")),
        ([("wallet", ("doge",)), ("algorithm", ("ltc", "doge"))], ("doge", "wallet")),
        # A weaker hint contradicting a stronger one is ignored.
        ([("wallet", ("zec",)), ("agent", ("xmr",))], ("zec", "wallet")),
        # A miner of many coins decides nothing alone, but narrows.
        ([("agent", ("rvn", "eth", "etc"))], (None, "none")),
        ([("algorithm", ("xmr", "rvn")), ("protocol", ("xmr",))], ("xmr", "protocol")),
        ([], (None, "none")),
    ],
)
def test_hints_combine_strongest_first(
    hints: list[tuple[str, tuple[str, ...]]], expected: tuple[str | None, str]
) -> None:
    assert decide(hints) == expected


@pytest.mark.parametrize(
    ("facts", "category", "coin_from"),
    [
        ({"protocol": "stratum", "algo": "ethash"}, "eth-pool", "algorithm"),
        ({"protocol": "stratum", "algo": ["etchash"]}, "etc-pool", "algorithm"),
        ({"protocol": "stratum", "algo": "equihash"}, "zec-pool", "algorithm"),
        ({"protocol": "stratum", "algo": "scrypt"}, "ltc-pool", "algorithm"),
        (
            {"protocol": "xmr-stratum", "job_algo": "kawpow", "algo": ["rx/0", "kawpow"]},
            "rvn-pool",
            "algorithm",
        ),
        ({"protocol": "stratum", "agent": "lolMiner 1.42"}, "pool", "none"),
        ({"protocol": "stratum", "agent": "xmrig-proxy/6.21.0"}, "xmr-pool", "agent"),
        ({"protocol": "getwork", "agent": "cgminer/4.10.0"}, "pool", "none"),
    ],
)
def test_attribute_from_facts(facts: dict[str, object], category: str, coin_from: str) -> None:
    assert attribute(dict(facts))[0] == category
    decided = dict(facts)
    attribute(decided)
    assert decided["coin_from"] == coin_from
