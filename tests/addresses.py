"""Wallet addresses as the coins' own software writes them, for the tests: base58check and
bech32/bech32m encoders written from BIP 13/173/350 (the code under test only decodes),
Monero addresses through the ``monero`` package, EIP-55 through web3."""

from __future__ import annotations

import hashlib

# web3 raises the recursion limit when imported: at collection, not inside a test.
from web3 import Web3

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BECH32 = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"

#: base58check version bytes of each coin's mainnet (from each coin's chainparams.cpp).
VERSIONS = {
    "btc": [b"\x00", b"\x05"],
    "ltc": [b"\x30", b"\x32"],
    "doge": [b"\x1e", b"\x16"],
    "rvn": [b"\x3c", b"\x7a"],
    "zec": [b"\x1c\xb8", b"\x1c\xbd"],
}


def base58check(version: bytes, payload: bytes) -> str:
    raw = version + payload
    raw += hashlib.sha256(hashlib.sha256(raw).digest()).digest()[:4]
    number = int.from_bytes(raw, "big")
    text = ""
    while number:
        number, digit = divmod(number, 58)
        text = _B58[digit] + text
    return "1" * (len(raw) - len(raw.lstrip(b"\x00"))) + text


def _polymod(values: list[int]) -> int:
    generator = [0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3]
    check = 1
    for value in values:
        top = check >> 25
        check = (check & 0x1FFFFFF) << 5 ^ value
        for i in range(5):
            check ^= generator[i] if (top >> i) & 1 else 0
    return check


def _bits(data: bytes) -> list[int]:
    accumulator, bits, out = 0, 0, []
    for byte in data:
        accumulator = (accumulator << 8) | byte
        bits += 8
        while bits >= 5:
            bits -= 5
            out.append((accumulator >> bits) & 31)
    if bits:
        out.append((accumulator << (5 - bits)) & 31)
    return out


def bech32(hrp: str, data: list[int], *, m: bool = False) -> str:
    expanded = [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]
    polymod = _polymod(expanded + data + [0] * 6) ^ (0x2BC830A3 if m else 1)
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return hrp + "1" + "".join(_BECH32[d] for d in data + checksum)


def segwit(hrp: str, version: int, program: bytes) -> str:
    return bech32(hrp, [version, *_bits(program)], m=version > 0)


def sapling(payload: bytes) -> str:
    """A Zcash Sapling address: 43 bytes, bech32 with ``zs``."""
    return bech32("zs", _bits(payload))


def monero(spend: bytes, view: bytes, *, netbyte: int = 18) -> str:
    from monero import base58
    from monero.keccak import keccak_256

    data = bytes([netbyte]) + spend + view
    data += keccak_256(data).digest()[:4]
    return str(base58.encode(data.hex()))


def ethereum(raw: bytes) -> str:
    return str(Web3.to_checksum_address(raw))
