"""Where the sources of one watchlist disagree: for each country or ASN that two sources both
give ranges for, the addresses one has and the other lacks.

A watchlist CSV row says which sources gave it (``source``: ``rir:delegated-apnic-latest``,
several joined by ``; ``) and what selected it (``note``: ``KP``, ``AS131279 Star JV``,
``KP registered``). Sources are compared per selector and per IP version, and only where both
have ranges for it: an IPv4 and an IPv6 pfx2as file never "disagree". The five RIRs' files
are complementary (each registry lists only its own space), so all ``rir:`` sources together
count as one side.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Sequence

from chainwatch.imports.watchlist_blocks import (
    Interval,
    addresses_text,
    cidrs,
    difference,
    interval,
    merged,
    size,
)

#: Formats whose notes name what selected the range (``list`` notes are free text).
SELECTING = ("rir", "geolite2", "pfx2as")
_SELECTOR = re.compile(r"^([A-Z]{2}|AS\d+)$")
#: At most this many example ranges per disagreement.
EXAMPLES = 3


def selectors(note: str | None) -> list[str]:
    """The countries and ASNs a row's note names (``KP; AS131279 Star JV`` -> KP, AS131279)."""
    found = []
    for item in (note or "").split(";"):
        words = item.split()
        if words and _SELECTOR.match(words[0]):
            found.append(words[0])
    return found


def shown(label: str) -> str:
    """A source as messages name it: without the format prefix."""
    return label.partition(":")[2] or label


def _side(label: str) -> str:
    """The side a source is on: all RIR files are one, every other source its own."""
    return "rir" if label.startswith("rir:") else label


def disagreements(rows: Iterable[Sequence[str]]) -> list[str]:
    """One line per (selector, side A, side B) where A has addresses B lacks; ``rows`` are
    watchlist CSV rows ``cidr,note,source,valid_from,valid_to``."""
    rows = list(rows)
    # First the sides each selector has, from the labels alone: parsing a million CIDRs is
    # only worth it for selectors that two sides give ranges for.
    compared: dict[str, set[str]] = {}
    for _, note, source, *_ in rows:
        for selector in selectors(note):
            for label in (source or "").split("; "):
                if label.partition(":")[0] in SELECTING:
                    compared.setdefault(selector, set()).add(_side(label))
    wanted = {selector for selector, found in compared.items() if len(found) > 1}
    if not wanted:
        return []
    sides: dict[tuple[str, int], dict[str, list[Interval]]] = {}
    labels: dict[tuple[str, int], dict[str, set[str]]] = {}
    for cidr, note, source, *_ in rows:
        chosen = [s for s in selectors(note) if s in wanted]
        if not chosen or not source:
            continue
        network = ipaddress.ip_network(cidr)
        span = interval(network)
        for label in source.split("; "):
            if label.partition(":")[0] not in SELECTING:
                continue
            side = _side(label)
            for selector in chosen:
                key = (selector, network.version)
                sides.setdefault(key, {}).setdefault(side, []).append(span)
                labels.setdefault(key, {}).setdefault(side, set()).add(shown(label))
    lines = []
    for (selector, version), by_side in sorted(sides.items()):
        if len(by_side) < 2:
            continue
        compact = {side: merged(spans) for side, spans in by_side.items()}
        names = {side: "+".join(sorted(labels[(selector, version)][side])) for side in compact}
        for a in sorted(compact):
            for b in sorted(compact):
                if a == b:
                    continue
                missing = difference(compact[a], compact[b])
                if not missing:
                    continue
                examples = []
                for network in cidrs(version, missing):
                    examples.append(str(network))
                    if len(examples) == EXAMPLES:
                        break
                lines.append(
                    f"{selector}: {addresses_text(version, size(missing))} in {names[a]} but "
                    f"not in {names[b]}, e.g. {', '.join(examples)}"
                )
    return lines
