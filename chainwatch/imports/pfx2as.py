"""CAIDA's RouteViews prefix-to-AS files (``routeviews-rv2-YYYYMMDD-HHMM.pfx2as.gz``, and
``rv6`` for IPv6).

One line per routed prefix, tab-separated: ``prefix<TAB>length<TAB>AS``, where AS is one
origin (``131279``), several origins seen for the prefix (multi-origin, ``4808_4837``), an AS
set from a route's aggregate (``4808,4809``), or both (``4808_4809,4810``). ``--asn`` keeps a
prefix when any of its origins is a wanted ASN; the note names the matched ones. The files
are snapshots of the routing table, not histories, so no ``valid_from`` is given.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator

from chainwatch.errors import WatchlistError
from chainwatch.imports.watchlist_blocks import Block, Selection, Skips, prefix_problem

_LINE = "prefix<TAB>length<TAB>AS (AS: 64496, 64496_64497 multi-origin, 64496,64497 AS set)"
_ORIGINS = re.compile(r"^\d+([_,]\d+)*$")


def origins(text: str) -> frozenset[int]:
    """Every AS number of the AS field (multi-origin ``_`` and AS-set ``,`` alike)."""
    return frozenset(int(n) for n in re.split(r"[_,]", text))


def read_pfx2as(
    name: str, lines: Iterable[tuple[int, str]], selection: Selection, skips: Skips
) -> Iterator[Block]:
    """The prefixes of one pfx2as file originated by a selected ASN (all when none is)."""
    for number, line in lines:
        where = f"{name}:{number}"
        if not line.strip():
            skips.add("blank lines", where)
            continue
        if line.startswith("#"):
            skips.add("comment lines", where)
            continue
        fields = line.split()
        if len(fields) != 3 or not _ORIGINS.match(fields[2]):
            raise WatchlistError(
                name, f"unexpected line {line[:80]!r}", line=number, expected=_LINE
            )
        problem = prefix_problem(fields[0], fields[1])
        if problem is not None:
            raise WatchlistError(name, f"prefix {problem}", line=number, expected=_LINE)
        if not selection:
            yield Block(ipaddress.ip_network((fields[0], int(fields[1]))), f"AS{fields[2]}")
            continue
        found = {int(fields[2])} if fields[2].isdigit() else origins(fields[2])
        matched = sorted(found & selection.asns)
        if not matched:
            skips.add("prefixes of other ASNs", where)
            continue
        network = ipaddress.ip_network((fields[0], int(fields[1])))
        yield Block(network, "; ".join(f"AS{n}" for n in matched))
