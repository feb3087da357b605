"""Country-sized watchlists for tests and ``benchmarks/watchlists.py``: the same ranges written
as TOML, plain text and CSV, the way importers write them.

Ranges are distinct, IPv4 (in loopback, 127.0.0.0/8) and IPv6 (in 2001:db8::/32) mixed, of
many prefix lengths, often nested; every 10th has a note and every 7th a validity window.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

V4_PREFIXES = [16, 20, 22, 24, 24, 26, 28, 30, 32, 32, 32, 32]
V6_PREFIXES = [40, 48, 56, 64, 64, 96, 112, 128]


def cidrs(count: int, *, seed: int = 15, v6_share: float = 0.3) -> list[str]:
    """``count`` distinct CIDRs, deterministic for a seed."""
    rng = random.Random(seed)
    seen: set[str] = set()
    out: list[str] = []
    while len(out) < count:
        if rng.random() < v6_share:
            prefix = rng.choice(V6_PREFIXES)
            value = (0x20010DB8 << 96) | rng.getrandbits(96)
            value &= ~((1 << (128 - prefix)) - 1)
            text = f"{socket.inet_ntop(socket.AF_INET6, value.to_bytes(16))}/{prefix}"
        else:
            prefix = rng.choice(V4_PREFIXES)
            value = (127 << 24) | rng.getrandbits(24)
            value &= ~((1 << (32 - prefix)) - 1)
            text = f"{socket.inet_ntop(socket.AF_INET, value.to_bytes(4))}/{prefix}"
        if text not in seen:
            seen.add(text)
            out.append(text)
    return out


def window(index: int) -> tuple[str, str]:
    """(valid_from, valid_to) of range ``index``: empty, or some days of 2017-2018."""
    if index % 7:
        return "", ""
    month = index % 12 + 1
    return f"2017-{month:02d}-01", f"2018-{month:02d}-28"


def write_csv(path: Path, ranges: list[str]) -> Path:
    lines = ["cidr,note,source,valid_from,valid_to"]
    for i, cidr in enumerate(ranges):
        start, stop = window(i)
        note = f'"block {i}, ""imported"""' if i % 10 == 0 else ""
        lines.append(f"{cidr},{note},RIR,{start},{stop}")
    path.write_text("\r\n".join(lines) + "\r\n")
    return path


def write_toml(path: Path, ranges: list[str]) -> Path:
    parts = ['description = "generated"\n']
    for i, cidr in enumerate(ranges):
        parts.append(f'[[ranges]]\ncidr = "{cidr}"\n')
        if i % 10 == 0:
            parts.append(f'note = "block {i}"\n')
        start, stop = window(i)
        if start:
            parts.append(f"valid_from = {start}\nvalid_to = {stop}\n")
    path.write_text("".join(parts))
    return path


def write_text(path: Path, ranges: list[str]) -> Path:
    path.write_text("# generated\n" + "\n".join(ranges) + "\n")
    return path
