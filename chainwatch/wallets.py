"""Which coin a wallet address belongs to, from its shape and its checksum.

Miners log in to pools with their payout address, often with more after it
(``WALLET.WORKER``, ``WALLET+difficulty``, ``WALLET/worker``); ``split_login`` takes the address
part and ``wallet_coins`` says which coins it can belong to, or none. A string counts only when
it decodes and its checksum holds, so a worker name that merely starts like an address
(``bc1qexample``, ``t1rig``, ``D3``) is not taken for one:

- base58check (Bitcoin ``1``/``3``, Litecoin ``L``/``M``, Dogecoin ``D``/``9``/``A``, Ravencoin
  ``R``/``r``, Zcash transparent ``t1``/``t3`` with a two-byte version, Zcash Sprout ``zc``): the
  version byte(s), the length and the double-SHA-256 checksum;
- bech32/bech32m (BIP 173/350: Bitcoin ``bc1``, Litecoin ``ltc1``, Zcash Sapling ``zs1`` and
  unified ``u1``): the character set, one case, the BCH checksum, and for segwit the witness
  version and program length;
- Monero (``4``/``8``, 95 characters, integrated 106; testnet and stagenet too): the ``monero``
  library's decoder, which checks the network byte and the Keccak checksum;
- Ethereum (``0x`` + 40 hex digits): an address written in mixed case must carry a valid EIP-55
  checksum; one case carries none. Ethereum Classic uses the same addresses, so both coins are
  answered, Ethereum first.

The base58check and bech32 decoders are written here (a few lines each, from the BIPs) rather
than taken from bitcoinlib: its decoders check checksums with ``assert`` (gone under ``-O``),
only take 25-byte base58 payloads (not Zcash's 26) and its import costs 0.4 s and writes
``~/.bitcoinlib``.
"""

from __future__ import annotations

import functools
import hashlib
import re
from types import MappingProxyType

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58)}
#: base58check version prefix -> (coin, decoded length with checksum).
_BASE58_VERSIONS: MappingProxyType[bytes, tuple[str, int]] = MappingProxyType(
    {
        b"\x00": ("btc", 25),  # 1...
        b"\x05": ("btc", 25),  # 3... (also Litecoin's old P2SH: Bitcoin's is far likelier)
        b"\x30": ("ltc", 25),  # L...
        b"\x32": ("ltc", 25),  # M...
        b"\x1e": ("doge", 25),  # D...
        b"\x16": ("doge", 25),  # 9... / A...
        b"\x3c": ("rvn", 25),  # R...
        b"\x7a": ("rvn", 25),  # r...
        b"\x1c\xb8": ("zec", 26),  # t1...
        b"\x1c\xbd": ("zec", 26),  # t3...
        b"\x16\x9a": ("zec", 70),  # zc... (Sprout)
    }
)
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_BECH32_INDEX = {c: i for i, c in enumerate(_BECH32)}
_BECH32M_CONST = 0x2BC830A3
#: bech32 human-readable part -> coin; the segwit ones have witness programs.
_BECH32_HRPS = MappingProxyType({"bc": "btc", "ltc": "ltc", "zs": "zec", "u": "zec"})
_SEGWIT = frozenset({"bc", "ltc"})
_ETHEREUM = re.compile(r"^0x[0-9a-fA-F]{40}$")
_MONERO = re.compile(r"^[1-9A-HJ-NP-Za-km-z]{95}(?:[1-9A-HJ-NP-Za-km-z]{11})?$")
#: What may follow the address in a login: worker name, fixed difficulty, e-mail...
_LOGIN_SEPARATORS = re.compile(r"[.+/:,@;\s]")
#: Longest address looked at (Zcash unified addresses run to a few hundred characters).
MAX_ADDRESS = 512


def split_login(login: str) -> tuple[str, str | None]:
    """``"WALLET.rig1"`` -> (``"WALLET"``, ``"rig1"``); ``"WALLET+50000"`` -> (``"WALLET"``,
    ``"50000"``); a login without a separator is all wallet."""
    text = login.strip()
    found = _LOGIN_SEPARATORS.search(text)
    if found is None:
        return text, None
    return text[: found.start()], text[found.end() :] or None


@functools.lru_cache(maxsize=4096)
def wallet_coins(text: str) -> tuple[str, ...]:
    """The coins a wallet address can belong to, likeliest first; () when it is none.

    Remembered: a connection is looked at several times as its stream grows, and miners log in
    with the same wallet again and again, while a Monero check (pure-Python Keccak) costs
    0.4 ms."""
    if not text or len(text) > MAX_ADDRESS:
        return ()
    if _ETHEREUM.match(text):
        return ("eth", "etc") if _eip55_ok(text[2:]) else ()
    if _MONERO.match(text) and _monero_ok(text):
        return ("xmr",)
    coin = _bech32_coin(text)
    if coin is None:
        coin = _base58check_coin(text)
    return (coin,) if coin is not None else ()


def _base58_decode(text: str) -> bytes | None:
    number = 0
    for char in text:
        digit = _B58_INDEX.get(char)
        if digit is None:
            return None
        number = number * 58 + digit
    body = number.to_bytes((number.bit_length() + 7) // 8, "big")
    zeros = len(text) - len(text.lstrip("1"))
    return b"\x00" * zeros + body


def _base58check_coin(text: str) -> str | None:
    if not 26 <= len(text) <= 100:
        return None
    raw = _base58_decode(text)
    if raw is None or len(raw) < 5:
        return None
    payload, checksum = raw[:-4], raw[-4:]
    if hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4] != checksum:
        return None
    for prefix in (raw[:2], raw[:1]):
        entry = _BASE58_VERSIONS.get(prefix)
        if entry is not None and len(raw) == entry[1]:
            return entry[0]
    return None


def _bech32_polymod(values: list[int]) -> int:
    generator = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    check = 1
    for value in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            check ^= generator[i] if (top >> i) & 1 else 0
    return check


def _convert_bits(data: list[int], source: int, target: int) -> list[int] | None:
    """Regroup ``source``-bit groups into ``target``-bit ones, refusing non-zero padding."""
    accumulator, bits, out = 0, 0, []
    for value in data:
        accumulator = (accumulator << source) | value
        bits += source
        while bits >= target:
            bits -= target
            out.append((accumulator >> bits) & ((1 << target) - 1))
    if bits >= source or (accumulator << (target - bits)) & ((1 << target) - 1):
        return None
    return out


def _bech32_coin(text: str) -> str | None:
    if text.lower() != text and text.upper() != text:
        return None  # mixed case is never valid bech32
    text = text.lower()
    hrp, separator, rest = text.rpartition("1")
    coin = _BECH32_HRPS.get(hrp)
    if not separator or coin is None or len(rest) < 6:
        return None
    data = [_BECH32_INDEX.get(c, -1) for c in rest]
    if -1 in data:
        return None
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    constant = _bech32_polymod(expanded + data)
    if hrp not in _SEGWIT:
        # Sapling addresses are bech32 with 43 bytes; unified addresses bech32m (ZIP 316).
        size = len(_convert_bits(data[:-6], 5, 8) or [])
        if hrp == "zs":
            return coin if constant == 1 and size == 43 else None
        return coin if constant == _BECH32M_CONST and size >= 48 else None
    if len(text) > 90 or not data[:-6]:
        return None
    version, program = data[0], _convert_bits(data[1:-6], 5, 8)
    if program is None or version > 16 or not 2 <= len(program) <= 40:
        return None
    if version == 0 and (constant != 1 or len(program) not in (20, 32)):
        return None
    if version > 0 and constant != _BECH32M_CONST:
        return None
    return coin


def _eip55_ok(digits: str) -> bool:
    """An address in one case carries no checksum; in mixed case it must be EIP-55's."""
    if digits.lower() == digits or digits.upper() == digits:
        return True
    from monero.keccak import keccak_256  # the monero package's Keccak (not SHA-3)

    hashed = keccak_256(digits.lower().encode()).hexdigest()
    return all(
        (c.isupper() if int(h, 16) >= 8 else c.islower()) if c.isalpha() else True
        for c, h in zip(digits, hashed[: len(digits)], strict=True)
    )


def _monero_ok(text: str) -> bool:
    from monero.address import address

    try:
        address(text)
    except ValueError:
        return False
    return True
