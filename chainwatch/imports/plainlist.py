"""The ``list`` watchlist format: one address or CIDR per line, ``#`` starts a comment.

A comment after an entry becomes its note (``175.45.176.0/22  # Star JV``). An address alone
is its own /32 or /128. Host bits set, or a range broader than the loader accepts (/8 for
IPv4, /16 for IPv6), are errors at file:line: a list is typed by people, and such a line is a
typo more often than a wish to watch a sixteenth of the Internet.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator

from chainwatch.errors import WatchlistError
from chainwatch.imports.watchlist_blocks import Block, Skips
from chainwatch.watchlists.builder import MIN_PREFIX

_EXPECTED = 'one address or CIDR per line ("192.0.2.0/24"), # for comments'


def read_list(name: str, lines: Iterable[tuple[int, str]], skips: Skips) -> Iterator[Block]:
    for number, line in lines:
        body, _, comment = line.partition("#")
        body = body.strip()
        if not body:
            skips.add("comment or blank lines", f"{name}:{number}")
            continue
        if len(body.split()) != 1:
            raise WatchlistError(name, f"unexpected text {body!r}", line=number, expected=_EXPECTED)
        try:
            network = ipaddress.ip_network(body)
        except ValueError as exc:
            raise WatchlistError(
                name, f"{body!r}: {exc}", line=number, expected=_EXPECTED
            ) from None
        shortest = MIN_PREFIX[network.version]
        if network.prefixlen < shortest:
            raise WatchlistError(
                name,
                f"range {network} is broader than /{shortest}",
                line=number,
                expected=f"a prefix of /{shortest} or longer",
            )
        yield Block(network, comment.strip() or None)
