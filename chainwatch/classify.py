"""Classifying the remote side of watched records: endpoint catalogs first, then port rules.

DESIGN.md orders the detectors ``payload`` > ``endpoint`` > ``node-peer`` > ``port``. This module
holds the two that need no payload. A record belongs to a catalog endpoint when one of the
endpoint's rows fits it: an *address* row (IP or CIDR) by the row's own validity window, or a
*host* row (a name, or ``*.suffix``) through a DNS answer for that host with the record's
remote address seen within ``horizon`` (``DNS_HORIZON``) of the record's time, and inside
the row's window; and the row's port (any when none). A record of unknown time matches only
rows without a window, never through an answer. Rows are in priority order (catalogs in load
order, rows in file order): the first that fits wins. Otherwise a remote port with a port rule
gives the rule's category at low confidence. Pool ports alone never classify.

Records that carry their own verdict (pcap payloads) keep it, but a mining verdict towards a
catalog endpoint of a coin takes the endpoint's coin (its category carries it: the loader
makes ``pool`` with a ``coin`` that coin's pool), the strongest evidence of which coin a pool
mines (``coin_from: endpoint``): that precedence is decided in ``chainwatch.match``.

Everything is vectorised over flat tables (``catalog_index.py``): a million catalog rows
compile once, a batch is looked up in one pass per address family, and answers added during
a scan rebuild only the host rules. ``Classifier`` is the shared API of the flow and pcap
watchers (``classify_one``, ``match_host`` and ``endpoint_for_host`` for per-packet use).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from chainwatch.catalog_index import NONE, AddressIndex, HostIndex
from chainwatch.categories import CONFIDENCE, POOLS, Detector
from chainwatch.passive_dns import Answer
from chainwatch.watchlists import Endpoint
from chainwatch.watchlists.endpoint_rows import rows_for
from chainwatch.watchlists.matcher import ParsedIps, parse_ips, record_times
from chainwatch.watchlists.ranges import micros

_NO_PORT = -1
#: How far from a DNS answer's time the answer speaks for a record (``[catalogs] dns_horizon``).
DNS_HORIZON = dt.timedelta(days=7)


@dataclass(frozen=True)
class HostMatch:
    """A name (TLS SNI, HTTP Host) found in a catalog: the endpoint, and the catalog's host
    pattern that matched (the exact name, or ``*.suffix`` for names below suffix)."""

    endpoint: Endpoint
    pattern: str


@dataclass(frozen=True)
class Classification:
    """One result.

    Attributes:
        category: e.g. ``"xmr-pool"``.
        detector: a ``Detector`` value: ``"endpoint"`` or ``"port"`` here.
        confidence: ``categories.CONFIDENCE[detector]``.
        endpoint: the catalog endpoint's name when ``detector == "endpoint"``, else None.
    """

    category: str
    detector: str
    confidence: float
    endpoint: str | None


@dataclass(frozen=True)
class ClassifiedBatch:
    """Vectorised result, one entry per input row; None/NaN where a row is unclassified
    (such rows reach the rollups as category ``other``)."""

    category: np.ndarray
    detector: np.ndarray
    confidence: np.ndarray
    endpoint: np.ndarray
    #: object: the ``Answer`` through which the row's endpoint matched (by a host), else None
    answer: np.ndarray

    def __len__(self) -> int:
        return len(self.category)

    @property
    def classified(self) -> np.ndarray:
        """Boolean mask of the rows that got a category."""
        mask: np.ndarray = np.not_equal(self.category, None)  # type: ignore[call-overload]
        return mask

    def row(self, index: int) -> Classification | None:
        category = self.category[index]
        if category is None:
            return None
        return Classification(
            category=str(category),
            detector=str(self.detector[index]),
            confidence=float(self.confidence[index]),
            endpoint=self.endpoint[index],
        )


def _ports(values: Any, n: int) -> np.ndarray:
    if values is None:
        return np.full(n, _NO_PORT, dtype=np.int64)
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        return np.asarray(values.fill_null(_NO_PORT).to_numpy(zero_copy_only=False), dtype=np.int64)
    if isinstance(values, np.ma.MaskedArray):
        return np.asarray(values.filled(_NO_PORT), dtype=np.int64)
    array = np.asarray(values)
    if array.dtype == object:
        return np.array([_NO_PORT if v is None else int(v) for v in array], dtype=np.int64)
    return array.astype(np.int64, copy=False)


class Classifier:
    """Classifies remote addresses/ports/times against catalogs and port rules.

    Args:
        endpoints: catalog endpoints, in priority order (the first that fits wins):
            ``WatchlistSet.endpoints`` (with every catalog's rows), or ``Endpoint`` objects
            whose fields are their rules (TOML entries).
        port_rules: remote port -> category (``Settings.port_rules``). Rules naming a pool
            category are ignored: a pool needs a catalog endpoint or a payload.
        answers: DNS answers (``chainwatch.passive_dns.Answer``); those for catalog hosts tie
            an address to a host row within ``horizon`` of their time. More come with
            ``add_answers``.
        horizon: how far from an answer's ``seen_at`` (either way, inclusive) it speaks.
    """

    def __init__(
        self,
        endpoints: Sequence[Endpoint],
        port_rules: Mapping[int, str],
        answers: Sequence[Answer] = (),
        horizon: dt.timedelta = DNS_HORIZON,
    ) -> None:
        self.endpoints = tuple(endpoints)
        self.horizon = horizon
        rows = rows_for(endpoints)
        self._row_endpoint = rows.endpoint.astype(np.int64)
        self._names = np.array([e.name for e in self.endpoints], dtype=object)
        self._categories = np.array([e.category for e in self.endpoints], dtype=object)
        self._addresses = AddressIndex(rows)
        self._hosts = HostIndex(rows, horizon // dt.timedelta(microseconds=1))
        self.add_answers(answers)
        categories = sorted({c for c in port_rules.values() if c not in POOLS})
        self._rule_categories = np.array([*categories, None], dtype=object)
        # A 65,536-entry table turns the port-rule lookup into one fancy index.
        self._rule_table = np.full(65536, len(categories), dtype=np.int16)
        for port, category in port_rules.items():
            if category in categories and 0 <= int(port) < 65536:
                self._rule_table[int(port)] = categories.index(category)

    def add_answers(self, answers: Sequence[Answer]) -> None:
        """More DNS answers (a batch's, the stored ones); only those for catalog hosts count.
        Cheap: only the host rules are rebuilt, when next needed."""
        self._hosts.add(list(answers))

    def classify(self, remote_ips: Any, remote_ports: Any, times: Any) -> ClassifiedBatch:
        """Classify a batch.

        Args:
            remote_ips: pyarrow string array, list of str, or ``ParsedIps``.
            remote_ports: int array (-1, null or masked = unknown).
            times: numpy ``datetime64[us]`` UTC, or a pyarrow timestamp array (NaT/null = unknown).
        """
        parsed = remote_ips if isinstance(remote_ips, ParsedIps) else parse_ips(remote_ips)
        n = len(parsed)
        ports = _ports(remote_ports, n)
        if len(ports) != n:
            raise ValueError(f"classify: {n} addresses but {len(ports)} ports")
        when = record_times(times, n)
        category = np.full(n, None, dtype=object)
        detector = np.full(n, None, dtype=object)
        endpoint = np.full(n, None, dtype=object)
        answer = np.full(n, None, dtype=object)
        confidence = np.full(n, np.nan, dtype=np.float64)

        # Per record, the priority (row) of the first address row and host rule that fit.
        by_address = np.full(n, NONE, dtype=np.int64)
        by_host = np.full(n, NONE, dtype=np.int64)
        host_rule = np.full(n, -1, dtype=np.int64)
        for family in (4, 6):
            records = np.flatnonzero(parsed.version == family)
            if not len(records):
                continue
            keys = parsed.v4[records] if family == 4 else parsed.v6[records]
            address_keys = keys.astype(np.uint32) if family == 4 else keys
            self._addresses.lower(family, records, address_keys, ports, when, by_address)
            self._hosts.lower(family, records, keys, ports, when, by_host, host_rule)
            through = records[by_host[records] < by_address[records]]
            if len(through):
                answer[through] = self._hosts.answers(family, host_rule[through], when[through])
        row = np.minimum(by_address, by_host)
        chosen = np.flatnonzero(row != NONE)
        if len(chosen):
            which = self._row_endpoint[row[chosen]]
            category[chosen] = self._categories[which]
            endpoint[chosen] = self._names[which]
            detector[chosen] = Detector.ENDPOINT.value
            confidence[chosen] = CONFIDENCE[Detector.ENDPOINT]

        unset = np.equal(category, None)  # type: ignore[call-overload]
        open_rows = np.flatnonzero(unset & (ports >= 0) & (ports < 65536))
        if len(open_rows):
            labels = self._rule_categories[self._rule_table[ports[open_rows]]]
            ruled = np.not_equal(labels, None)  # type: ignore[call-overload]
            chosen = open_rows[ruled]
            category[chosen] = labels[ruled]
            detector[chosen] = Detector.PORT.value
            confidence[chosen] = CONFIDENCE[Detector.PORT]
        return ClassifiedBatch(
            category=category,
            detector=detector,
            confidence=confidence,
            endpoint=endpoint,
            answer=answer,
        )

    def classify_one(
        self, remote_ip: str, remote_port: int | None, when: dt.datetime | None
    ) -> Classification | None:
        """Classify one record (a packet, a peer). ``when`` must be timezone-aware (or None)."""
        if when is not None and when.tzinfo is None:
            raise ValueError("classify_one: naive datetime; times must be UTC-aware")
        stamp = (
            np.datetime64(when.astimezone(dt.UTC).replace(tzinfo=None), "us")
            if when is not None
            else np.datetime64("NaT", "us")
        )
        batch = self.classify(
            [remote_ip],
            np.array([_NO_PORT if remote_port is None else remote_port], dtype=np.int64),
            np.array([stamp], dtype="datetime64[us]"),
        )
        return batch.row(0)

    def match_host(self, name: str, when: dt.datetime | None = None) -> HostMatch | None:
        """The catalog endpoint of a server name (TLS SNI, HTTP Host), case-insensitive: a
        host listed exactly or under a ``*.suffix`` pattern; the first row that names one
        wins. With ``when`` (timezone-aware, the record's time) only rows whose own validity
        window holds it count: a name says nothing of a date its row does not cover."""
        name = name.strip().lower().rstrip(".")
        rows = self._hosts.rows_for(name) if name else []
        if rows and when is not None:
            at, table = micros(when), self._hosts.rows
            rows = [r for r in rows if table.valid_from[r] <= at <= table.valid_to[r]]
        if not rows:
            return None
        first = min(rows)
        pattern = self._hosts.rows.hosts[int(self._hosts.rows.host[first])]
        return HostMatch(self.endpoints[int(self._row_endpoint[first])], pattern)

    def endpoint_for_host(self, host: str) -> Endpoint | None:
        """``match_host``'s endpoint (the pcap reader's TLS server names)."""
        found = self.match_host(host)
        return None if found is None else found.endpoint
