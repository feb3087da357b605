"""Classifying the remote side of watched records: endpoint catalogs first, then port rules.

DESIGN.md orders the detectors ``payload`` > ``endpoint`` > ``node-peer`` > ``port``. This module
holds the two that need no payload: a record whose remote address belongs to a catalog endpoint
(an ``ips``/``cidrs`` entry, or an address one of its ``hosts`` resolved to during this scan),
on one of the endpoint's ports (any port when it lists none), on a date inside its
``valid_from``..``valid_to`` window, is that endpoint's category; otherwise a remote port with a
port rule gives the rule's category at low confidence. Pool ports alone never classify.

Records that carry their own verdict (pcap payloads) keep it (``with_verdicts``), but a mining
verdict towards a catalog endpoint of a coin takes the catalog's coin, the strongest evidence
of which coin a pool mines (``coin_from: endpoint``).

Everything is vectorised: a batch of remote addresses is tested against the union of all
endpoint intervals at once (one ``searchsorted``), and only the few rows that hit an endpoint
are looked at endpoint by endpoint. ``Classifier`` is the shared API of the flow and pcap
watchers (see ``classify_one`` and ``endpoint_for_host`` for the per-packet use).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from chainwatch import coins
from chainwatch.categories import CONFIDENCE, POOLS, Detector, coin_of, pool_category
from chainwatch.passive_dns import Answer
from chainwatch.watchlists import Endpoint
from chainwatch.watchlists.matcher import ParsedIps, parse_ips

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


class _Intervals:
    """Sorted, merged address intervals of one family, for "is it in any of them" tests."""

    def __init__(self, pairs: list[tuple[int, int]], version: int) -> None:
        merged: list[list[int]] = []
        for lo, hi in sorted(pairs):
            if merged and lo <= merged[-1][1] + 1:
                merged[-1][1] = max(merged[-1][1], hi)
            else:
                merged.append([lo, hi])
        self.version = version
        self.lo = _encode([m[0] for m in merged], version)
        self.hi = _encode([m[1] for m in merged], version)

    def contains(self, keys: np.ndarray) -> np.ndarray:
        if len(self.lo) == 0 or len(keys) == 0:
            return np.zeros(len(keys), dtype=bool)
        position = np.searchsorted(self.lo, keys, side="right") - 1
        inside = position >= 0
        safe = np.maximum(position, 0)
        return inside & (keys <= self.hi[safe])


def _encode(values: list[int], version: int) -> np.ndarray:
    if version == 4:
        return np.array(values, dtype=np.uint64)
    return np.array([v.to_bytes(16, "big") for v in values], dtype="S16")


def _day_start(day: dt.date) -> np.datetime64:
    return np.datetime64(dt.datetime(day.year, day.month, day.day), "us")


def _stamp(moment: dt.datetime) -> np.datetime64:
    return np.datetime64(moment.astimezone(dt.UTC).replace(tzinfo=None), "us")


def pattern_matches(pattern: str, name: str) -> bool:
    """Whether a catalog host pattern (a name, or ``*.suffix``) covers ``name``."""
    if pattern.startswith("*."):
        return name.endswith(pattern[1:]) and len(name) > len(pattern) - 1
    return name == pattern


class _Compiled:
    """One endpoint, ready for vectorised tests."""

    def __init__(self, endpoint: Endpoint) -> None:
        self.endpoint = endpoint
        pairs: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
        for network in endpoint.networks:
            pairs[network.version].append(
                (int(network.network_address), int(network.broadcast_address))
            )
        self.pairs = pairs
        self.v4 = _Intervals(pairs[4], 4)
        self.v6 = _Intervals(pairs[6], 6)
        self.ports = np.array(sorted(endpoint.ports), dtype=np.int64)
        # valid_to is inclusive: the whole day belongs to the window.
        self.start = _day_start(endpoint.valid_from) if endpoint.valid_from else None
        self.end = (
            _day_start(endpoint.valid_to + dt.timedelta(days=1)) if endpoint.valid_to else None
        )
        #: (version, key, first, last instant, answer) per answer for one of its hosts
        self.answers: list[tuple[int, Any, np.datetime64, np.datetime64, Answer]] = []

    def add_answer(self, answer: Answer, horizon: dt.timedelta) -> tuple[int, int] | None:
        try:
            address = ipaddress.ip_address(answer.address)
        except ValueError:
            return None  # not an address: nothing to match
        key: Any = np.uint64(int(address)) if address.version == 4 else np.bytes_(address.packed)
        self.answers.append(
            (
                address.version,
                key,
                _stamp(answer.seen_at - horizon),
                _stamp(answer.seen_at + horizon),
                answer,
            )
        )
        return address.version, int(address)

    def _fits(self, rows: np.ndarray, ports: np.ndarray, times: np.ndarray) -> np.ndarray:
        fits = np.ones(len(rows), dtype=bool)
        if len(self.ports):
            fits &= np.isin(ports[rows], self.ports)
        if self.start is not None or self.end is not None:
            when = times[rows]
            # An unknown time cannot be shown to fall inside the window: no match.
            known = ~np.isnat(when)
            fits &= known
            if self.start is not None:
                fits &= ~known | (when >= self.start)
            if self.end is not None:
                fits &= ~known | (when < self.end)
        return fits

    def matches(
        self, parsed: ParsedIps, rows: np.ndarray, ports: np.ndarray, times: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Which of ``rows`` (indices into the batch) belong to this endpoint, and the answer
        through which each did (None: by the endpoint's own addresses)."""
        version = parsed.version[rows]
        hit = np.zeros(len(rows), dtype=bool)
        is4 = version == 4
        if is4.any():
            hit[is4] = self.v4.contains(parsed.v4[rows[is4]])
        is6 = version == 6
        if is6.any():
            hit[is6] = self.v6.contains(parsed.v6[rows[is6]])
        via = np.full(len(rows), None, dtype=object)
        when = times[rows]
        for family, key, first, last, answer in self.answers:
            keys = parsed.v4[rows] if family == 4 else parsed.v6[rows]
            # An unknown time (NaT) compares false: never matched through an answer.
            near = ~hit & (version == family) & (keys == key) & (when >= first) & (when <= last)
            via[near & np.equal(via, None)] = answer  # type: ignore[call-overload]
        hit |= np.not_equal(via, None)  # type: ignore[call-overload]
        hit &= self._fits(rows, ports, times)
        via[~hit] = None
        return hit, via


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


def _times(values: Any, n: int) -> np.ndarray:
    if values is None:
        return np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if isinstance(values, pa.Array):
        # Arrow timestamps are UTC instants; numpy keeps them as naive UTC microseconds.
        values = values.cast(pa.timestamp("us")).to_numpy(zero_copy_only=False)
    return np.asarray(values).astype("datetime64[us]", copy=False)


class Classifier:
    """Classifies remote addresses/ports/times against catalogs and port rules.

    Args:
        endpoints: catalog endpoints, in priority order (the first that fits wins).
        port_rules: remote port -> category (``Settings.port_rules``). Rules naming a pool
            category are ignored: a pool needs a catalog endpoint or a payload.
        answers: DNS answers for catalog hosts (``chainwatch.passive_dns.Answer``); more come
            with ``add_answers``.
        horizon: how far from an answer's ``seen_at`` it ties its address to the host.
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
        self._compiled = [_Compiled(e) for e in self.endpoints]
        self._answered: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
        self._hosts: dict[str, tuple[int, str]] = {}
        for rank, endpoint in enumerate(self.endpoints):
            for host in endpoint.hosts:
                self._hosts.setdefault(host.lower(), (rank, host.lower()))
        self._compile_candidates()
        self.add_answers(answers)
        categories = sorted({c for c in port_rules.values() if c not in POOLS})
        self._rule_categories = np.array([*categories, None], dtype=object)
        # A 65,536-entry table turns the port-rule lookup into one fancy index.
        self._rule_table = np.full(65536, len(categories), dtype=np.int16)
        for port, category in port_rules.items():
            if category in categories and 0 <= int(port) < 65536:
                self._rule_table[int(port)] = categories.index(category)

    def _compile_candidates(self) -> None:
        self._any_v4 = _Intervals(
            [p for c in self._compiled for p in c.pairs[4]] + self._answered[4], 4
        )
        self._any_v6 = _Intervals(
            [p for c in self._compiled for p in c.pairs[6]] + self._answered[6], 6
        )

    def add_answers(self, answers: Sequence[Answer]) -> None:
        """More DNS answers (a batch's, the stored ones); only those for catalog hosts count."""
        added = False
        for answer in answers:
            name = answer.host.lower().rstrip(".")
            for compiled in self._compiled:
                if any(pattern_matches(h, name) for h in compiled.endpoint.hosts):
                    found = compiled.add_answer(answer, self.horizon)
                    if found is not None:
                        self._answered[found[0]].append((found[1], found[1]))
                        added = True
        if added:
            self._compile_candidates()

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
        when = _times(times, n)
        if len(ports) != n or len(when) != n:
            raise ValueError(
                f"classify: {n} addresses but {len(ports)} ports and {len(when)} times"
            )
        category = np.full(n, None, dtype=object)
        detector = np.full(n, None, dtype=object)
        endpoint = np.full(n, None, dtype=object)
        answer = np.full(n, None, dtype=object)
        confidence = np.full(n, np.nan, dtype=np.float64)

        candidates = np.zeros(n, dtype=bool)
        is4 = parsed.version == 4
        if is4.any():
            candidates[is4] = self._any_v4.contains(parsed.v4[is4])
        is6 = parsed.version == 6
        if is6.any():
            candidates[is6] = self._any_v6.contains(parsed.v6[is6])
        rows = np.flatnonzero(candidates)
        if len(rows):
            high = CONFIDENCE[Detector.ENDPOINT]
            for compiled in self._compiled:
                if len(rows) == 0:
                    break
                hit, via = compiled.matches(parsed, rows, ports, when)
                chosen = rows[hit]
                answer[chosen] = via[hit]
                category[chosen] = compiled.endpoint.category
                detector[chosen] = Detector.ENDPOINT.value
                endpoint[chosen] = compiled.endpoint.name
                confidence[chosen] = high
                rows = rows[~hit]

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

    def match_host(self, name: str) -> HostMatch | None:
        """The catalog endpoint of a server name (TLS SNI, HTTP Host), case-insensitive: a
        host listed exactly or under a ``*.suffix`` pattern; the first endpoint wins."""
        name = name.strip().lower().rstrip(".")
        if not name:
            return None
        found = [self._hosts[name]] if name in self._hosts else []
        labels = name.split(".")
        found += [
            self._hosts[p]
            for p in ("*." + ".".join(labels[i:]) for i in range(1, len(labels)))
            if p in self._hosts
        ]
        if not found:
            return None
        rank, pattern = min(found)
        return HostMatch(self.endpoints[rank], pattern)

    def endpoint_for_host(self, host: str) -> Endpoint | None:
        """``match_host``'s endpoint (the pcap reader's TLS server names)."""
        found = self.match_host(host)
        return None if found is None else found.endpoint


def with_verdicts(result: ClassifiedBatch, records: pa.Table) -> tuple[ClassifiedBatch, pa.Array]:
    """Verdicts a reader found in the records themselves (pcap payloads: ``category``,
    ``detector``, ``confidence``, ``endpoint`` and ``facts`` columns, null category where none)
    come before catalog and port classification, as DESIGN.md orders the detectors. Only a
    pool's coin is the catalog's when the remote is a catalog endpoint of a coin: such rows get
    ``<coin>-pool``, the endpoint's name, and ``coin_from: endpoint`` in their facts (with the
    payload's own answer as ``payload_coin`` when it differed). Returns the combined result
    and the facts column, updated."""
    facts = records.column("facts").combine_chunks()
    given = np.asarray(records.column("category").is_valid().to_numpy(zero_copy_only=False), bool)
    if not given.any():
        return result, facts
    rows = np.flatnonzero(given)
    take = pa.array(rows)
    category, detector = result.category.copy(), result.detector.copy()
    confidence, endpoint = result.confidence.copy(), result.endpoint.copy()
    answer = result.answer.copy()
    answer[rows] = None  # the record's own verdict, not an endpoint's
    category[rows] = records.column("category").take(take).to_pylist()
    detector[rows] = records.column("detector").take(take).to_pylist()
    confidence[rows] = records.column("confidence").take(take).to_numpy()
    endpoint[rows] = records.column("endpoint").take(take).to_pylist()
    texts: list[str | None] | None = None
    for row in rows.tolist():
        catalog = result.category[row]
        coin = coin_of(catalog) if result.detector[row] == Detector.ENDPOINT else None
        if coin is None or category[row] not in POOLS:
            continue
        if texts is None:
            texts = facts.to_pylist()
        stated = json.loads(texts[row] or "{}")
        if coin_of(str(category[row])) not in (None, coin):
            stated["payload_coin"] = coin_of(str(category[row]))
        stated["coin_from"] = "endpoint"
        texts[row] = json.dumps(stated, ensure_ascii=False, sort_keys=True)
        category[row] = pool_category(coin)
        confidence[row] = coins.CONFIDENCE["endpoint"]
        endpoint[row] = result.endpoint[row]
        answer[row] = result.answer[row]
    if texts is not None:
        facts = pa.array(texts, pa.string())
    return ClassifiedBatch(category, detector, confidence, endpoint, answer), facts
