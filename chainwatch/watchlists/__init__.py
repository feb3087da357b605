"""Watchlists (watched address ranges), endpoint catalogs, and the vectorised range matcher."""

from chainwatch.watchlists.loader import (
    Catalog,
    Endpoint,
    Range,
    Watchlist,
    WatchlistSet,
    load_watchlists,
)
from chainwatch.watchlists.matcher import MatchResult, RangeMatcher, parse_ips

__all__ = [
    "Catalog",
    "Endpoint",
    "MatchResult",
    "Range",
    "RangeMatcher",
    "Watchlist",
    "WatchlistSet",
    "load_watchlists",
    "parse_ips",
]
