"""Watchlists (watched address ranges), endpoint catalogs, and the vectorised range matcher."""

from chainwatch.watchlists.catalog import Catalog, Endpoint
from chainwatch.watchlists.endpoint_rows import EndpointRows, Endpoints
from chainwatch.watchlists.loader import Watchlist, WatchlistSet, load_watchlists
from chainwatch.watchlists.matcher import MatchResult, RangeMatcher, parse_ips
from chainwatch.watchlists.ranges import Range, RangeTable

__all__ = [
    "Catalog",
    "Endpoint",
    "EndpointRows",
    "Endpoints",
    "MatchResult",
    "Range",
    "RangeMatcher",
    "RangeTable",
    "Watchlist",
    "WatchlistSet",
    "load_watchlists",
    "parse_ips",
]
